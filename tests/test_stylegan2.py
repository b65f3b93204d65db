"""StyleGAN2 family: tiny random checkpoints written in the two real layouts by independent test-side writers.

The official .pkl is written the way stylegan2-ada-pytorch writes it: every network module pickles as a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` (meta holds the module source and the module
``__dict__``), tensors through torch's own pickling. A fake ``torch_utils`` module is installed only while
writing; loading must never need it.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import pickle
import sys
import types
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganexplorer import Generator, sefa
from ganexplorer.generators.checkpoints import load_family
from ganexplorer.generators.stylegan2 import StyleGAN2Generator

RES, D, N_MLP = 32, 32, 2
CHANNELS = {4: 16, 8: 16, 16: 12, 32: 8}
NUM_WS = 8
FILTER = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64
MODULE_SRC = "import torch\n# stylegan2-ada-pytorch training/networks.py would be here; it must never run\n"


# ---- the official writer ------------------------------------------------------------------------------------------

def _install_fake_stylegan_modules(monkeypatch):
    """torch_utils.persistence._reconstruct_persistent_obj and dnnlib.util.EasyDict, so pickle names them."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("the loader must not call the pickle's own reconstruct function")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    easydict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    util.EasyDict = easydict
    for name, mod in {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                      "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return _reconstruct_persistent_obj, easydict


class _Persistent(nn.Module):
    """Pickles like a @persistence.persistent_class module: (reconstruct, (meta,)) with meta['state'] = __dict__."""

    reconstruct = None

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=MODULE_SRC, class_name=type(self).__name__,
                    state=dict(self.__dict__))
        return (type(self).reconstruct, (meta,), None)


def _module(name: str, params: dict, buffers: dict | None = None, modules: dict | None = None, **attrs):
    cls = type(name, (_Persistent,), {})
    m = cls()
    for k, v in (modules or {}).items():
        setattr(m, k, v)
    for k, v in params.items():
        m.register_parameter(k, nn.Parameter(v, requires_grad=False))
    for k, v in (buffers or {}).items():
        m.register_buffer(k, v)
    m._init_args, m._init_kwargs = (), {}
    for k, v in attrs.items():
        setattr(m, k, v)
    return m


