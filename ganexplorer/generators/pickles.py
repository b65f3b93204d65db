"""Reading the official StyleGAN2-ADA ``.pkl`` as data, without running any of its code.

The official pickles hold ``torch_utils.persistence`` objects: each one names the *source code* of its module
and asks the loader to ``exec`` it. A plain ``pickle.load`` would therefore run whatever a downloaded file says.
Here a restricted unpickler rebuilds only tensors, storages, containers and numpy scalars; the network classes
become inert records (class name + state, the source kept as a string that is never executed), and any other
global (``os.system``, ``builtins.eval``, ...) stops the load before anything runs.
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Namespaces of the StyleGAN code base: their classes are recorded by name, never imported.
STYLEGAN_NAMESPACES = ("torch_utils", "dnnlib", "training", "metrics", "legacy")


class PickledObject:
    """An inert stand-in for a class of the StyleGAN code base: keeps what the pickle gave it, runs nothing."""

    qualname = "object"

    def __new__(cls, *args: Any, **kwargs: Any):
        obj = super().__new__(cls)
        obj.args, obj.state, obj.items = args, None, {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.items[len(self.items)] = value

    def extend(self, values: Any) -> None:
        for value in values:
            self.append(value)

    def __repr__(self) -> str:
        return f"<pickled {self.qualname}>"


class EasyDict(dict):
    """``dnnlib.util.EasyDict`` as a plain dict with attribute access (it holds config values only)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class PersistentObject:
    """A ``torch_utils.persistence`` object: its class name, its state (the module ``__dict__``) and the module
    source as inert text. ``module_src`` is never executed."""

    def __init__(self, meta: Any):
        meta = dict(meta) if isinstance(meta, dict) else {}
        self.type = meta.get("type")
        self.version = meta.get("version")
        self.class_name = str(meta.get("class_name"))
        self.module_src = meta.get("module_src") if isinstance(meta.get("module_src"), str) else ""
        state = meta.get("state")
        self.state = dict(state) if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"<persistent {self.class_name}>"

    @property
    def children(self) -> dict[str, Any]:
        """Sub-modules, as in ``nn.Module._modules``."""
        return dict(self.state.get("_modules") or {})

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """The state dict (parameters and buffers of this object and its children), as ``nn.Module`` names it."""
        out: dict[str, torch.Tensor] = {}
        for group in ("_parameters", "_buffers"):
            for name, value in (self.state.get(group) or {}).items():
                if isinstance(value, torch.Tensor):
                    out[prefix + name] = value
        for name, child in self.children.items():
            if isinstance(child, PersistentObject):
                out.update(child.tensors(f"{prefix}{name}."))
        return out


def _inert_class(module: str, name: str) -> type:
    if name == "EasyDict":
        return EasyDict
    return type(name, (PickledObject,), {"qualname": f"{module}.{name}"})


def _load_from_bytes(data: bytes) -> Any:
    """A storage saved with the legacy ``torch.save``: loaded as weights only."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError("a storage in the pickle is not stored as bytes")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _storage(value: Any) -> Any:
    if not isinstance(value, (torch.TypedStorage, torch.UntypedStorage)):
        raise ValueError(f"a tensor in the pickle is built from a {type(value).__name__}, not a storage")
    return value


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    return torch._utils._rebuild_tensor_v2(_storage(storage), int(offset), tuple(size), tuple(stride),
                                           bool(requires_grad), collections.OrderedDict())


def _rebuild_parameter(data, requires_grad=True, hooks=None, state=None):
    if not isinstance(data, torch.Tensor):
        raise ValueError("a parameter in the pickle does not hold a tensor")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _rebuild_from_type_v2(func, new_type, args, state):
    if func is not _rebuild_tensor_v2 or new_type not in (torch.Tensor, torch.nn.Parameter):
        raise ValueError("the pickle rebuilds a tensor subclass, which is not supported")
    tensor = func(*args)
    return torch.nn.Parameter(tensor) if new_type is torch.nn.Parameter else tensor


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise ValueError("the pickle holds a numpy scalar of object type")
    return np.frombuffer(data, dtype=dtype)[0]


def _numpy_reconstruct(cls: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise ValueError("the pickle rebuilds a numpy array subclass")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    if not (isinstance(cls, type) and issubclass(cls, (PickledObject, EasyDict)) and base in (object, dict)):
        raise ValueError(f"the pickle rebuilds {getattr(cls, '__name__', cls)!r} through copyreg")
    obj = cls.__new__(cls)
    if base is dict and isinstance(state, dict):
        obj.update(state)
    return obj


def _encode(text: Any, encoding: str = "latin1") -> bytes:
    """Protocols 0-2 store bytes as ``_codecs.encode(text, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ValueError("the pickle encodes bytes in an unexpected way")
    return text.encode("latin1")


_SAFE = {
    ("_codecs", "encode"): _encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "object"): object,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("torch", "Tensor"): torch.Tensor,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    ("torch", "Size"): torch.Size,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentObject,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in ``_SAFE`` and inert StyleGAN classes; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        # protocols 0-2 name Python 2 modules (__builtin__.set, copy_reg._reconstructor)
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _SAFE:
            return _SAFE[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module.split(".")[0] in STYLEGAN_NAMESPACES and name.isidentifier():
            return _inert_class(module, name)
        raise ValueError(f"refused: the pickle asks for {module}.{name}, which could run code; only tensors, "
                         "containers and StyleGAN's network records are rebuilt from a .pkl")

    def persistent_load(self, pid: Any) -> Any:
        raise ValueError("the pickle refers to external objects (persistent ids): it is not a plain network .pkl")


def load_pickle(path: str | Path) -> Any:
    """What a ``.pkl`` holds, rebuilt as data (ValueError if it is damaged or asks for anything that runs code).

    A zip file with a ``.pkl`` name (a ``torch.save`` output) is read as weights only.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as exc:
            raise ValueError(f"{path} is a torch file that holds more than tensors, or is damaged "
                             f"({str(exc).splitlines()[0]})") from None
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f).load()
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, IndexError, KeyError, TypeError, RuntimeError,
            MemoryError, UnicodeDecodeError, OverflowError) as exc:
        raise ValueError(f"{path} is not a readable pickle, or is damaged ({type(exc).__name__}: {exc})") from None

