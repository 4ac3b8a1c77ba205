# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv and install what is missing; a second run installs nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Workers share their Prometheus values through .metrics/ (emptied at each start).
run: $(VENV)/.installed
	rm -rf .metrics && mkdir .metrics
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/.metrics $(PY) -m uvicorn app.main:app --host $${HOST:-0.0.0.0} --port $${PORT:-8000} --workers $${WORKERS:-1} --timeout-graceful-shutdown 30

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .metrics
