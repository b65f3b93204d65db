"""The attack battery of issue 14, as tests: concurrent writers, kills during saves, malicious pickles, bad numbers.

Every test prints its counts ("BATTERY <attack>: tried N, held N"); run ``pytest tests/test_battery.py -s`` to see
them. The default run is sized for CI (about 40 s on two shared cores); ``GX_BATTERY=full`` runs the full-size
loops of the issue (200 kills per bank layout, 100 kills while labelling, 50 labels per process).
"""

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from ganexplorer import DirectionBank
from ganexplorer.layers import parse_layers

FULL = os.environ.get("GX_BATTERY") == "full"
KILLS = 200 if FULL else 40  # per bank layout
LAYOUTS = ["bank.gxb", "bankdir"]


def report(attack: str, tried: int, held: int, extra: str = "") -> None:
    print(f"\nBATTERY {attack}: tried {tried}, held {held}{'; ' + extra if extra else ''}")


def _bank(k: int = 8, d: int = 16, version: int = 0) -> DirectionBank:
    """Version ``version`` of a bank: K = k, every direction filled with the version number, labels saying so."""
    return DirectionBank(torch.full((k, d), float(version)), labels=[f"v{version} {i}" for i in range(k)],
                         source="manual", generator="battery")


def _temps(path: Path) -> list[Path]:
    found = list(path.parent.glob(f".{path.name}.*.tmp"))
    return found + (list(path.glob(".*.tmp")) if path.is_dir() else [])


