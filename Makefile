# Pronghorn — the two commands a newcomer needs:
#   make run    set up a virtualenv and run a local 3-node cluster (SQLite store, REST API)
#   make test   set up everything the tests need (Debian packages, venv) and run them all
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export PRONGHORN_HOME ?= $(HOME)/.local/share/pronghorn

.PHONY: setup system venv run test lint proto bench clean

setup: system venv

system:
	@bash deploy/install-system-deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q uv  # resolves s3fs/moto's botocore pins in seconds where pip backtracks for minutes
	$(BIN)/uv pip install -q --python $(PY) -e '.[test]'
	touch $@

run: venv
	$(BIN)/pronghorn up --nodes 3 --api

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy domain projections
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/pytest -q

proto: venv
	$(PY) -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. proto/*.proto

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
