# Two commands: `make demo` and `make test`; each bootstraps .venv from a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup proto lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m examples.demo

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Regenerate the protobuf modules from hulian/wire/*.proto (the generated files are committed).
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I hulian/wire --python_out=hulian/wire --grpc_python_out=hulian/wire \
		--pyi_out=hulian/wire hulian/wire/ptp.proto
	sed -i 's/^import ptp_pb2 as ptp__pb2/from hulian.wire import ptp_pb2 as ptp__pb2/' hulian/wire/ptp_pb2_grpc.py

lint: $(STAMP)
	$(BIN)/ruff check hulian tests bench examples

bench: $(STAMP)
	$(BIN)/python bench/transport.py

clean:
	rm -rf $(VENV) .demo
