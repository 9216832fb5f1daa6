# Two commands set up a fresh machine: `make demo` (the main job, embedded default) and
# `make test` (the test suite CI runs). Both create .venv and install on first use.
VENV   ?= .venv
PYTHON ?= python3
# The CPU build of torch; pinned so pip never pulls a multi-GB CUDA build by accident.
TORCH  ?= torch==2.13.0
PYTEST_ARGS ?=
# The lock file: every version the tests passed with (scripts/lock writes it; README says when).
LOCK   ?= constraints.txt

$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c $(LOCK) "$(TORCH)"
	$(VENV)/bin/pip install -q -c $(LOCK) -e '.[dev]'
	touch $@

.PHONY: install demo serve test test-unit lint lock
install: $(VENV)/.installed

# After changing dependencies: reinstall, pass `make test`, then rewrite the lock from the venv.
lock:
	scripts/lock $(VENV)

demo: install
	$(VENV)/bin/m3tr demo

serve: install
	$(VENV)/bin/m3tr serve

# The full CI set: ruff, then unit + integration (real PostgreSQL, Redis, Celery workers) + ui
# (Chromium).
test: install
	$(VENV)/bin/ruff check m3tr tests benchmarks
	$(VENV)/bin/pytest -m "not gpu" $(PYTEST_ARGS)

test-unit: install
	$(VENV)/bin/pytest -m "not gpu and not integration and not ui" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check m3tr tests benchmarks