# --------------------------------------------------------------------------------------------- concurrency
@pytest.mark.parametrize("layout", LAYOUTS)
def test_threads_labelling_one_autosaved_bank(tmp_path, layout):
    """Eight threads labelling one autosaved bank: 127 of 160 labels reached the disk before."""
    threads_n, per_thread = 8, 20
    path = _bank(k=threads_n * per_thread).save(tmp_path / layout)
    shared = DirectionBank.load(path, autosave=True)
    own = [DirectionBank.load(path, autosave=True) for _ in range(threads_n // 2)]
    errors = []

    def work(t):
        bank = shared if t % 2 else own[t // 2]  # half share one object, half have their own
        try:
            for j in range(per_thread):
                bank.label(t * per_thread + j, f"thread {t} label {j}")
        except Exception as exc:  # noqa: BLE001 - counted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    disk = DirectionBank.load(path).labels
    held = sum(disk[t * per_thread + j] == f"thread {t} label {j}" for t in range(threads_n) for j in range(per_thread))
    report(f"threads labelling one bank ({layout})", threads_n * per_thread, held)
    assert not errors and held == threads_n * per_thread


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ganexplorer import DirectionBank
    path, who, n, sync = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    bank = DirectionBank.load(path, autosave=True)
    (sync / f"ready{who}").touch()
    while not (sync / "go").exists():  # both loaded the same version: every edit now races the other process
        time.sleep(0.01)
    picked = 0
    for j in range(n):
        bank.label(2 * j + who, f"process {who} label {j}")
        picked += len(getattr(bank, "changes", []))
        if j % 4 == 0:
            bank.star(2 * j + who)
            picked += len(getattr(bank, "changes", []))
        time.sleep(0.01)  # human-paced: lets the other process in between edits
    print(picked)
""")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_two_processes_labelling_one_bank(tmp_path, layout):
    """Two processes (two notebooks) labelling the same bank file at the same time: 5 of 10 labels lost before."""
    n = 40 if FULL else 15
    path = _bank(k=2 * n).save(tmp_path / layout)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(who), str(n), str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in (0, 1)]
    deadline = time.time() + 120
    while not all((tmp_path / f"ready{who}").exists() for who in (0, 1)) and time.time() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    disk = DirectionBank.load(path)
    held = sum(disk.labels[2 * j + who] == f"process {who} label {j}" for who in (0, 1) for j in range(n))
    stars = sum(disk.starred[2 * j + who] for who in (0, 1) for j in range(0, n, 4))
    picked = sum(int(out) for out, _ in outs)
    report(f"two processes labelling ({layout})", 2 * n + 2 * len(range(0, n, 4)), held + stars,
           f"{picked} edits of the other process picked up and reported")
    assert held == 2 * n and stars == 2 * len(range(0, n, 4)) and sum(disk.starred) == stars


# ----------------------------------------------------------------------------------------------------- kills
def _fork(child) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            child()
        finally:
            os._exit(0)
    return pid


def _kill_after(pid: int, seconds: float) -> None:
    time.sleep(seconds)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kill loops fork (POSIX)")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_kill_during_saves_that_change_k(tmp_path, layout):
    """SIGKILL while saves change K: the directory bank (two files renamed separately) was unloadable after 89 of
    200 kills, and 138-142 hidden .tmp files were left per 200 kills. Now: the old or the new version, always."""
    path = tmp_path / layout
    versions = [_bank(k=3 + v % 5, version=v) for v in range(KILLS + 1)]
    versions[0].save(path)
    held = whole_versions = kills_leaving_temps = 0
    rng = torch.Generator().manual_seed(0)
    for attempt in range(KILLS):
        start = attempt + 1

        def child(start=start):
            v = start
            while True:  # keeps saving new versions (changing K) until killed
                versions[v % len(versions)].save(path)
                v += 1

        left = len(_temps(path))
        _kill_after(_fork(child), float(torch.rand((), generator=rng)) * 0.02)
        kills_leaving_temps += len(_temps(path)) > left
        try:
            bank = DirectionBank.load(path)
        except ValueError:
            continue
        version = int(bank.directions[0, 0])
        whole = (len(bank) == 3 + version % 5 and bool((bank.directions == version).all())
                 and bank.labels == [f"v{version} {i}" for i in range(len(bank))])
        whole_versions += whole
        held += whole and not _temps(path)
    report(f"kills during saves changing K ({layout})", KILLS, held,
           f"{whole_versions} loaded as a whole version; {kills_leaving_temps} kills left temp files, "
           f"{len(_temps(path))} there after the last load")
    assert held == KILLS and not _temps(path)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kill loops fork (POSIX)")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_kill_during_autosaved_labelling_loses_no_acknowledged_label(tmp_path, layout):
    """A notebook killed while labelling: every label whose edit returned is on disk after the kill."""
    kills = KILLS // 2
    path = _bank(k=64).save(tmp_path / layout)
    tried = held = 0
    for attempt in range(kills):
        read_end, write_end = os.pipe()

        def child(attempt=attempt, read_end=read_end, write_end=write_end):
            os.close(read_end)
            bank = DirectionBank.load(path, autosave=True)
            for i in range(64):
                bank.label(i, f"kill {attempt} label {i}")
                os.write(write_end, bytes([i]))  # acknowledged: the edit returned

        pid = _fork(child)
        os.close(write_end)
        _kill_after(pid, 0.01 + float(attempt % 7) * 0.025)  # an autosaved edit takes ~20 ms here
        with os.fdopen(read_end, "rb") as fh:
            acknowledged = list(fh.read())
        disk = DirectionBank.load(path).labels
        tried += len(acknowledged)
        held += sum(disk[i] == f"kill {attempt} label {i}" for i in acknowledged)
    report(f"acknowledged labels across {kills} kills ({layout})", tried, held)
    assert held == tried


# ------------------------------------------------------------------------------------------ malicious files
def test_malicious_pickles(tmp_path):
    """Code-execution payloads in every format the loaders read, and the data attacks on the restricted
    unpickler (BUILD on classes and functions, allocations out of proportion to the file)."""
    from conftest import Evil
    from test_checkpoints import PICKLE_ATTACKS

    from ganexplorer import load_generator
    from ganexplorer.generators import pickles

    tried = held = 0
    marker = tmp_path / "pwned"
    for suffix in (".pt", ".pth", ".pkl", ".bin", ".ckpt"):
        path = tmp_path / f"evil{suffix}"
        if suffix == ".pkl":
            import pickle
            path.write_bytes(pickle.dumps({"G_ema": Evil(marker)}, protocol=2))
        else:
            torch.save({"g_ema": {"w": torch.zeros(1)}, "payload": Evil(marker)}, path)
        tried += 1
        try:
            load_generator(path)
        except ValueError:
            held += not marker.exists()
    for data, _ in PICKLE_ATTACKS.values():
        path = tmp_path / "attack.pkl"
        path.write_bytes(data)
        tried += 1
        try:
            pickles.load_pickle(path)
        except ValueError:
            held += not hasattr(pickles.PersistentObject, "pwned") and not hasattr(pickles.EasyDict, "pwned")
    report("malicious pickles (code execution + data attacks)", tried, held)
    assert held == tried and not marker.exists()


# --------------------------------------------------------------------------------------------- bad numbers
def test_values_that_must_be_refused(tmp_path, tiny):
    """Every value of the issue's list: a clear error naming the value and the allowed range, before any work."""
    from ganexplorer import pca, sefa
    from ganexplorer.traversal import traversal_grid

    bank = DirectionBank(torch.randn(5, 8))
    bank8 = DirectionBank(torch.randn(8, 8))
    z = tiny.sample_latents(2, seed=0)
    cases = {
        "layer range '0-99999999999'": (lambda: parse_layers("0-99999999999", 18), "goes past the last layer"),
        "shift_range NaN": (lambda: DirectionBank(torch.randn(2, 8), shift_range=float("nan")), r"\(0, 10000\]"),
        "shift_range -1": (lambda: DirectionBank(torch.randn(2, 8), shift_range=-1.0), r"\(0, 10000\]"),
        "labels=5": (lambda: DirectionBank(torch.randn(2, 8), labels=5), "must be a string"),
        "starred='no'": (lambda: DirectionBank(torch.randn(2, 8), starred="no"), "true or false"),
        "shift of 3e38": (lambda: bank.shift(z, [3e38] * 5), r"out of range: shifts must be within ±1e\+06"),
        "render latents of 1e30": (lambda: tiny.render(torch.full((1, 8), 1e30)), "within ±1e\\+06"),
        "render NaN latents": (lambda: tiny.render(torch.full((1, 8), float("nan"))), "NaN or inf"),
        # issue 28
        "sefa k=True": (lambda: sefa(tiny, k=True), "k .*must be a whole number from 1 to 8, got True"),
        "pca k=True": (lambda: pca(tiny, k=True, progress=False), "must be a whole number from 1 to 8, got True"),
        "grid samples=0": (lambda: traversal_grid(tiny, bank8, samples=0), "samples must be from 1 to 64, got 0"),
        "grid samples=10000000": (lambda: traversal_grid(tiny, bank8, samples=10**7), "from 1 to 64"),
        "grid of 0 latents": (lambda: traversal_grid(tiny, bank8, z=torch.zeros(0, 8)), "no latents"),
        "grid of no directions": (lambda: traversal_grid(tiny, bank8, []), "at least one direction"),
        "grid of 30000 shifts": (lambda: traversal_grid(tiny, bank8, shifts=[0.0] * 30000), "more than a grid"),
        "grid of 50 x 64 x 100 cells": (lambda: traversal_grid(tiny, bank8, [0] * 50, [0.0] * 100, samples=64),
                                        "over the limit"),
    }
    held, failed = 0, []
    for name, (attack, message) in cases.items():
        try:
            attack()
            failed.append(f"{name}: accepted")
        except ValueError as exc:
            if re.search(message, str(exc)):
                held += 1
            else:
                failed.append(f"{name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - an unclear error is a failure, counted
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    report("values refused with a clear error", len(cases), held)
    assert not failed, failed


def test_a_generator_that_overflows_says_so(tiny):
    """G.render(bank.shift(z, [3e38]*5)) returned NaN images silently: now an error, whatever the latents."""
    from torch import nn

    from ganexplorer import Generator

    class Overflowing(nn.Module):
        latent_dim = 4

        def forward(self, z):
            return (z[:, :1, None, None] * 1e38 * 1e38).expand(-1, 3, 4, 4)  # inf for any |z| >= 1

    g = Generator(Overflowing(), device="cpu", name="overflowing")
    try:
        g.render(torch.ones(1, 4), batch_size=1)
        held = 0
    except ValueError as exc:
        held = int("overflowing returned NaN or inf pixels" in str(exc))
    report("a generator's NaN output refused", 1, held)
    assert held == 1
    assert g.render(torch.zeros(1, 4), batch_size=1).shape == (1, 3, 4, 4)


# ------------------------------------------------------------------- issue 28: a second writer, files, the CLI
SECOND_WRITER = textwrap.dedent("""
    import sys
    from ganexplorer import DirectionBank
    DirectionBank.load(sys.argv[1], autosave=True).label(int(sys.argv[2]), sys.argv[3])
""")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_plain_save_keeps_what_a_second_writer_saved(tmp_path, layout):
    """The README's pattern: b = load(p); another process labels direction 5; b.label(0, 'mine'); b.save(p) lost
    label 5 without a word. Now the save merges (this save wins on the same field), and a second writer that
    replaced the directions gets a BankConflict naming the file, with nothing written."""
    from ganexplorer.directions.bank import BankConflict

    path = _bank(k=8).save(tmp_path / layout)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    tried = held = 0
    failed = []
    rounds = 40 if FULL else 12
    for r in range(rounds):
        bank = DirectionBank.load(path)
        theirs, mine = (5 + r) % 8, r % 8  # the same direction now and then: both fields, or a conflict
        if r == 0:  # another process
            subprocess.run([sys.executable, "-c", SECOND_WRITER, str(path), str(theirs), f"theirs {r}"], env=env,
                           check=True, timeout=120)
        else:  # another bank object on the same file (another Explorer)
            other = DirectionBank.load(path, autosave=True)
            other.label(theirs, f"theirs {r}")
            other.star(theirs, not other.starred[theirs])
        starred = DirectionBank.load(path).starred
        bank.label(mine, f"mine {r}")
        bank.note(mine, f"note {r}")
        bank.save(path)
        disk = DirectionBank.load(path)
        want = {mine: f"mine {r}"} if theirs == mine else {mine: f"mine {r}", theirs: f"theirs {r}"}
        ok = all(disk.labels[i] == text for i, text in want.items()) and disk.notes[mine] == f"note {r}"
        ok = ok and disk.starred == starred and bank.labels == disk.labels
        tried += 1
        held += ok
        if not ok:
            failed.append((r, disk.labels, disk.notes, bank.changes))
    bank = DirectionBank.load(path)
    bank.label(1, "mine, over a replaced bank")
    replaced = _bank(k=3, version=9)
    replaced.save(path)
    tried += 1
    try:
        bank.save(path)
        failed.append("a save over a replaced bank was written")
    except BankConflict as exc:
        held += str(path) in str(exc) and DirectionBank.load(path).ids == replaced.ids
    bank.save(path, replace=True)  # said explicitly: this bank over the file
    assert DirectionBank.load(path).labels[1] == "mine, over a replaced bank"
    report(f"plain saves under a second writer ({layout})", tried, held)
    assert held == tried, failed


def _one_line_error(capsys, name: str) -> str:
    """The CLI's stderr after a refusal: one line, ``error: ...``, naming ``name``, no traceback."""
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("error: ") and err.count("\n") == 1 and len(err) < 400, err[:2000]
    assert name in err and "Traceback" not in err, err
    return err


def _cli(capsys, argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` in this process: its exit code and stderr; an exception escaping it is a failure."""
    from ganexplorer.cli import main

    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    except Exception as exc:  # noqa: BLE001 - a traceback: counted as a failure
        capsys.readouterr()
        return -1, f"{type(exc).__name__}: {exc}"[:300]
    return rc, capsys.readouterr().err


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height in its header (and holds a few bytes of pixels): a decompression bomb
    to a reader that decodes before it checks."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_latents_files_that_are_not_latents(tmp_path, capsys, mnist):
    """gx.load_latents passed SafetensorError / OSError through without the file's name; `grid --latent` printed
    a traceback; a file of (0, 64) latents ended in an IndexError. Now: one error naming the file and what is
    wrong, in Python and at the command line (one line, exit code 2)."""
    from safetensors.torch import save_file

    from ganexplorer import load_latents

    meta = {"format": "ganexplorer-latents", "space": "z"}
    save_file({"latents": torch.randn(2, 64)}, str(tmp_path / "good.latent"), metadata=meta)
    good = (tmp_path / "good.latent").read_bytes()
    files = {"zero.latent": b"", "truncated.latent": good[:-40], "random.latent": os.urandom(4096),
             "huge-header.latent": (2**40).to_bytes(8, "little") + b"{}" + good[8:]}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    save_file({"other": torch.randn(2, 64)}, str(tmp_path / "no-tensor.latent"), metadata=meta)
    save_file({"latents": torch.zeros(0, 64)}, str(tmp_path / "empty.latent"), metadata=meta)
    (tmp_path / "folder.latent").mkdir()
    names = [*files, "no-tensor.latent", "empty.latent", "folder.latent", "missing.latent"]
    tried = held = 0
    failed = []
    for name in names:
        path = tmp_path / name
        tried += 2
        try:
            load_latents(path)
            failed.append(f"{name}: loaded")
        except (ValueError, FileNotFoundError) as exc:
            held += str(path) in str(exc)
        except Exception as exc:  # noqa: BLE001 - a raw error: counted as a failure
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
        rc, err = _cli(capsys, ["grid", "--model", "mnist", "--device", "cpu", "--latent", str(path), "--out",
                                str(tmp_path / "grid.png")])
        if rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and name in err:
            held += 1
        else:
            failed.append(f"grid --latent {name}: exit {rc}: {err[:300]}")
    z, space = load_latents(tmp_path / "good.latent")
    assert z.shape == (2, 64) and space == "z"
    report("latents files that are not latents (API + CLI)", tried, held)
    assert held == tried, failed


def test_empty_latents_render_nothing(tiny):
    """G.render(torch.zeros(0, d)) raised IndexError: now an empty batch of the generator's image shape."""
    images = tiny.render(torch.zeros(0, 8))
    frames = tiny.render_uint8(torch.zeros(0, 8))
    report("empty latents rendered as an empty batch", 2, int(images.shape == (0, 3, 16, 16))
           + int(frames.shape == (0, 16, 16, 3) and frames.dtype.name == "uint8"))
    assert images.shape == (0, 3, 16, 16) and frames.shape == (0, 16, 16, 3)


def test_image_files_that_are_not_images(tmp_path, capsys, mnist):
    """`ganexplorer project` printed tracebacks for an empty file, a text file, a 20000x20000 PNG and a folder.
    Now the core refuses them (the Explorer's add_image reads images through the same function): one line
    naming the file, before a pixel of a too-large image is decoded."""
    from ganexplorer.projection import prepare_images

    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image\n")
    (tmp_path / "bomb.png").write_bytes(_png_header(20000, 20000))
    (tmp_path / "big.png").write_bytes(_png_header(9000, 9000))
    (tmp_path / "truncated.png").write_bytes(_png_header(64, 64))
    (tmp_path / "folder.png").mkdir()
    names = ["empty.png", "text.png", "bomb.png", "big.png", "truncated.png", "folder.png"]
    tried = held = 0
    failed = []
    for name in names:
        path = tmp_path / name
        tried += 2
        try:
            prepare_images(str(path), mnist)
            failed.append(f"{name}: read")
        except ValueError as exc:
            held += str(path) in str(exc)
        except Exception as exc:  # noqa: BLE001 - counted as a failure
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
        rc, err = _cli(capsys, ["project", "--model", "mnist", "--device", "cpu", "--steps", "1", "--restarts",
                                "1", "--image", str(path), "--out", str(tmp_path / "p.latent")])
        if rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and name in err:
            held += 1
        else:
            failed.append(f"project --image {name}: exit {rc}: {err[:300]}")
    report("image files that are not images (API + CLI)", tried, held)
    assert held == tried, failed


@pytest.mark.parametrize("argv,message", [
    (["--directions", "0-99999999999"], "direction 99999999999 does not exist: the bank has 64"),
    (["--directions", "0-30000000"], "direction 30000000 does not exist: the bank has 64"),
    (["--directions", "5-2"], "5-2 runs backwards; write 2-5"),
    (["--shifts=-3:3:1000000000"], "number of shifts.* from 2 to 100, got 1000000000"),
    (["--shifts=-3:3:0"], "number of shifts.* from 2 to 100, got 0"),
    (["--samples", "0"], "samples must be from 1 to 64, got 0"),
    (["--samples", "10000000"], "samples must be from 1 to 64, got 10000000"),
    (["--seed", "99999999999999999999"], "seed must be from 0 to 2147483647"),
    (["--samples", "abc"], "argument --samples: invalid int value: 'abc'"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_cli_refuses_counts_and_ranges_before_expanding(tmp_path, capsys, mnist, argv, message):
    """`grid --directions 0-99999999999` ended in a MemoryError traceback, `0-30000000` took 24 s and printed a
    289 MB line, the shift and sample counts ended in tracebacks ('5-2' in 'max() arg is an empty sequence').
    Now: checked before anything is built, one line on stderr naming the value, exit code 2, at once."""
    start = time.perf_counter()
    rc, err = _cli(capsys, ["grid", "--model", "mnist", "--device", "cpu", "--out", str(tmp_path / "g.png"), *argv])
    seconds = time.perf_counter() - start
    held = (rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and len(err) < 300 and seconds < 10
            and re.search(message, err) is not None)
    report(f"grid {' '.join(argv)}", 1, int(held), f"{seconds:.2f} s: {err.strip()[:120]}")
    assert held, (rc, err[:500], seconds)
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("argv,message", [
    (["--batch-size", "0"], "batch_size must be from 1 to 4096, got 0"),
    (["--latent-dim", "0"], "latent_dim must be from 1 to 4096, got 0"),
    (["--width", "0"], "width must be from 1 to 1024, got 0"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_cli_refuses_training_counts_before_training(tmp_path, capsys, argv, message):
    """`train-gan --batch-size 0` and `--width 0` ended in tracebacks from inside torch, `--latent-dim 0` saved a
    generator of a 0-d latent without a word. Now refused before training, one line, nothing written."""
    out = tmp_path / "g.safetensors"
    rc, err = _cli(capsys, ["train-gan", "--dataset", "mnist", "--steps", "1", "--device", "cpu", "--out", str(out),
                            *argv])
    held = rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and re.search(message, err) is not None
    report(f"train-gan {' '.join(argv)}", 1, int(held), err.strip()[:120])
    assert held and not out.exists(), (rc, err[:500])
