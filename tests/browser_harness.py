"""JupyterLab + headless Debian Chromium for the browser tests and the latency benchmark (recipe:
shared/BROWSER_TESTING.md). Never uses playwright's own browser download, which cannot work offline."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def notebook(cells: list[str]) -> dict:
    return {"cells": [{"cell_type": "code", "execution_count": None, "id": uuid.uuid4().hex[:8], "metadata": {},
                       "outputs": [], "source": c} for c in cells],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


@contextlib.contextmanager
def jupyter_lab(root: Path, notebooks: dict[str, list[str]]) -> Iterator[tuple[str, str, Path]]:
    """A JupyterLab server on a free loopback port serving ``notebooks``; yields (base url, token, work dir)."""
    settings = root / ".settings"
    for name, value in {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
                        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                            {"checkForUpdates": False, "fetchNews": "false"},
                        # as a user who ticks Settings > Save Widget State Automatically
                        "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True}
                        }.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    work = root / "work"
    work.mkdir(exist_ok=True)
    for name, cells in notebooks.items():
        (work / name).write_text(json.dumps(notebook(cells)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = uuid.uuid4().hex
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(root / "ws"),
           "JUPYTER_RUNTIME_DIR": str(root / "rt")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--port-retries=0", "--allow-root", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("JupyterLab did not start")
        yield base, token, work
    finally:
        server.terminate()
        server.wait(20)


def run_notebook(page, base: str, token: str, name: str, sentinel: str, timeout_ms: int = 120000,
                 classic: bool = False) -> None:
    """Open ``name`` in Lab (its own workspace, so no other notebook is restored beside it) or, with ``classic``,
    in Notebook 7; wait for the kernel, run all cells, wait for ``sentinel`` in an output."""
    workspace = Path(name).stem.replace(".", "-")
    url = f"/notebooks/{name}" if classic else f"/lab/workspaces/{workspace}/tree/{name}"
    page.goto(f"{base}{url}?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60000)
    page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
                           "?.status === 'idle'", timeout=60000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(f"text={sentinel}", timeout=timeout_ms)
