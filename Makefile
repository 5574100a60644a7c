# The two commands a newcomer needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench docs screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start the engine on an embedded SQLite file (./var/qorgau.sqlite) with a demo case.
run: $(STAMP)
	$(BIN)/qorgau serve

## Run the whole test suite (SQLite; PostgreSQL too when QORGAU_TEST_DATABASE_URL is set).
test: $(STAMP)
	$(BIN)/pytest

## Print the benchmark figures: engine, verification, API, migration, a national year, SQLite and PostgreSQL side by side
## (the last needs the PostgreSQL of docs/deploy.md; not part of the test suite).
bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/verify.py
	$(BIN)/python benchmarks/api.py
	$(BIN)/python benchmarks/migrate.py
	$(BIN)/python benchmarks/national_year.py --sizes 1000,2000,4000
	$(BIN)/python benchmarks/side_by_side.py

## Screenshots of every web page at desktop and phone width into docs/screenshots/ (needs /usr/bin/chromium).
screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

## Regenerate docs/algorithms/ from the definitions.
docs: $(STAMP)
	$(BIN)/qorgau docs

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
