"""Reading the official StyleGAN2-ADA ``.pkl`` as data, without running any of its code.

The official pickles hold ``torch_utils.persistence`` objects: each one names the *source code* of its module
and asks the loader to ``exec`` it. A plain ``pickle.load`` would therefore run whatever a downloaded file says.
Here a restricted unpickler rebuilds only tensors, storages, containers and numpy scalars; the network classes
become inert records (class name + state, the source kept as a string that is never executed), and any other
global (``os.system``, ``builtins.eval``, ...) stops the load before anything runs.

Data can attack too, so the unpickler (the pure-Python one, so each opcode can be checked) also

- builds state (the BUILD opcode) only into objects that a call in this same pickle created: never into a class,
  function or module it named, which would change them for the rest of the process;
- refuses allocations out of proportion to the file: a declared length past the end of the file, ``bytearray(n)``,
  ``torch.Tensor(n)`` or ``numpy.ndarray(shape)`` called directly, a legacy storage declaring more elements than
  its bytes hold, and a tensor whose offset, sizes and strides reach past its storage (which would grow it).
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import math
import pickle
import struct
import types
import warnings
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


class _LegacyScan(pickle._Unpickler):
    """Reads the small pickles at the head of a legacy ``torch.save`` file, to check what they declare before
    torch allocates it: storage types only, persistent ids collected."""

    def __init__(self, file: Any):
        super().__init__(file)
        self.pids: list[Any] = []

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name.endswith("Storage") and isinstance(getattr(torch, name, None), type):
            return getattr(torch, name)
        raise ValueError(f"refused: a storage in the pickle asks for {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        self.pids.append(pid)


def _load_from_bytes(data: bytes) -> Any:
    """A storage saved with the legacy ``torch.save`` (as the official pickles hold them): loaded as weights only,
    after checking that it declares no more elements than its bytes hold."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError("a storage in the pickle is not stored as bytes")
    if zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError("a storage in the pickle is a zip file, not the legacy format official pickles use")
    f = io.BytesIO(data)
    try:
        for _ in range(3):  # magic number, protocol version, system info
            _LegacyScan(f).load()
        scan = _LegacyScan(f)
        scan.load()
    except (pickle.UnpicklingError, EOFError, AttributeError, IndexError, KeyError, TypeError) as exc:
        raise ValueError(f"a storage in the pickle is damaged ({type(exc).__name__}: {exc})") from None
    for pid in scan.pids:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise ValueError("a storage in the pickle has an unexpected layout")
        kind, numel = pid[1], pid[4]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # TypedStorage is deprecated
            dtype = getattr(kind, "dtype", None)
        if not isinstance(dtype, torch.dtype) or not _whole(numel):
            raise ValueError("a storage in the pickle has an unexpected layout")
        nbytes = numel * torch.empty(0, dtype=dtype).element_size()
        if nbytes > len(data):
            raise ValueError(f"a storage in the pickle declares {numel} elements ({nbytes} bytes) but holds "
                             f"{len(data)} bytes: refused before allocating it")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _whole(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _storage(value: Any) -> Any:
    if not isinstance(value, torch.TypedStorage):
        raise ValueError(f"a tensor in the pickle is built from a {type(value).__name__}, not a storage")
    return value


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    storage = _storage(storage)
    size, stride = tuple(size), tuple(stride)
    if not (_whole(offset) and len(size) == len(stride) <= 64 and all(map(_whole, size + stride))):
        raise ValueError(f"a tensor in the pickle has an invalid layout (offset {offset!r}, size {size!r}, "
                         f"stride {stride!r})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        numel = storage.size()
    reach = offset + (sum((n - 1) * st for n, st in zip(size, stride)) + 1 if math.prod(size) else 0)
    if reach > numel:
        raise ValueError(f"a tensor in the pickle reaches element {reach} of a storage of {numel} elements "
                         f"(offset {offset}, size {size}, stride {stride}): refused, it would grow the storage")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, bool(requires_grad),
                                           collections.OrderedDict())


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
    """numpy pickles an array as an empty (0,) array whose data the BUILD state then sets (checked by numpy
    against the bytes it holds); any other shape would allocate what the file does not hold."""
    if cls is not np.ndarray:
        raise ValueError("the pickle rebuilds a numpy array subclass")
    if tuple(shape) != (0,) or not isinstance(dtype_code, (bytes, str)) or len(dtype_code) > 8:
        raise ValueError(f"the pickle builds a numpy array of shape {shape!r} directly: refused")
    return np.ndarray.__new__(np.ndarray, (0,), dtype_code)


def _dtype(obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """``numpy.dtype`` of a type code, always a fresh copy (its BUILD state must not change numpy's own)."""
    if not isinstance(obj, str) or len(obj) > 8:
        raise ValueError(f"the pickle builds a numpy dtype from {type(obj).__name__}: only type codes are read")
    return np.dtype(obj, align=bool(align), copy=True)


def _bytearray(source: Any = b"", encoding: Any = None) -> bytearray:
    """``bytearray`` of the bytes (or latin-1 text) the pickle holds; never ``bytearray(n)``."""
    if isinstance(source, (bytes, bytearray)) and encoding is None:
        return bytearray(source)
    if isinstance(source, str) and encoding in ("latin1", "latin-1"):
        return bytearray(source, "latin1")
    raise ValueError(f"the pickle calls bytearray({type(source).__name__}): only bytes it holds are read")


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
    ("builtins", "bytearray"): _bytearray,
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
    ("numpy", "dtype"): _dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentObject,
}


# classes the pickle may name but never call: calling them allocates what the file does not hold
_NEVER_CALLED = (torch.Tensor, torch.nn.Parameter, np.ndarray)
# classes NEWOBJ may instantiate (``cls.__new__(cls, *args)``): containers and the inert records
_NEWOBJ_CLASSES = (object, dict, list, set, frozenset, tuple, collections.OrderedDict, EasyDict, complex, torch.Size)
_NOT_BUILT = (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType)


class _Bounded:
    """The file, read so that no length the pickle declares can reach past its end."""

    def __init__(self, file: Any, size: int):
        self.file, self.size = file, size

    def left(self) -> int:
        return self.size - self.file.tell()

    def read(self, n: int = -1) -> bytes:
        if n is not None and n > self.left():
            raise ValueError(f"the pickle declares {n} bytes at offset {self.file.tell()}, but the file has only "
                             f"{max(0, self.left())} left: refused before allocating them")
        return self.file.read(n)

    def readline(self) -> bytes:
        return self.file.readline()


class _RestrictedUnpickler(pickle._Unpickler):
    """Resolves only the globals in ``_SAFE`` and inert StyleGAN classes; anything else is refused. Calls and
    BUILDs are checked opcode by opcode (the pure-Python unpickler, so each one can be)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: Any, size: int):
        super().__init__(_Bounded(file, size))
        self._limit = size
        self._made: dict[int, Any] = {}  # objects a call in this pickle created (kept alive so ids stay unique)

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

    def _created(self, obj: Any) -> Any:
        self._made[id(obj)] = obj
        return obj

    @staticmethod
    def _check_call(func: Any) -> None:
        if any(func is c for c in _NEVER_CALLED):
            raise ValueError(f"refused: the pickle calls {func.__module__}.{func.__name__}(...) directly, which "
                             "allocates memory the file does not hold; tensors are rebuilt from stored data only")

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        self._check_call(func)
        if not isinstance(args, tuple):
            raise ValueError("the pickle calls a function without an argument tuple")
        self.stack[-1] = self._created(func(*args))

    def _new(self, cls: Any, args: Any, kwargs: Any) -> Any:
        if not (any(cls is c for c in _NEWOBJ_CLASSES) or (isinstance(cls, type) and issubclass(cls, PickledObject))):
            raise ValueError(f"refused: the pickle instantiates {getattr(cls, '__name__', type(cls).__name__)} "
                             "through __new__; only containers and StyleGAN's records are")
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise ValueError("the pickle instantiates a class with invalid arguments")
        return self._created(cls.__new__(cls, *args, **kwargs))

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def _instantiate(self, klass: Any, args: Any) -> None:  # the INST and OBJ opcodes
        self._check_call(klass)
        self.append(self._created(klass(*args)))

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, _NOT_BUILT) or self._made.get(id(inst)) is not inst:
            what = getattr(inst, "__qualname__", None) or type(inst).__name__
            raise ValueError(f"refused: the pickle sets attributes on {what}, which it did not create (on a class "
                             "or function that would change it for the rest of the process)")
        setstate = getattr(inst, "__setstate__", None)
        if setstate is not None:
            setstate(state)
            return
        slotstate = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slotstate = state
        for part in (state, slotstate):
            if not part:
                continue
            if not isinstance(part, dict) or not all(isinstance(k, str) and not k.startswith("__") for k in part):
                raise ValueError("the pickle sets an object's state with keys that are not plain attribute names")
            for k, v in part.items():
                setattr(inst, k, v)

    def load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        if n > self._limit:
            raise ValueError(f"the pickle declares a bytearray of {n} bytes in a file of {self._limit}: refused")
        b = bytearray(n)
        self.readinto(b)
        self.append(b)

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


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
            return _RestrictedUnpickler(f, path.stat().st_size).load()
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, IndexError, KeyError, TypeError, RuntimeError,
            MemoryError, UnicodeDecodeError, OverflowError, RecursionError, struct.error) as exc:
        raise ValueError(f"{path} is not a readable pickle, or is damaged ({type(exc).__name__}: {exc})") from None

