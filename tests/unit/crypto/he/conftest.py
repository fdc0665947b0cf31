"""Keys shared by the HE tests: key generation costs tenths of a second, so one per session and size."""
from __future__ import annotations

import pytest

from hulian.crypto.he.paillier import PaillierSecretKey, generate_paillier


@pytest.fixture(scope="session")
def paillier_sk() -> PaillierSecretKey:
    """A 1024-bit key: the arithmetic is the same at 2048, the tests four times faster."""
    return generate_paillier(1024, allow_insecure_keys=True)


@pytest.fixture(scope="session")
def paillier_sk_other() -> PaillierSecretKey:
    return generate_paillier(1024, allow_insecure_keys=True)
