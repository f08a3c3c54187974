# `make demo` and `make test` each create the virtual environment on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test reference clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/forecast train sample_data/airline-passengers.csv --horizon 12 --model-dir demo-model
	$(BIN)/forecast predict --model-dir demo-model --horizon 12

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

reference: $(BIN)/.installed
	$(BIN)/python -m forecast.cli.reference README.md

clean:
	rm -rf $(VENV) demo-model model .pytest_cache