def official_state(seed: int = 0, n_mlp: int = N_MLP, channels: dict[int, int] | None = None,
                   mapping_scales: tuple[float, float] = (100.0, 0.1)) -> dict[str, torch.Tensor]:
    """Random G_ema tensors under the official names and shapes: ``n_mlp`` mapping layers with weights and biases
    of the given scales, a synthesis network with ``channels`` per resolution (default ``CHANNELS``)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return torch.randn(shape, generator=g) * scale

    s = {}
    for i in range(n_mlp):
        s[f"mapping.fc{i}.weight"], s[f"mapping.fc{i}.bias"] = r(D, D, scale=mapping_scales[0]), \
            r(D, scale=mapping_scales[1])
    channels = CHANNELS if channels is None else channels
    s["mapping.w_avg"] = r(D)
    s["synthesis.b4.const"] = r(channels[4], 4, 4)
    prev = None
    for res, ch in channels.items():
        for conv, c_in in (("conv0", prev), ("conv1", ch)):
            if c_in is None:
                continue
            p = f"synthesis.b{res}.{conv}."
            s[p + "weight"], s[p + "bias"] = r(ch, c_in, 3, 3), r(ch, scale=0.1)
            s[p + "noise_strength"], s[p + "noise_const"] = r(scale=0.1), r(res, res)
            s[p + "affine.weight"], s[p + "affine.bias"] = r(c_in, D), 1 + r(c_in, scale=0.1)
            s[p + "resample_filter"] = FILTER.clone()
        p = f"synthesis.b{res}.torgb."
        s[p + "weight"], s[p + "bias"] = r(3, ch, 1, 1), r(3, scale=0.1)
        s[p + "affine.weight"], s[p + "affine.bias"] = r(ch, D), 1 + r(ch, scale=0.1)
        s[f"synthesis.b{res}.resample_filter"] = FILTER.clone()
        prev = ch
    return s


def write_official_pkl(path, s, monkeypatch, c_dim: int = 0, conv_clamp=256, architecture="skip") -> None:
    """G_ema (and G, D, augment_pipe) as persistent objects, pickled exactly as the official training loop."""
    reconstruct, easydict = _install_fake_stylegan_modules(monkeypatch)
    _Persistent.reconstruct = staticmethod(reconstruct)

    def fc(prefix, lr):
        return _module("FullyConnectedLayer", {"weight": s[prefix + "weight"], "bias": s[prefix + "bias"]},
                       activation="lrelu" if lr != 1 else "linear", weight_gain=np.float64(lr / np.sqrt(D)),
                       bias_gain=lr)

    def layer(prefix, res, up):
        return _module("SynthesisLayer", {k: s[prefix + k] for k in ("weight", "noise_strength", "bias")},
                       {k: s[prefix + k] for k in ("resample_filter", "noise_const")},
                       {"affine": fc(prefix + "affine.", 1)}, resolution=res, up=up, use_noise=True,
                       activation="lrelu", conv_clamp=conv_clamp, padding=1, act_gain=np.sqrt(2))

    def blocks():
        blocks = OrderedDict()
        for res in CHANNELS:
            p = f"synthesis.b{res}."
            mods = OrderedDict() if res == 4 else OrderedDict(conv0=layer(p + "conv0.", res, 2))
            mods["conv1"] = layer(p + "conv1.", res, 1)
            mods["torgb"] = _module("ToRGBLayer", {k: s[p + "torgb." + k] for k in ("weight", "bias")}, {},
                                    {"affine": fc(p + "torgb.affine.", 1)}, conv_clamp=conv_clamp,
                                    weight_gain=np.float64(1 / np.sqrt(CHANNELS[res])))
            params = {"const": s[p + "const"]} if res == 4 else {}
            blocks[f"b{res}"] = _module("SynthesisBlock", params, {"resample_filter": s[p + "resample_filter"]},
                                        mods, in_channels=0 if res == 4 else CHANNELS[res // 2],
                                        architecture=architecture, resolution=res, is_last=res == RES,
                                        num_conv=1 if res == 4 else 2, num_torgb=1)
        return blocks

    def generator():
        return _module("Generator", {}, {}, {"synthesis": synthesis(), "mapping": mapping()}, z_dim=D, c_dim=c_dim,
                       w_dim=D, img_resolution=RES, img_channels=3, num_ws=NUM_WS, _init_kwargs=init_kwargs)

    def mapping():
        return _module("MappingNetwork", {}, {"w_avg": s["mapping.w_avg"]},
                       {f"fc{i}": fc(f"mapping.fc{i}.", 0.01) for i in range(N_MLP)}, z_dim=D, c_dim=c_dim, w_dim=D,
                       num_ws=NUM_WS, num_layers=N_MLP, w_avg_beta=0.995)

    def synthesis():
        return _module("SynthesisNetwork", {}, {}, blocks(), w_dim=D, img_resolution=RES, num_ws=NUM_WS,
                       block_resolutions=list(CHANNELS))

    init_kwargs = {"z_dim": D, "c_dim": c_dim, "w_dim": D, "img_resolution": RES, "img_channels": 3,
                   "mapping_kwargs": easydict(num_layers=N_MLP),
                   "synthesis_kwargs": easydict(channel_base=256, channel_max=16, conv_clamp=conv_clamp)}
    D_net = _module("Discriminator", {"w": torch.randn(4, 3)}, {}, {}, c_dim=c_dim)
    augment = _module("AugmentPipe", {}, {"p": torch.zeros([])}, {}, xflip=1)
    data = dict(G=generator(), D=D_net, G_ema=generator(), augment_pipe=augment,
                training_set_kwargs=easydict(resolution=RES, use_labels=False))
    with open(path, "wb") as f:
        pickle.dump(data, f)


# ---- the port (rosinality) writer ---------------------------------------------------------------------------------

def port_state(s: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same weights under the port's names (the official -> port correspondence of the conversion scripts)."""
    g = {}
    for i in range(N_MLP):
        g[f"style.{i + 1}.weight"], g[f"style.{i + 1}.bias"] = s[f"mapping.fc{i}.weight"], s[f"mapping.fc{i}.bias"]
    g["input.input"] = s["synthesis.b4.const"][None]

    def conv(dst, src):
        g[dst + "conv.weight"] = s[src + "weight"][None]
        g[dst + "conv.modulation.weight"], g[dst + "conv.modulation.bias"] = s[src + "affine.weight"], \
            s[src + "affine.bias"]
        g[dst + "noise.weight"] = s[src + "noise_strength"][None]
        g[dst + "activate.bias"] = s[src + "bias"]

    def rgb(dst, src):
        g[dst + "conv.weight"] = s[src + "weight"][None]
        g[dst + "conv.modulation.weight"], g[dst + "conv.modulation.bias"] = s[src + "affine.weight"], \
            s[src + "affine.bias"]
        g[dst + "bias"] = s[src + "bias"][None, :, None, None]

    conv("conv1.", "synthesis.b4.conv1.")
    rgb("to_rgb1.", "synthesis.b4.torgb.")
    g["noises.noise_0"] = s["synthesis.b4.conv1.noise_const"][None, None]
    for i, res in enumerate(list(CHANNELS)[1:], start=1):
        for k in range(2):
            conv(f"convs.{2 * i - 2 + k}.", f"synthesis.b{res}.conv{k}.")
            g[f"noises.noise_{2 * i - 1 + k}"] = s[f"synthesis.b{res}.conv{k}.noise_const"][None, None]
        g[f"convs.{2 * i - 2}.conv.blur.kernel"] = 4 * FILTER
        rgb(f"to_rgbs.{i - 1}.", f"synthesis.b{res}.torgb.")
        g[f"to_rgbs.{i - 1}.upsample.kernel"] = 4 * FILTER
    return {k: v.clone() for k, v in g.items()}


