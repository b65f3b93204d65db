"""The slow tier (issue 20): each tutorial notebook run in full mode, its printed numbers checked against the ones
docs/results.md quotes. Skipped unless GANEXPLORER_FULL=1 (CI runs every test, so a marker alone would not keep
it out): measured on an idle 2-core machine, 01 takes 30-50 s, 02 seconds, 03 20 minutes, 04 33 s, 05 6 minutes.

    GANEXPLORER_FULL=1 python -m pytest -m slow tests/test_notebooks_full.py -k 02

Each notebook runs in a copy of notebooks/ (notebook 01 rewrites quickstart_bank.gxb, a tracked file), with
GANEXPLORER_QUICK unset so the kernel takes the full budgets.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FULL = os.environ.get("GANEXPLORER_FULL") == "1"

# The numbers docs/results.md quotes, one place. Sections: "Latent discovery: the paper's main table" (03),
# "The saliency application (notebook 05)" (05) and "Tutorial notebooks, full mode" (01, 02, 04). Each entry is
# (value, tolerance): tight for closed-form results (SeFa, its eigen-quantities, the fixed baselines), looser
# for trained ones (seeds and CPU floating-point order move them): RCA means and IoU +-0.05.
EXPECTED: dict[str, dict] = {
    "01": {"learned_directions": 16,  # joining the two named SeFa directions
           # the notebook's own "What to expect" (closed form, so quick and full mode agree): SeFa eigenvalues
           # to 1 %, and the name describe suggests for direction 0
           "eigenvalues": [185.2, 136.7, 123.0, 110.6, 103.4], "eigenvalue_tol": 0.01,
           "direction_0": "changes the digit"},
    "02": {
        "wn_top": (13.6, 0.06),  # ||W n|| of the top SeFa direction
        "wn_random_mean": (5.6, 0.2), "wn_random_max": (7.7, 0.3),  # 1,000 random unit directions
        "cos_reference": (1.0, 1e-4),  # |cos| of the top five with numpy's eig, printed to 5 decimals
        "top_six": ["y", "x", "rotation", "hue", "brightness", "scale"],  # shapes, SeFa directions 0-5 in order
        "mig_gap": (0.285, 0.01),
    },
    "03": {  # generator -> deformator -> (RCA mean, shift error mean); K 32, 4,000 steps, 3 seeds, chance 0.031
        "k": 32, "steps": 4000, "seeds": 3, "chance": 0.031, "rca_tol": 0.05, "shift_tol": 0.15,
        "mnist": {"ortho": (0.782, 0.86), "unit-norm": (0.829, 0.77), "random": (0.664, 1.83),
                  "coordinate": (0.652, 1.83)},
        "shapes": {"ortho": (0.706, 0.81), "unit-norm": (0.856, 0.77), "random": (0.695, 1.92),
                   "coordinate": (0.681, 1.69)},
    },
    "04": {"mig_gap": {"sefa": (0.285, 0.01), "pca": (0.231, 0.03), "discovery": (0.029, 0.05)},
           "chance": (0.221, 0.005), "best_match": {("sefa", "pca"): (0.944, 0.03)}},
    "05": {  # IoU means over 3 seeds (nets) or of the deterministic baselines, with tolerances
        "iou": {"net, ratio rule": (0.676, 0.05), "net, reference rule (mirrored)": (0.726, 0.05),
                "oracle (true masks)": (0.919, 0.03), "k-means (k=3)": (0.759, 0.005),
                "border contrast": (0.575, 0.005), "empty mask": (0.0, 0.0)},
        "best_without_truth": "k-means (k=3)",  # what the text says is best among methods without true masks
        "best": ("pca", (-3.0, 0.5)),  # the ranked-first background direction: PCA pc 0, shift -3
        "per_method_iou": {"pca": (0.704, 0.07), "sefa": (0.638, 0.07), "discovery": (0.655, 0.07)},  # one seed
    },
}

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not FULL, reason="full-mode notebooks: set GANEXPLORER_FULL=1")]


def run_notebook(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timeout: int = 3600) -> str:
    """Execute notebooks/<name>*.ipynb in full mode in a copy of notebooks/; its printed text (streams and
    plain-text results, in cell order)."""
    import nbformat
    from nbclient import NotebookClient

    work = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (path,) = work.glob(f"{name}_*.ipynb")
    monkeypatch.delenv("GANEXPLORER_QUICK", raising=False)  # the kernel inherits this process's environment
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    nbformat.write(nb, path.with_suffix(".full.ipynb"))  # kept with its figures, to read after the run
    print(f"{path.name}, full mode, seconds per code cell (index: wall): {cell_seconds(nb)}; "  # pytest -s shows it
          f"executed notebook: {path.with_suffix('.full.ipynb')}")
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream" and out["name"] == "stdout":
                text.append(out["text"])
            elif out["output_type"] in ("execute_result", "display_data") and "text/plain" in out.get("data", {}):
                text.append(out["data"]["text/plain"] + "\n")
    return "".join(text)


def cell_seconds(nb) -> str:
    """Each executed code cell's wall time, from the timestamps nbclient records in its metadata: the figures the
    notebooks quote per cell ("this cell: about ...")."""
    from datetime import datetime

    times = []
    for i, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            start, end = (datetime.fromisoformat(stamps[key].replace("Z", "+00:00"))
                          for key in ("iopub.execute_input", "shell.execute_reply"))
            times.append(f"{i}: {(end - start).total_seconds():.1f}")
    return ", ".join(times)


def find(pattern: str, text: str) -> re.Match:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"the notebook printed nothing matching {pattern!r}:\n{text}"
    return match


def near(value: float, expected: tuple[float, float], what: str) -> None:
    target, tol = expected
    assert abs(value - target) <= tol, f"{what}: {value} is not {target} +- {tol}"


def test_01_quickstart(tmp_path, monkeypatch):
    text = run_notebook("01", tmp_path, monkeypatch, timeout=1200)
    expected = EXPECTED["01"]
    eigenvalues = [float(v) for v in find(r"^eigenvalues: \[([^\]]+)\]", text).group(1).split(",")]
    assert len(eigenvalues) == len(expected["eigenvalues"])
    for i, (value, target) in enumerate(zip(eigenvalues, expected["eigenvalues"])):
        near(value, (target, expected["eigenvalue_tol"] * target), f"SeFa eigenvalue {i}")
    named = [find(rf"^direction {k}: '([^']+)'", text).group(1) for k in (0, 1)]
    assert named[0] == expected["direction_0"]
    saved = find(r"^\(\['([^']*)', '([^']*)', '[^']*'\],\s*\[True, False, False\]\)", text)  # read back from disk
    assert list(saved.groups()) == named, "the accepted names are saved at once, direction 0 starred"
    n = expected["learned_directions"]
    find(rf"^discovery finished: its {n} directions are proposal", text)
    labels = re.findall(r"'([^']*)'", find(r"^\[('[^']*'(?:, '[^']*')*)\]\s*$", text).group(1))
    assert labels[:2] == named and labels[-2:] == ["discovery 0", "discovery 1"]  # learned ones join


def test_02_sefa(tmp_path, monkeypatch):
    text = run_notebook("02", tmp_path, monkeypatch)
    expected = EXPECTED["02"]
    top = [float(v) for v in find(r"\|\|W n\|\| top-5 SeFa: \[([^\]]+)\]", text).group(1).split(",")]
    near(top[0], expected["wn_top"], "||W n|| of SeFa direction 0")
    rand = find(r"1000 random directions: mean ([\d.]+), max ([\d.]+)", text)
    near(float(rand.group(1)), expected["wn_random_mean"], "||W n|| random mean")
    near(float(rand.group(2)), expected["wn_random_max"], "||W n|| random max")
    assert min(top) > float(rand.group(2))
    cos = [float(v) for v in find(r"\|cos\| ours vs reference, top 5: \[([^\]]+)\]", text).group(1).split()]
    assert len(cos) == 5 and all(abs(c - expected["cos_reference"][0]) <= expected["cos_reference"][1] for c in cos)
    factors = [find(rf"^direction {i}: (\w+)\s+purity", text).group(1) for i in range(6)]
    assert factors == expected["top_six"]
    near(float(find(r"^MIG-style gap: ([\d.]+)", text).group(1)), expected["mig_gap"], "MIG-style gap")


def test_03_discovery(tmp_path, monkeypatch):
    text = run_notebook("03", tmp_path, monkeypatch, timeout=7200)
    expected = EXPECTED["03"]
    for generator in ("mnist", "shapes"):
        section = text.split(f"== {generator}\n", 1)[1]
        for kind, (rca, shift) in expected[generator].items():
            row = find(rf"^{re.escape(kind)}\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+) ± [\d.]+\s+([\d.]+)\s+([\d.]+) ± ",
                       section)
            k, steps, seeds, accuracy, chance, shift_error = row.groups()
            assert (int(k), int(steps), int(seeds)) == (expected["k"], expected["steps"], expected["seeds"]), row
            assert float(chance) == expected["chance"]
            near(float(accuracy), (rca, expected["rca_tol"]), f"{generator} {kind} RCA")
            near(float(shift_error), (shift, expected["shift_tol"]), f"{generator} {kind} shift error")


def test_04_compare(tmp_path, monkeypatch):
    text = run_notebook("04", tmp_path, monkeypatch)
    for method, value in EXPECTED["04"]["mig_gap"].items():
        near(float(find(rf"^{method}\s+MIG-style gap ([\d.]+)", text).group(1)), value, f"{method} MIG-style gap")
    near(float(find(r"^chance: mean best \|cos\| of .*: ([\d.]+)", text).group(1)), EXPECTED["04"]["chance"], "chance")
    for (a, b), value in EXPECTED["04"]["best_match"].items():
        near(float(find(rf"^{a} vs {b}: mean best \|cos\| ([\d.]+)", text).group(1)), value, f"{a} vs {b} best match")


def test_05_background_and_saliency(tmp_path, monkeypatch):
    text = run_notebook("05", tmp_path, monkeypatch)
    expected = EXPECTED["05"]
    source, shift = find(r"^the background direction: .* \((\w+)\), shift ([+-][\d.]+)", text).groups()
    assert source == expected["best"][0], f"the background direction comes from {source}, docs say PCA"
    near(float(shift), expected["best"][1], "the background direction's shift")
    for name, value in expected["iou"].items():
        row = find(rf"^{re.escape(name)}\s+([\d.]+) ± ([\d.]+)\s", text)
        near(float(row.group(1)), value, f"{name} IoU")
    assert find(r"^best without true masks: (.*) \(IoU", text).group(1) == expected["best_without_truth"]
    for method, value in expected["per_method_iou"].items():
        near(float(find(rf"^{method}\s+.*IoU ([\d.]+)\s+F-beta", text).group(1)), value, f"{method}'s best IoU")
