# govtrust: `make run` serves the dev federation, `make test` runs the suite.
# Either may be the first command on a fresh clone: both create .venv first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench venv clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "govtrust needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/govtrust dev-init
	$(BIN)/govtrust serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench.ca
	$(BIN)/python -m bench.identity
	$(BIN)/python -m bench.render
	$(BIN)/python -m bench.seal
	$(BIN)/python -m bench.log
	$(BIN)/python -m bench.registry
	$(BIN)/python -m bench.verify

clean:
	rm -rf $(VENV) var out .pytest_cache .ruff_cache