def write_port_pt(path, g: dict, latent_avg: torch.Tensor | None = None) -> None:
    """A training checkpoint of the port: g, d, g_ema, optimisers, argparse args (or a converted one)."""
    if latent_avg is not None:
        torch.save({"g_ema": g, "latent_avg": latent_avg}, path)
        return
    args = argparse.Namespace(size=RES, latent=D, n_mlp=N_MLP, channel_multiplier=2, iter=800000, r1=10.0)
    torch.save({"g": copy.deepcopy(g), "d": {"convs.0.0.weight": torch.randn(4, 3, 1, 1)}, "g_ema": g,
                "g_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0]}]},
                "d_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0]}]},
                "args": args, "ada_aug_p": 0.0}, path)


# ---- fixtures -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def weights():
    return official_state()


@pytest.fixture
def pkl(tmp_path, weights, monkeypatch):
    path = tmp_path / "network-snapshot-000100.pkl"
    write_official_pkl(path, weights, monkeypatch)
    for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"):
        monkeypatch.delitem(sys.modules, name)  # loading must work without the StyleGAN code base
    return path


@pytest.fixture
def pt(tmp_path, weights):
    path = tmp_path / "550000.pt"
    write_port_pt(path, port_state(weights))
    return path


def _render(module, latents):
    return Generator(module, device="cpu").render(latents)


# ---- tests --------------------------------------------------------------------------------------------------------

