# Two entry points, both doing all set-up themselves on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
# The CPU wheel of torch where the machine offers one (these machines do); any torch>=2.2 otherwise.
TORCH ?= torch==2.13.0

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q "$(TORCH)" || $(VENV)/bin/pip install -q "torch>=2.2"
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

# Debian's chromium for the real-browser tests (never playwright's own download, which cannot work offline).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "*** WARNING: could not install chromium: browser tests will be skipped (they fail in CI) ***"

demo: venv
	$(VENV)/bin/ganexplorer grid --model mnist --directions 0-5 --samples 3 --out demo/mnist_sefa.png
	$(VENV)/bin/ganexplorer grid --model shapes --directions 0-5 --samples 3 --out demo/shapes_sefa.png
	$(VENV)/bin/jupyter lab notebooks/01_quickstart.ipynb

test: venv chromium
	$(VENV)/bin/ruff check ganexplorer tests benchmarks notebooks
	GANEXPLORER_QUICK=1 $(VENV)/bin/python -m pytest -q --nbval-lax tests notebooks

.PHONY: venv chromium demo test
