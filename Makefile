# Two commands: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench chaos stack-up stack-down clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required, found " + sys.version.split()[0]'
	@command -v java >/dev/null || { echo "A JDK 17+ is required (java not found): apt-get install openjdk-17-jdk-headless"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is required (mvn not found): apt-get install maven"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/sinergi demo

test: install
	bash .ci/install-browser.sh
	$(PY) -m pytest

bench: install
	$(PY) -m bench $(BENCH_ARGS)

chaos: install
	SINERGI_CHAOS_HOUSEHOLDS=$${SINERGI_CHAOS_HOUSEHOLDS:-400} $(PY) -m pytest -m chaos -p no:cacheprovider tests/chaos

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy contracts services bench --ignore-missing-imports

stack-up: install
	$(VENV)/bin/sinergi stack up

stack-down: install
	$(VENV)/bin/sinergi stack down

clean:
	rm -rf $(VENV) .stack
