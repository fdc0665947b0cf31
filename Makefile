# Two commands: `make demo` and `make test`; each bootstraps .venv from a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup proto lint bench clean

# The interconnection protos (secretflow/interconnection packages, yacl's black-box reply).
IC_PROTOS := $(addprefix hulian/wire/interconnection/,common/header.proto link/transport.proto link/blackbox.proto \
	handshake/entry.proto handshake/protocol_family/ecc.proto handshake/algos/psi.proto runtime/ecdh_psi.proto \
	handshake/protocol_family/phe.proto runtime/phe.proto runtime/data_exchange.proto \
	handshake/protocol_family/ss.proto service/beaver.proto)
# hulian's own extension of them (Okamoto-Uchiyama objects; docs/he.md).
HE_EXT_PROTO := hulian/wire/he_ext.proto
# hulian's extension of the semi2k handshake (the dealer-free triple source; docs/mpc.md).
MPC_EXT_PROTO := hulian/wire/mpc_ext.proto

$(STAMP): pyproject.toml setup.py hulian/crypto/he/_batch.c hulian/crypto/ss/_ring.c
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
	$(BIN)/python -m grpc_tools.protoc -I hulian/wire --python_out=hulian/wire --grpc_python_out=hulian/wire \
		--pyi_out=hulian/wire $(IC_PROTOS)
	sed -i -E 's/^from interconnection\.([a-z_.]+) import/from hulian.wire.interconnection.\1 import/' \
		$(IC_PROTOS:.proto=_pb2.py) $(IC_PROTOS:.proto=_pb2.pyi) $(IC_PROTOS:.proto=_pb2_grpc.py)
	rm -f $(filter-out hulian/wire/interconnection/link/transport_pb2_grpc.py,$(IC_PROTOS:.proto=_pb2_grpc.py))
	$(BIN)/python -m grpc_tools.protoc -I hulian/wire --python_out=hulian/wire --pyi_out=hulian/wire $(HE_EXT_PROTO)
	sed -i -E 's/^from interconnection\.([a-z_.]+) import/from hulian.wire.interconnection.\1 import/' \
		$(HE_EXT_PROTO:.proto=_pb2.py) $(HE_EXT_PROTO:.proto=_pb2.pyi)
	$(BIN)/python -m grpc_tools.protoc -I hulian/wire --python_out=hulian/wire --pyi_out=hulian/wire $(MPC_EXT_PROTO)

lint: $(STAMP)
	$(BIN)/ruff check hulian tests bench examples
	$(BIN)/lint-imports --no-cache pyproject.toml

bench: $(STAMP)
	$(BIN)/python bench/transport.py
	$(BIN)/python bench/ecc.py
	$(BIN)/python bench/psi.py

clean:
	rm -rf $(VENV) .demo