def test_official_pkl_loads_and_renders(pkl):
    module, info = load_family(pkl)
    assert info["family"] == "stylegan2" and info["format"] == "stylegan2-ada-pytorch .pkl"
    assert (info["resolution"], info["latent_dim"], info["num_layers"], info["n_mlp"]) == (RES, D, NUM_WS, N_MLP)
    assert info["channels"] == list(CHANNELS.values()) and info["conv_clamp"] == 256.0
    G = Generator(module, device="cpu")
    assert G.num_layers == NUM_WS
    z = G.sample_latents(3, seed=1)
    images = G.render(z)
    assert images.shape == (3, 3, RES, RES) and torch.isfinite(images).all()
    assert torch.equal(images, G.render(z))  # fixed noise: deterministic
    assert torch.allclose(images[1:2], G.render(z[1:2]), atol=1e-5)  # batch-independent
    assert G.render_uint8(z).shape == (3, RES, RES, 3)
    w = z.clone().requires_grad_(True)
    module(w).square().mean().backward()  # differentiable w.r.t. the latents
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_same_weights_in_both_layouts_render_the_same(pkl, pt, weights):
    official, _ = load_family(pkl, family="stylegan2")
    port, info = load_family(pt)
    assert info["format"].startswith("rosinality") and info["size"] == RES
    assert info["w_avg"].startswith("mean of the mapping")
    official.conv_clamp = None  # the port never clamps; 256 is never reached here anyway
    w = torch.randn(4, NUM_WS, D, generator=torch.Generator().manual_seed(3))
    a, b = _render(official, w), _render(port, w)
    assert a.abs().max() > 0.05 and torch.allclose(a, b, atol=1e-4)
    z = torch.randn(4, D, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(official.map(z), port.map(z), atol=1e-4)


def test_official_state_dict_as_pt(tmp_path, pkl, weights):
    path = tmp_path / "G_ema.pt"
    torch.save(weights, path)
    with pytest.warns(UserWarning, match="conv_clamp is not stored in a stylegan2-ada-pytorch state dict: "
                                         "rendering without clamping.*load it with conv_clamp=256"):
        module, info = load_family(path)
    assert info["format"] == "stylegan2-ada-pytorch state dict" and info["conv_clamp"] is None
    assert "conv_clamp=256" in info["conv_clamp_note"]
    reference, _ = load_family(pkl, conv_clamp=None)
    w = torch.randn(2, D)
    assert torch.allclose(_render(module, w), _render(reference, w), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # saying the clamp silences the warning
        clamped, info = load_family(path, conv_clamp=256)
    assert info["conv_clamp"] == 256.0 and "conv_clamp_note" not in info
    official, _ = load_family(pkl)
    assert torch.allclose(_render(clamped, w), _render(official, w), atol=1e-5)


def test_noise_mode_const_random_none(pkl, weights):
    w = torch.randn(2, D, generator=torch.Generator().manual_seed(8))
    const, info = load_family(pkl)
    assert info["noise_mode"] == "const" and const.noise_mode == "const"
    none, _ = load_family(pkl, noise_mode="none")
    random, _ = load_family(pkl, noise_mode="random")
    with torch.no_grad():
        a, b = const(w), const(w)
        assert torch.equal(a, b)  # const: the stored buffers, deterministic
        # none equals const with every noise strength zeroed
        for conv in const.convs:
            conv.noise_strength.data.zero_()
        torch.testing.assert_close(none(w), const(w))
        const.load_state_dict(none.state_dict())
        r1, r2 = random(w), random(w)
        assert not torch.allclose(r1, r2)  # fresh noise per call
        torch.manual_seed(3)
        r3 = random(w)
        torch.manual_seed(3)
        assert torch.equal(r3, random(w))
        assert not torch.allclose(r1, a)
    none.noise_mode = "CONST"
    assert none.noise_mode == "const" and all(c.noise_mode == "const" for c in none.convs)
    with pytest.raises(ValueError, match="noise_mode must be one of const, random, none"):
        load_family(pkl, noise_mode="spatial")


def test_truncate_a_users_w_explicitly(pkl):
    module, _ = load_family(pkl, truncation=0.5)
    w = torch.randn(3, D)
    wp = torch.randn(3, NUM_WS, D)
    avg = module.w_avg
    torch.testing.assert_close(module.truncate(w), avg + 0.5 * (w - avg))  # psi defaults to the truncation
    torch.testing.assert_close(module.truncate(w, 0.7), avg + 0.7 * (w - avg))
    torch.testing.assert_close(module.truncate(wp, 0.7), avg + 0.7 * (wp - avg))  # W+ too
    assert torch.equal(module.truncate(w, 1.0), w)
    with torch.no_grad():  # a w given in space "w" is rendered as given: truncate it first to match upstream
        assert not torch.allclose(module(w), module(module.truncate(w)))
        gz, _ = load_family(pkl, space="z", truncation=0.5)
        z = torch.randn(2, D)
        torch.testing.assert_close(gz(z), module(module.truncate(module.map(z), 0.5)))


def test_estimated_mean_w_uses_a_fixed_seed(tmp_path, weights):
    s = {k: v for k, v in weights.items() if k != "mapping.w_avg"}
    path = tmp_path / "no_avg.pt"
    torch.save(s, path)
    with pytest.warns(UserWarning, match="conv_clamp"):
        a, info = load_family(path)
    assert info["w_avg"] == "mean of the mapping over 4096 z (seed 0)"
    with pytest.warns(UserWarning, match="conv_clamp"):
        b, _ = load_family(path)
    assert torch.equal(a.w_avg, b.w_avg)
    z = torch.randn(4096, D, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.w_avg, a.map(z).mean(0).detach())


def test_converted_port_checkpoint_uses_latent_avg(tmp_path, weights):
    path = tmp_path / "converted.pt"
    write_port_pt(path, port_state(weights), latent_avg=weights["mapping.w_avg"])
    module, info = load_family(path, family="stylegan2", truncation=0.5)
    assert info["w_avg"] == "the checkpoint's latent_avg" and info["truncation"] == 0.5
    assert torch.equal(module.w_avg, weights["mapping.w_avg"])


def test_wplus_layer_changes_only_its_modulations(pkl):
    module, _ = load_family(pkl)
    readers = {f"convs.{c}": c for c in range(len(module.convs))}
    readers.update({f"torgbs.{b}": 2 * b + 1 for b in range(len(module.torgbs))})
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in readers}
    hooks = [module.get_submodule(name).affine.register_forward_hook(
        lambda m, inp, out, name=name: seen[name].append(inp[0].clone())) for name in readers]
    ws = torch.randn(2, D).repeat(1, NUM_WS, 1).reshape(2, NUM_WS, D)
    for i in (0, 3, NUM_WS - 1):
        for v in seen.values():
            v.clear()
        moved = ws.clone()
        moved[:, i] += 1.0
        a, b = module(ws), module(moved)
        assert not torch.allclose(a, b)
        changed = {name for name, (x, y) in seen.items() if not torch.equal(x, y)}
        assert changed == {name for name, idx in readers.items() if idx == i}
    for h in hooks:
        h.remove()


def test_z_and_w_spaces_agree_and_truncation(pkl):
    gz, _ = load_family(pkl, space="z", truncation=0.7)
    gw, info = load_family(pkl, space="w+", truncation=0.7)
    assert info["space"] == "w"
    z = torch.randn(3, D, generator=torch.Generator().manual_seed(5))
    Gz, Gw = Generator(gz, device="cpu"), Generator(gw, device="cpu")
    assert torch.equal(Gz.latents_from_noise(z), z)
    assert torch.allclose(Gz.render(z), Gw.render(Gw.latents_from_noise(z)), atol=1e-5)
    per_layer = z[:, None].expand(-1, NUM_WS, -1)  # z per layer is mapped per layer
    assert torch.allclose(Gz.render(per_layer), Gz.render(z), atol=1e-5)

    g0, _ = load_family(pkl, space="z", truncation=0.0)
    avg_image = Generator(gw, device="cpu").render(gw.w_avg[None])
    images = Generator(g0, device="cpu").render(torch.randn(3, D))
    assert torch.allclose(images, avg_image.expand(3, -1, -1, -1), atol=1e-5)


def test_sefa_uses_the_style_weights_of_the_chosen_layers(pkl):
    module, _ = load_family(pkl)
    G = Generator(module, device="cpu")
    assert module.sefa_weight("0-1").shape == (2 * CHANNELS[4], D)  # conv w0 (b4.conv1), conv w1 (b8.conv0)
    n_all = CHANNELS[4] + sum(CHANNELS[r // 2] + c for r, c in CHANNELS.items() if r > 4) + CHANNELS[RES]
    assert module.sefa_weight("all").shape == (n_all, D)
    assert torch.equal(module.sefa_weight(str(NUM_WS - 1)), module.torgbs[-1].affine.weight)
    for layers in ("0-1", "all"):
        bank = sefa(G, layers=layers)
        assert bank.directions.shape == (D, D)
        assert torch.allclose(bank.directions.norm(dim=1), torch.ones(D), atol=1e-4)
        assert bank.scores == sorted(bank.scores, reverse=True)
    with pytest.raises(ValueError, match="layer"):
        module.sefa_weight(f"0-{NUM_WS}")
    gz, _ = load_family(pkl, space="z")
    with pytest.raises(ValueError, match="live in W.*space='w'"):
        sefa(Generator(gz, device="cpu"), layers="all")


def test_random_generator_for_benchmarks():
    from ganexplorer.generators.stylegan2 import StyleGAN2Generator, default_channels

    assert list(default_channels(1024).values()) == [512, 512, 512, 512, 512, 256, 128, 64, 32]
    g = StyleGAN2Generator(resolution=16, latent_dim=8, n_mlp=2, channels=4)
    assert g.num_layers == 6 and g(torch.randn(2, 8)).shape == (2, 3, 16, 16)


def test_malicious_pkl_is_refused_before_running(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Evil()}))
    with pytest.raises(ValueError, match=r"refused.*(os|posix)\.system"):
        load_family(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"G_ema": (eval, ("1+1",))}))
    with pytest.raises(ValueError, match="refused.*builtins.eval"):
        load_family(path, family="stylegan2")


