# Two entry points, both doing all set-up themselves on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
# The CPU wheel of torch where the machine offers one (these machines do); any torch>=2.2 otherwise.
TORCH ?= torch==2.13.0
# JupyterLab of `make demo`: the port, and extra arguments (e.g. JUPYTER_ARGS=--ip=0.0.0.0 on a remote machine).
JUPYTER_PORT ?= 8888
JUPYTER_ARGS ?=
# Open a browser only where there is a display (a headless machine may start a text browser in the terminal).
NO_BROWSER := $(if $(DISPLAY)$(WAYLAND_DISPLAY)$(filter Darwin,$(shell uname)),,--no-browser)
# Jupyter refuses to run as root without --allow-root (containers, cloud notebooks, CI are often root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# One torch/BLAS thread per test process: the suite runs notebook kernels, a Jupyter server and a browser
# beside pytest, and default threads oversubscribe a small machine (31 min vs 6 min measured on 2 cores).
TEST_THREADS ?= 1

$(VENV)/.installed: pyproject.toml
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 10), "ganexplorer needs Python >= 3.10"' \
	  || { echo "*** $(PY) is older than 3.10: run make PY=python3.11 (or any Python >= 3.10)"; exit 1; }
	$(PY) -m venv $(VENV) || { echo "*** could not create $(VENV): on Debian/Ubuntu, apt-get install python3-venv"; exit 1; }
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
	@$(eval TOKEN := $(shell $(PY) -c 'import secrets; print(secrets.token_hex(16))'))
	@echo
	@echo "==> JupyterLab is starting on notebooks/01_quickstart.ipynb. Point your browser at"
	@echo "      http://localhost:$(JUPYTER_PORT)/lab/tree/01_quickstart.ipynb?token=$(TOKEN)"
	@echo "    (the token is the part after ?token=; '$(VENV)/bin/jupyter server list' prints the URL again)."
	@echo "    On a remote machine: ssh -L $(JUPYTER_PORT):localhost:$(JUPYTER_PORT) <host> first, or"
	@echo "    make demo JUPYTER_ARGS=--ip=0.0.0.0 and use the host's address. Another port: make demo JUPYTER_PORT=8890."
	@echo "    Stop it with Ctrl-C (twice). The traversal grids are in demo/*.png."
	@echo
	JUPYTER_TOKEN=$(TOKEN) $(VENV)/bin/jupyter lab $(ALLOW_ROOT) $(NO_BROWSER) --port=$(JUPYTER_PORT) \
	  --ServerApp.port_retries=0 --ServerApp.root_dir=notebooks $(JUPYTER_ARGS) notebooks/01_quickstart.ipynb

test: venv chromium
	$(VENV)/bin/ruff check ganexplorer tests benchmarks notebooks
	GANEXPLORER_QUICK=1 OMP_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) \
	  $(VENV)/bin/python -m pytest -q --durations=15 --nbval-lax tests notebooks

.PHONY: venv chromium demo test

# Mutation testing of the numerical core (issue 20): mutmut mutates directions/{sefa,describe,probes,bank}.py,
# the discovery package (trainer, reconstructors, deformators, sampling, rca, comparison) and
# generators/generator.py ([tool.mutmut] in pyproject.toml) and runs the fast tests that guard each function. It
# runs in a scratch copy of the work tree (mutmut writes a mutants/ folder), one process at nice 19; about
# 25 min for the core and 45 min for discovery on a loaded 2-core machine (measured). It prints killed / checked
# per module; `cd $(MUTATION_DIR) && mutmut browse` shows survivors.
MUTATION_DIR ?= /tmp/ganexplorer-mutation
MUTATION_JOBS ?= 1
# A uniform sample by mutant number: 1 in 5 of sefa, describe, probes and generator, 1 in 10 of bank.py (1129
# mutants, mostly file locking and merge messages) and of discovery (about 2200, a third of them error messages);
# MUTANTS='ganexplorer.*' runs every mutant (about 4000), MUTANTS='ganexplorer.directions.discovery.*0' one set.
MUTANTS ?= 'ganexplorer.directions.sefa.*__mutmut_*[05]' 'ganexplorer.directions.describe.*__mutmut_*[05]' \
  'ganexplorer.directions.probes.*__mutmut_*[05]' 'ganexplorer.generators.generator.*__mutmut_*[05]' \
  'ganexplorer.directions.bank.*__mutmut_*0' 'ganexplorer.directions.discovery.*__mutmut_*0'
mutation: venv
	rm -rf $(MUTATION_DIR) && mkdir -p $(MUTATION_DIR)
	git ls-files -co --exclude-standard -- ganexplorer tests benchmarks pyproject.toml | tar -cf - -T - | tar -xf - -C $(MUTATION_DIR)
	cd $(MUTATION_DIR) && nice -n 19 env OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(abspath $(VENV))/bin/mutmut run --max-children $(MUTATION_JOBS) $(MUTANTS) >mutmut.log 2>&1 \
	  || { tail -c 3000 mutmut.log; exit 1; }
	cd $(MUTATION_DIR) && $(abspath $(VENV))/bin/mutmut results --all true | awk -F': ' \
	  '{m=$$1; sub(/^ +/, "", m); sub(/\.[^.]*__mutmut_[0-9]+$$/, "", m); n[m]++; \
	   if ($$2 == "not checked") n[m]--; if ($$2 == "killed" || $$2 == "timeout") k[m]++} \
	   END {for (m in n) printf "%-40s killed %4d / %4d = %5.1f%%\n", m, k[m], n[m], 100 * k[m] / n[m]}' | sort

.PHONY: mutation

# The one-command GPU check (issue 26): on a CUDA machine, the CUDA tests, discovery against the reference (give a
# checkout of anvoynov/GANLatentDiscovery as GANEXPLORER_REFERENCE=path for the real peer), graph-vs-eager curves,
# notebook 03's table, large generators, rendering precision and distributed smoke runs, in about 8 minutes; the
# report lands in gpu-report/ and `$(GPU_PY) benchmarks/gpu_check.py --docs gpu-report/report.json` writes it into
# docs/results.md. GPU_PY: a Python whose torch has CUDA (.venv's is the CPU build on these machines).
GPU_PY ?= python3
gpu-check:
	PYTHONPATH=$(CURDIR) $(GPU_PY) benchmarks/gpu_check.py --out gpu-report

.PHONY: gpu-check
