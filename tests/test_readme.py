"""The README stays true: its code blocks run, its signatures and names match the code, its links resolve.

- ```` ```python ```` blocks run in order in one fresh interpreter, in a temporary directory;
- ```` ```bash ```` blocks: each ``ganexplorer ...`` line runs through the installed command, in order, in a
  temporary directory; each ``make X`` line is checked with ``make -n X`` (the target exists);
- blocks marked ``no-run`` (```` ```python no-run ````: the Explorer, your own checkpoints, hour-long runs) are
  compiled (python) or parsed by the command's argument parser (bash), so their syntax and flags stay true.

Quick settings: training budgets (``steps=2000``, ``--steps 2000``) run with a few steps here, and ``rca`` evaluates
on fewer pairs (``--n-eval 256``): the same code path and flags; everything else runs as written.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.M | re.S)
QUICK = [(re.compile(r"\bsteps=\d+"), "steps=10"), (re.compile(r"--steps \d+"), "--steps 10")]
QUICK_OPTIONS = {"rca": ["--n-eval", "256"]}  # fewer evaluation pairs than the default 2,048


def code_blocks(path: Path = README) -> list[tuple[str, bool, str, int]]:
    """(language, runs, code, first line number) of every fenced block with a language."""
    text = path.read_text()
    return [(m[1], "no-run" not in m[2].split(), m[3], text[:m.start()].count("\n") + 2) for m in FENCE.finditer(text)]


def quick(code: str) -> str:
    for pattern, replacement in QUICK:
        code = pattern.sub(replacement, code)
    return code


def commands(code: str) -> list[str]:
    """The command lines of a bash block, comments removed; a line ending in a backslash continues on the next."""
    lines = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            lines.append(shlex.join(words))
    return lines


def run(argv: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def ganexplorer_command() -> list[str]:
    script = Path(sys.executable).parent / "ganexplorer"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ganexplorer.cli"]


def test_the_readme_has_blocks_of_each_kind():
    kinds = {(lang, runs) for lang, runs, _, _ in code_blocks()}
    assert {("python", True), ("python", False), ("bash", True), ("bash", False)} <= kinds
    first = next(code for lang, _, code, _ in code_blocks() if lang == "bash")
    assert [c.split()[:2] for c in commands(first)] == [["make", "demo"], ["make", "test"]]


def test_python_blocks_run(tmp_path):
    parts = [f"# README.md line {line}\n{quick(code)}" for lang, runs, code, line in code_blocks()
             if lang == "python" and runs]
    script = tmp_path / "readme_blocks.py"
    script.write_text("\n".join(parts))
    result = run([sys.executable, str(script)], tmp_path)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    for written in re.findall(r"\.save\(\"([^\"]+)\"\)", "\n".join(parts)):
        assert (tmp_path / written).is_file(), f"the README's code says it writes {written}"


@pytest.mark.parametrize("line", [line for lang, runs, _, line in code_blocks() if lang == "bash" and runs])
def test_bash_blocks_run(tmp_path, monkeypatch, capsys, line):
    """``ganexplorer`` lines run in order through the console script's entry point (``ganexplorer.cli:main``,
    in this process: one import of torch instead of one per line); ``make X`` lines with ``make -n X``."""
    from ganexplorer.cli import main

    code = next(code for _, _, code, first in code_blocks() if first == line)
    monkeypatch.chdir(tmp_path)
    for command in commands(code):
        words = shlex.split(quick(command))
        if words[0] == "make":
            result = run(["make", "-n", *words[1:]], ROOT)
            assert result.returncode == 0, f"README.md line {line}: {command}\n{result.stderr[-2000:]}"
            continue
        assert words[0] == "ganexplorer", f"README.md line {line}: only ganexplorer and make lines are run"
        argv = words[1:] + QUICK_OPTIONS.get(words[1], [])
        assert main(argv) == 0, f"README.md line {line}: {command}\n{capsys.readouterr().err[-2000:]}"
        assert capsys.readouterr().out.strip(), f"{command} printed nothing"
        if "--out" in words:
            assert (tmp_path / words[words.index("--out") + 1]).exists(), command


def test_the_installed_command_runs(tmp_path):
    result = run(ganexplorer_command() + ["zoo"], tmp_path)
    assert result.returncode == 0 and "shapes-stylegan2" in result.stdout, result.stderr[-2000:]


def test_no_run_blocks_still_parse():
    from ganexplorer.cli import build_parser

    parser = build_parser()
    for path in DOCS:
        for lang, runs, code, line in code_blocks(path):
            where = f"{path.name} line {line}"
            if lang == "python" and (not runs or path != README):
                compile(code, where, "exec")
            elif lang == "bash" and (not runs or path != README):
                for command in commands(code):
                    words = shlex.split(command)
                    if words[0] == "ganexplorer":
                        try:
                            parser.parse_args(words[1:])
                        except SystemExit:
                            pytest.fail(f"{where}: the command line parser refuses {command}")


def _signature_spans(name: str) -> list[tuple[Path, str]]:
    spans = []
    for path in DOCS:
        text = " ".join(path.read_text().split())
        spans += [(path, m[1]) for m in re.finditer(rf"`gx\.{name}\((G, k=None.*?)\)`", text)]
    return spans


def test_documented_discover_signature_matches_the_code():
    import ganexplorer as gx

    spans = _signature_spans("discover")
    assert spans, "the README documents gx.discover's signature"
    actual = inspect.signature(gx.discover).parameters
    for path, span in spans:
        call = ast.parse(f"f({span.replace('**options', '**o')})").body[0].value
        for keyword in call.keywords:
            if keyword.arg is None:
                continue
            assert keyword.arg in actual, f"{path.name}: gx.discover has no parameter {keyword.arg}"
            assert ast.literal_eval(keyword.value) == actual[keyword.arg].default, \
                f"{path.name}: gx.discover's {keyword.arg} defaults to {actual[keyword.arg].default!r}"
        documented = {k.arg for k in call.keywords}
        missing = {n for n, p in actual.items() if p.default is not inspect.Parameter.empty} - documented
        assert path != README or not missing - {"deformator", "shift_scale", "min_shift", "shift_weight",
                                                "reconstructor", "batch_size"}, missing
        assert path == README or not missing, f"{path.name} omits {sorted(missing)}"


def test_explorer_calls_named_in_the_readme_exist():
    pytest.importorskip("anywidget")
    from ganexplorer.widget import Explorer

    names = set(re.findall(r"`ex\.(\w+)\(", README.read_text()))
    assert {"set_shift", "run_sefa", "run_pca", "discover", "apply", "cancel", "undo", "label", "star",
            "export_grid", "export_gif", "export_mp4", "export_bank"} <= names
    assert not [n for n in names if not callable(getattr(Explorer, n, None))], "the Explorer lacks these"


def test_local_links_resolve():
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.name} links to {target}, which does not exist"


def test_layout_block_names_files_that_exist():
    text = README.read_text()
    layout = text[text.index("## Layout"):]
    block = layout[layout.index("```\n") + 4:layout.index("\n```", layout.index("```\n") + 4)]
    top = None
    for line in block.splitlines():
        if not line.startswith(" "):
            top = ROOT / line.split()[0]
            assert top.exists(), f"the README's layout names {line.split()[0]}, which does not exist"
            names = re.findall(r"[\w-]+\.(?:py|json|js|css|md|png)\b", line)
        else:  # a folder as the first word, files anywhere
            names = re.findall(r"^\s+([\w-]+/)", line) + re.findall(r"[\w-]+\.(?:py|json|js|css|md|png)\b", line)
        for name in names:
            found = list(top.rglob(name.rstrip("/"))) if top.is_dir() else []
            assert found, f"the README's layout puts {name} under {top.name}/, where there is none"
