# govtrust: `make run` serves the dev federation, `make test` runs the suite.
# Either may be the first command on a fresh clone: both create .venv first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench bench-quick load fuzz fuzz-atheris venv clean

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

# Every bench module, one report: bench/REPORT.md (GOVTRUST_BENCH_DATABASE_URL adds PostgreSQL).
bench: $(STAMP)
	$(BIN)/python -m bench.report

bench-quick: $(STAMP)
	$(BIN)/python -m bench.report --quick

# The mixed load for 3 minutes with 4 workers (GOVTRUST_BENCH_DATABASE_URL: PostgreSQL).
load: $(STAMP)
	$(BIN)/python -m bench.load --seconds 180 --workers 4

# The fuzz tests of the suite with many more examples (about 15 minutes).
fuzz: $(STAMP)
	GOVTRUST_FUZZ_EXAMPLES=200 GOVTRUST_FUZZ_SCALE=20 $(BIN)/python -m pytest -q \
		tests/govtrust/test_api_fuzz.py tests/govtrust/test_parser_fuzz.py \
		tests/verifier/test_properties.py

# Coverage-guided fuzzing of one parser with atheris: make fuzz-atheris TARGET=pdf SECONDS=600
TARGET ?= pdf
SECONDS ?= 600
fuzz-atheris: $(STAMP)
	$(BIN)/python -m pip install --quiet 'atheris>=2.3'
	$(BIN)/python -m fuzz.atheris_targets $(TARGET) -max_total_time=$(SECONDS) -rss_limit_mb=2048

clean:
	rm -rf $(VENV) var out .pytest_cache .ruff_cache