def test_damaged_and_unsupported_files(pkl, tmp_path, weights, monkeypatch):
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(pkl.read_bytes()[: pkl.stat().st_size // 2])
    with pytest.raises(ValueError, match="damaged|not a readable"):
        load_family(cut)

    g = port_state(weights)
    del g["convs.1.conv.modulation.weight"]
    path = tmp_path / "missing.pt"
    write_port_pt(path, g)
    with pytest.raises(ValueError, match=r"convs\.1\.conv\.modulation\.weight"):
        load_family(path)

    g = port_state(weights)
    g["convs.2.conv.weight"] = g["convs.2.conv.weight"][:, :3]
    write_port_pt(path, g)
    with pytest.raises(ValueError, match=r"convs\.2\.conv\.weight.*shape"):
        load_family(path)

    cond = tmp_path / "cond.pkl"
    write_official_pkl(cond, weights, monkeypatch, c_dim=10)
    with pytest.raises(ValueError, match="conditional \\(class-label, c_dim > 0\\).*gx.Generator"):
        load_family(cond)

    resnet = tmp_path / "resnet.pkl"
    write_official_pkl(resnet, weights, monkeypatch, architecture="resnet")
    with pytest.raises(ValueError, match="'resnet' architecture"):
        load_family(resnet)

    sg3 = tmp_path / "sg3.pt"
    torch.save({"mapping.fc0.weight": torch.zeros(D, D), "synthesis.input.affine.weight": torch.zeros(4, D)}, sg3)
    with pytest.raises(ValueError, match="StyleGAN3 state dict.*only in the official .pkl"):
        load_family(sg3)

    with pytest.raises(TypeError, match="allowed are space, truncation, conv_clamp, noise_mode"):
        load_family(pkl, psi=0.5)


def _upfirdn(x, f, up=1, pad=(0, 0, 0, 0), gain=1.0):
    """Upsample by zero insertion, pad, then filter: the official resampling, written out plainly."""
    n, c, h, w = x.shape
    x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, list(pad))
    return F.conv2d(x, (f * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)


def _reference_forward(g, ws):
    """StyleGAN2 (config-e, skip G) with per-sample modulated weights, straight from the paper's equations."""
    k = torch.tensor([1.0, 3, 3, 1])
    f = torch.outer(k, k) / 64

    def modconv(x, weight, styles, up, demod, padding):
        n = x.shape[0]
        w = weight[None] * styles[:, None, :, None, None]
        if demod:
            w = w * (w.square().sum([2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
        out = []
        for s in range(n):
            if up:
                y = F.conv_transpose2d(x[s:s + 1], w[s].transpose(0, 1), stride=2)
                y = _upfirdn(y, f, pad=(1, 1, 1, 1), gain=4)
            else:
                y = F.conv2d(x[s:s + 1], w[s], padding=padding)
            out.append(y)
        return torch.cat(out)

    def fc(m, x):
        return x @ (m.weight * m.weight_gain).T + m.bias * m.lr_mul

    def layer(m, x, w, up):
        x = modconv(x, m.weight.reshape(m.weight.shape[-4:]), fc(m.affine, w), up, True, 1)
        x = x + m.noise_const.reshape(x.shape[-2:]) * m.noise_strength
        return F.leaky_relu(x + m.bias[None, :, None, None], 0.2) * 2 ** 0.5

    def torgb(m, x, w):
        weight = m.weight.reshape(m.weight.shape[-4:])
        return modconv(x, weight, fc(m.affine, w) * m.weight_gain, False, False, 0) + m.bias.reshape(1, -1, 1, 1)

    x, img = g.const.reshape(1, *g.const.shape[-3:]).repeat(len(ws), 1, 1, 1), None
    for b in range(len(g.torgbs)):
        if b == 0:
            x = layer(g.convs[0], x, ws[:, 0], False)
        else:
            x = layer(g.convs[2 * b], layer(g.convs[2 * b - 1], x, ws[:, 2 * b - 1], True), ws[:, 2 * b], False)
            img = _upfirdn(img, f, up=2, pad=(2, 1, 2, 1), gain=4)
        y = torgb(g.torgbs[b], x, ws[:, 2 * b + 1])
        img = y if img is None else img + y
    return img


def test_matches_a_plain_per_sample_forward_of_the_paper_maths():
    torch.manual_seed(0)
    g = StyleGAN2Generator(resolution=32, latent_dim=16, n_mlp=2, channels=[8, 8, 6, 4])
    for m in g.modules():
        if hasattr(m, "noise_strength"):
            m.noise_strength.data.fill_(0.3)
    ws = torch.randn(3, g.num_layers, 16)
    with torch.no_grad():
        expected = _reference_forward(g, ws)
        assert (g(ws) - expected).abs().max() < 1e-4 * expected.abs().max()
        assert (g(ws[:1]) - expected[:1]).abs().max() < 1e-4 * expected.abs().max()  # the batch-1 path
    wg = ws.clone().requires_grad_(True)
    out = g(wg)  # the differentiable path
    out.sum().backward()
    assert (out.detach() - expected).abs().max() < 1e-4 * expected.abs().max() and wg.grad.abs().sum() > 0


# ---- StyleGAN3 (-T, -R) from the official .pkl ----------------------------------------------------------------------

SG3_RES, SG3_LAYERS, SG3_CRITICAL, SG3_MARGIN = 16, 4, 2, 2


def sg3_config(radial: bool):
    """Per-layer settings by the StyleGAN3 paper's recipe (geometric cutoffs and stopbands, sampling rates, sizes
    with margin, padding for the symmetric interpretation), a tiny 16 x 16 network with 4 layers + to-RGB."""
    from scipy import signal

    last_cutoff = SG3_RES / 2
    exps = np.minimum(np.arange(SG3_LAYERS + 1) / (SG3_LAYERS - SG3_CRITICAL), 1)
    cutoffs = 2 * (last_cutoff / 2) ** exps
    stopbands = 2 ** 2.1 * (last_cutoff * 2 ** 0.3 / 2 ** 2.1) ** exps
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, SG3_RES))))
    halfw = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + 2 * SG3_MARGIN
    sizes[-2:] = SG3_RES
    channels = [6, 6, 5, 4, 3]
    kernel = 1 if radial else 3
    layers = []
    for i in range(SG3_LAYERS + 1):
        p = max(i - 1, 0)
        torgb, critical = i == SG3_LAYERS, i >= SG3_LAYERS - SG3_CRITICAL
        tmp = max(rates[p], rates[i]) * (1 if torgb else 2)
        up, down = int(round(tmp / rates[p])), int(round(tmp / rates[i]))
        k = 1 if torgb else kernel
        up_taps = 6 * up if up > 1 and not torgb else 1
        down_taps = 6 * down if down > 1 and not torgb else 1
        fu = torch.tensor(signal.firwin(up_taps, cutoffs[p], width=halfw[p] * 2, fs=tmp), dtype=torch.float32) \
            if up_taps > 1 else None
        fd = None
        if down_taps > 1:
            fd = torch.tensor(signal.firwin(down_taps, cutoffs[i], width=halfw[i] * 2, fs=tmp), dtype=torch.float32)
            if radial and not critical:  # -R: a windowed jinc, radially symmetric and not separable
                from scipy import special

                x = (np.arange(down_taps) - (down_taps - 1) / 2) / tmp
                rr = np.hypot(*np.meshgrid(x, x))
                with np.errstate(invalid="ignore", divide="ignore"):
                    jinc = np.where(rr > 0, special.j1(2 * np.pi * cutoffs[i] * rr) / (np.pi * rr), cutoffs[i])
                window = np.kaiser(down_taps, 4.0)
                fd = jinc * np.outer(window, window)
                fd = torch.tensor(fd / fd.sum(), dtype=torch.float32)
                assert torch.linalg.matrix_rank(fd.double()) > 1  # not an outer product
        pad_total = (sizes[i] - 1) * down + 1 - (sizes[p] + k - 1) * up + up_taps + down_taps - 2
        lo = int((pad_total + up) // 2)
        hi = int(pad_total - lo)
        layers.append(dict(name=f"L{i}_{int(sizes[i])}_{channels[i]}", cin=channels[p], cout=channels[i], k=k,
                           torgb=torgb, up=up, down=down, padding=[lo, hi, lo, hi], fu=fu, fd=fd))
    return dict(input_size=int(sizes[0]), input_rate=float(rates[0]), bandwidth=float(cutoffs[0]),
                channels=channels, layers=layers)


def write_sg3_pkl(path, monkeypatch, radial=False, seed=0, conv_clamp=256, c_dim=0):
    """A stylegan3 training snapshot (G, D, G_ema, ...) with tiny random weights, pickled as the official code."""
    reconstruct, easydict = _install_fake_stylegan_modules(monkeypatch)
    _Persistent.reconstruct = staticmethod(reconstruct)
    cfg = sg3_config(radial)
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return torch.randn(shape, generator=g) * scale

    def fc(cin, cout, lr, bias_init=0.0, activation="linear"):
        params = {"weight": r(cout, cin, scale=1 / lr), "bias": bias_init + r(cout, scale=0.1)}
        return _module("FullyConnectedLayer", params,
                       in_features=cin, out_features=cout, activation=activation,
                       weight_gain=np.float64(lr / np.sqrt(cin)), bias_gain=lr)

    mapping = _module("MappingNetwork", {}, {"w_avg": r(D)},
                      {f"fc{i}": fc(D, D, 0.01, activation="lrelu") for i in range(2)}, z_dim=D, c_dim=0, w_dim=D,
                      num_ws=SG3_LAYERS + 2, num_layers=2, w_avg_beta=0.998)
    c0 = cfg["channels"][0]
    freqs = r(c0, 2)
    freqs = freqs / (freqs.norm(dim=1, keepdim=True) * freqs.norm(dim=1, keepdim=True).square().exp() ** 0.25)
    inp = _module("SynthesisInput", {"weight": r(c0, c0)},
                  {"transform": torch.eye(3) + r(3, 3, scale=0.05), "freqs": freqs * cfg["bandwidth"],
                   "phases": torch.rand(c0, generator=g) - 0.5},
                  {"affine": fc(D, 4, 1.0)}, w_dim=D, channels=c0,
                  size=np.broadcast_to(np.asarray(cfg["input_size"]), [2]), sampling_rate=cfg["input_rate"],
                  bandwidth=cfg["bandwidth"])
    layers = OrderedDict()
    for spec in cfg["layers"]:
        buffers = {"magnitude_ema": torch.tensor(0.5) + torch.rand([], generator=g)}
        if spec["fu"] is not None:
            buffers["up_filter"] = spec["fu"]
        if spec["fd"] is not None:
            buffers["down_filter"] = spec["fd"]
        layers[spec["name"]] = _module(
            "SynthesisLayer", {"weight": r(spec["cout"], spec["cin"], spec["k"], spec["k"]),
                               "bias": r(spec["cout"], scale=0.1)}, buffers,
            {"affine": fc(D, spec["cin"], 1.0, bias_init=1.0)}, w_dim=D, is_torgb=spec["torgb"],
            in_channels=spec["cin"], out_channels=spec["cout"], conv_kernel=spec["k"], conv_clamp=conv_clamp,
            up_factor=spec["up"], down_factor=spec["down"], padding=spec["padding"])
    synthesis = _module("SynthesisNetwork", {}, {}, {"input": inp, **layers}, w_dim=D, num_ws=SG3_LAYERS + 2,
                        img_resolution=SG3_RES, img_channels=3, num_layers=SG3_LAYERS, num_critical=SG3_CRITICAL,
                        margin_size=SG3_MARGIN, output_scale=0.25, layer_names=list(layers))
    G = _module("Generator", {}, {}, {"synthesis": synthesis, "mapping": mapping}, z_dim=D, c_dim=c_dim, w_dim=D,
                img_resolution=SG3_RES, img_channels=3, num_ws=SG3_LAYERS + 2)
    data = dict(G=G, D=_module("Discriminator", {"w": torch.randn(4, 3)}, {}, {}, c_dim=0), G_ema=G,
                augment_pipe=None, training_set_kwargs=easydict(resolution=SG3_RES, use_labels=False))
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return cfg


def _slow_filter(x, f, up, down, padding, gain):
    """upfirdn by definition: zero insertion, pad / crop, a true convolution written as a sum over the taps
    (1-D filters along both axes), every ``down``-th sample."""
    n, c, h, w = x.shape
    if up > 1:
        z = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
        z[:, :, ::up, ::up] = x
        x = z
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    if f is not None:
        f = f.double()
        k2 = torch.outer(f, f) if f.ndim == 1 else f
        k2 = k2 * gain
        kh, kw = k2.shape
        oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
        out = torch.zeros(n, c, oh, ow, dtype=x.dtype)
        for a in range(kh):  # convolution: output[i] = sum_a x[i + a] * k[kh - 1 - a]
            for b in range(kw):
                out += x[:, :, a:a + oh, b:b + ow] * k2[kh - 1 - a, kw - 1 - b]
        x = out
    else:
        x = x * gain
    return x[:, :, ::down, ::down]


def sg3_reference(path, ws):
    """StyleGAN3's synthesis from its published equations, in float64, reading the pickle's tensors."""
    from ganexplorer.generators.pickles import load_pickle

    g = load_pickle(path)["G_ema"]
    s = {k: v.double() for k, v in g.tensors().items()}
    syn = g.children["synthesis"]
    ws = ws.double()
    n = len(ws)

    def affine(prefix, w):
        wt = s[prefix + "weight"]
        return w @ (wt / math.sqrt(wt.shape[1])).T + s[prefix + "bias"]

    # Fourier features: pixel centres at (j + 1/2 - size/2) / sampling_rate
    inp = syn.children["input"].state
    size, rate, bw = int(inp["size"][0]), float(inp["sampling_rate"]), float(inp["bandwidth"])
    t = affine("synthesis.input.affine.", ws[:, 0])
    t = t / t[:, :2].norm(dim=1, keepdim=True)
    coords = (torch.arange(size, dtype=torch.float64) + 0.5 - size / 2) / rate
    feats = []
    for i in range(n):
        rot = torch.tensor([[t[i, 0], -t[i, 1], 0], [t[i, 1], t[i, 0], 0], [0, 0, 1]], dtype=torch.float64)
        tra = torch.tensor([[1, 0, -t[i, 2]], [0, 1, -t[i, 3]], [0, 0, 1]], dtype=torch.float64)
        m = rot @ tra @ s["synthesis.input.transform"]
        fr = s["synthesis.input.freqs"] @ m[:2, :2]
        ph = s["synthesis.input.phases"] + s["synthesis.input.freqs"] @ m[:2, 2]
        amp = (1 - (fr.norm(dim=1) - bw) / (rate / 2 - bw)).clamp(0, 1)
        arg = fr[:, 0, None, None] * coords[None, None, :] + fr[:, 1, None, None] * coords[None, :, None]
        feats.append(torch.sin(2 * math.pi * (arg + ph[:, None, None])) * amp[:, None, None])
    x = torch.stack(feats)
    wt = s["synthesis.input.weight"]
    x = torch.einsum("nchw,oc->nohw", x, wt / math.sqrt(wt.shape[0]))
    for idx, name in enumerate(syn.state["layer_names"], start=1):
        st = syn.children[name].state
        p = f"synthesis.{name}."
        weight, torgb = s[p + "weight"], bool(st["is_torgb"])
        k = weight.shape[-1]
        styles = affine(p + "affine.", ws[:, idx])
        if torgb:
            styles = styles / math.sqrt(weight.shape[1] * k * k)
        else:
            weight = weight / weight.square().mean([1, 2, 3], keepdim=True).sqrt()
            styles = styles / styles.square().mean().sqrt()  # over the whole batch, as upstream
        out = []
        for i in range(n):
            wi = weight * styles[i].view(1, -1, 1, 1)
            if not torgb:
                wi = wi / (wi.square().sum([1, 2, 3], keepdim=True) + 1e-8).sqrt()
            wi = wi / s[p + "magnitude_ema"].sqrt()
            out.append(F.conv2d(x[i:i + 1], wi, padding=k - 1))
        x = torch.cat(out) + s[p + "bias"].view(1, -1, 1, 1)
        up, down = int(st["up_factor"]), int(st["down_factor"])
        x = _slow_filter(x, s.get(p + "up_filter"), up, 1, [int(v) for v in st["padding"]], up ** 2)
        if not torgb:
            x = F.leaky_relu(x, 0.2) * math.sqrt(2)
        if st["conv_clamp"] is not None:
            x = x.clamp(-float(st["conv_clamp"]), float(st["conv_clamp"]))
        x = _slow_filter(x, s.get(p + "down_filter"), 1, down, [0, 0, 0, 0], 1)
    return (x * float(syn.state["output_scale"])).float()


@pytest.mark.parametrize("radial", [False, True], ids=["T", "R"])
def test_stylegan3_pkl_renders_as_the_paper(tmp_path, monkeypatch, radial):
    path = tmp_path / f"stylegan3-{'r' if radial else 't'}-snapshot.pkl"
    write_sg3_pkl(path, monkeypatch, radial=radial)
    for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"):
        monkeypatch.delitem(sys.modules, name)
    module, info = load_family(path)
    assert info["family"] == "stylegan2" and info["architecture"] == ("StyleGAN3-R" if radial else "StyleGAN3-T")
    assert info["num_layers"] == SG3_LAYERS + 2 and info["resolution"] == SG3_RES and info["conv_clamp"] == 256
    ws = torch.randn(3, SG3_LAYERS + 2, D, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        images = module(ws)
        assert images.shape == (3, 3, SG3_RES, SG3_RES) and 0.01 < images.std() and images.abs().max() < 64
        torch.testing.assert_close(images, sg3_reference(path, ws), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(module(ws[:1]), images[:1], rtol=1e-5, atol=1e-5)
    G = Generator(module, device="cpu")
    assert G.num_layers == SG3_LAYERS + 2
    bank = sefa(G, layers="1-3", k=3)
    assert bank.layers == ["1-3"] * 3
    torch.testing.assert_close(module.sefa_weight("1-3"), torch.cat([layer.affine.weight for layer in
                                                                     module.layers[:3]]))
    gz, _ = load_family(path, space="z", truncation=0.7)
    z = torch.randn(2, D)
    with torch.no_grad():
        torch.testing.assert_close(gz(z), module(module.truncate(module.map(z), 0.7)))
    with pytest.raises(TypeError, match="StyleGAN3 option.*noise_mode"):
        load_family(path, noise_mode="random")


def test_stylegan3_state_dict_and_conditional_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "sg3.pkl"
    write_sg3_pkl(path, monkeypatch)
    from ganexplorer.generators.pickles import load_pickle

    sd = tmp_path / "sg3.pt"
    torch.save(load_pickle(path)["G_ema"].tensors(), sd)
    with pytest.raises(ValueError, match="StyleGAN3 state dict.*only in the official .pkl"):
        load_family(sd)
    write_sg3_pkl(path, monkeypatch, c_dim=10)
    with pytest.raises(ValueError, match="conditional \\(class-label, c_dim > 0\\) StyleGAN3"):
        load_family(path)
