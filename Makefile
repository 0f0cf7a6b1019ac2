# The course's task file. The README's two commands are `make book` and `make test`;
# both create the pinned environment first when it is missing or out of date.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NB     ?= notebooks
PYTEST_ARGS ?=

# Same results on every run: one BLAS thread, fixed hash seed, no telemetry.
# tools/determinism.env is the one list (conftest.py reads it too).
include tools/determinism.env
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: venv torch book test test-fast lab outputs students sync chapter bench-serving bench-memory hooks \
	lock clean \
	check-book vendor-mermaid lint mlflow-ui-images

venv: $(STAMP)

# uv installs the lock (hash-checked) in seconds; it is itself pinned in the lock.
# --compile-bytecode writes the .pyc files once, at install: without them (and with
# PYTHONDONTWRITEBYTECODE set, as on many CI machines) every kernel, server and CLI
# would recompile mlflow, pandas and scikit-learn on each start.
UV_VERSION := $(shell sed -n 's/^uv==\([^ ;]*\).*/\1/p' requirements.lock)

$(STAMP): requirements.lock requirements-torch.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python --require-hashes \
		requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	$(MAKE) --no-print-directory torch
	@touch $(STAMP)

# PyTorch's CPU build (requirements-torch.txt says why it is outside the lock). pip
# first looks only where it is configured to find local wheels (--no-index); when
# there are none, it takes the file from PyTorch's CPU index.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
torch:
	$(BIN)/python -m pip install -q --no-deps --no-index -r requirements-torch.txt 2>/dev/null \
		|| $(BIN)/python -m pip install -q --no-deps --extra-index-url $(TORCH_INDEX) \
		-r requirements-torch.txt

## Build the book into _build/html from the stored, nbval-verified outputs.
book: venv
	$(BIN)/jupyter-book build . -W -n --keep-going

## Every test: package, repo consistency, papermill + nbval on every notebook, book build; offline.
test: venv
	tools/offline $(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

## Only the fast tests: no notebook, kernel, server or external tool, no book build.
test-fast: venv
	tools/offline $(BIN)/python -m pytest -n 2 -m "not notebook and not book and not slow" tests $(PYTEST_ARGS)

## JupyterLab on the course, with the course's environment and Lab settings
## (binder/jupyter-config, which Binder installs too: no "Jupyter news" prompt).
LAB_CONFIG := $(abspath binder/jupyter-config)
lab: venv
	JUPYTER_CONFIG_PATH="$(LAB_CONFIG)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
		$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=. \
		--LabApp.default_url=/lab/tree/notebooks

## Re-execute notebooks in place and store their outputs (NB=notebooks/01_x.ipynb for one);
## then regenerate their student versions (student/), so they never fall behind.
outputs: venv
	tools/offline $(BIN)/python -m tools.execute $(NB)
	$(BIN)/python -m tools.students $(NB)

## Write student/: each chapter with its solutions replaced by stubs (generated:
## never edit them by hand; tests/test_students.py fails when one is stale).
students: venv
	$(BIN)/python -m tools.students

## Bring each notebook and its MyST text source in step; the newer file wins (NB=one).
sync: venv
	$(BIN)/python -m tools.pair $(if $(filter-out notebooks,$(NB)),$(NB))

## Skeleton of a new chapter: make chapter NN=08 SLUG=feature_store TITLE="Feature stores"
chapter: venv
	$(BIN)/python -m tools.new_chapter "$(NN)" "$(SLUG)" "$(TITLE)"

## Serving benchmark on loopback (prints a table; not part of `make test`).
bench-serving: venv
	tools/offline $(BIN)/python benchmarks/serving.py $(BENCH_ARGS)

## Peak memory of each notebook at its defaults, kernel and every process it starts
## (prints a table; not part of `make test`; NB=notebooks/14_x.ipynb for one).
bench-memory: venv
	tools/offline $(BIN)/python -m benchmarks.memory $(if $(filter-out notebooks,$(NB)),$(NB)) $(BENCH_ARGS)

## Install the repository's offline pre-commit hooks into .git/hooks.
hooks: venv
	$(BIN)/pre-commit install

## Re-resolve requirements.in into requirements.lock and derive the environment files.
lock: venv
	$(BIN)/python -m tools.lock

clean:
	rm -rf _build .workspace .pytest_cache

## Load every page of the built book in headless Chromium: console errors, broken links,
## missing images, undrawn diagrams, requests beyond loopback (screenshots: _build/screenshots).
check-book: book
	tools/offline $(BIN)/python -m tools.browser _build/html

## Re-fetch the pinned mermaid.js into book/_static (npm) and verify its SHA-256.
vendor-mermaid: venv
	$(BIN)/python -m tools.vendor_mermaid

## Every pre-commit hook on every file (ruff, hadolint, large/model files, notebook outputs).
lint: venv
	$(BIN)/pre-commit run --all-files

## Regenerate chapter 3's MLflow UI screenshots (book/images/mlflow_ui_*.png) from a real
## `mlflow server` on loopback; needs Debian's Chromium (apt-get install chromium).
mlflow-ui-images: venv
	tools/offline $(BIN)/python -m tools.mlflow_ui_screenshot
