"""Shared helpers for the ECC tests: every backend that can run here, per curve."""
from __future__ import annotations

import pytest

from hulian.crypto.ecc import available_backends

X25519_BACKENDS = [b for b in ("crypto_mb", "libsodium") if available_backends()[b]]
SM2_BACKENDS = [b for b in ("crypto_mb", "openssl", "gmpy2") if available_backends()[b]]


@pytest.fixture(params=X25519_BACKENDS)
def x25519_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=SM2_BACKENDS)
def sm2_backend(request: pytest.FixtureRequest) -> str:
    return request.param
