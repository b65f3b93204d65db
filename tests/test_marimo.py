"""The Explorer in a marimo notebook (anywidget's promise: one widget for Jupyter and marimo), in a real browser:
``marimo run`` serves an app whose cell shows ``mo.ui.anywidget(Explorer(G))``; headless Chromium checks that the
frame draws, that a slider's arrow keys bring a new frame rendered by the kernel, that a refused value comes back
with its message (the widget's custom messages work there too), and that the gallery's keys name directions into
the bank file. marimo renders widgets inside a shadow root, where ``document.activeElement`` and a window
listener's ``e.target`` are the host element, not the focused input: the keyboard checks fail if the widget
relies on them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_harness import ARGS, CHROMIUM

from ganexplorer import DirectionBank

playwright = pytest.importorskip("playwright.sync_api")
pytest.importorskip("marimo")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (make chromium)", allow_module_level=True)

APP = '''import marimo

app = marimo.App(width="full")


@app.cell
def _():
    import marimo as mo

    import ganexplorer as gx
    from ganexplorer.widget import Explorer

    ex = Explorer(gx.load_generator("mnist", device="cpu"), bank_path="named.gxb")
    view = mo.ui.anywidget(ex)
    view
    return


if __name__ == "__main__":
    app.run()
'''

PIXELS = """c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0, max = 0;
  for (let i = 0; i < d.length; i += 4) { sum += d[i] * ((i / 4) % 97 + 1); max = Math.max(max, d[i]); }
  return {sum, max, seq: Number(c.dataset.seq)};
}"""


def _frame(page, after: int = 0, timeout: float = 90.0) -> dict:
    """The live canvas's pixels once its frame number passes ``after`` (marimo puts widgets in a shadow root:
    Playwright's locators pierce it, document.querySelector does not)."""
    canvas = page.locator(".gx-live-canvas")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if canvas.count() and canvas.evaluate("c => Number(c.dataset.seq || -1)") > after:
            return canvas.evaluate(PIXELS)
        time.sleep(0.25)
    raise AssertionError(f"no frame after {after} within {timeout} s")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def marimo_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("marimo")
    (folder / "app.py").write_text(APP)
    port = _port()
    marimo = shutil.which("marimo", path=str(Path(sys.executable).parent)) or "marimo"
    server = subprocess.Popen([marimo, "run", "app.py", "--headless", "--host", "127.0.0.1", "--port", str(port),
                               "--no-token"], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("marimo run did not answer within 60 s")
        yield base, folder
    finally:
        server.terminate()
        server.wait(10)


def test_the_explorer_draws_and_answers_in_marimo(marimo_app):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        base, folder = marimo_app
        page.goto(base)
        before = _frame(page)
        assert before["max"] > 200  # a digit: bright strokes on black
        slider = page.locator(".gx-slider-0 input[type=range]")
        slider.focus()
        for _ in range(15):
            slider.press("ArrowRight")
        _frame(page, before["seq"], 30)
        time.sleep(1.0)  # the burst's last frame
        # a frame the kernel rendered for the new shift
        assert page.locator(".gx-live-canvas").evaluate(PIXELS)["sum"] != before["sum"]
        assert page.locator(".gx-slider-0 .gx-readout").inner_text() == "2.25"
        seed = page.locator(".gx-seed")
        seed.fill("abc")
        seed.press("Enter")
        page.wait_for_selector("text=seed must be a whole number", timeout=30000)  # the kernel's refusal
        page.locator(".gx-tab-label").click()
        page.locator(".gx-grow-0").focus()
        for i in range(2):  # Enter opens the focused row's name, Enter saves it and moves to the next row
            page.keyboard.press("Enter")
            page.keyboard.type(f"name {i}")
            page.keyboard.press("Enter")
        deadline = time.monotonic() + 30
        labels = []
        while time.monotonic() < deadline and labels[:2] != ["name 0", "name 1"]:
            time.sleep(0.3)
            if (folder / "named.gxb").exists():
                labels = DirectionBank.load(folder / "named.gxb").labels
        assert labels[:2] == ["name 0", "name 1"]
        assert not errors, errors  # any script error on the page (a widget error need not name the widget)
        browser.close()
