"""The `EcdhCipher` interface the PSI engine programs against, and the batch-buffer checks every cipher shares."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from hulian.crypto.ecc.suite import EcSuite

BytesLike = bytes | bytearray | memoryview


class EcdhCipher(ABC):
    """Hash items to points and mask points with a secret scalar, a whole batch per call.

    Points travel as one flat buffer of `point_size`-byte encodings (item i at [i*ps:(i+1)*ps]), which is the
    `ciphertext` layout of EcdhPsiCipherBatch, so batches go to and from the wire without re-framing.
    Instances hold no secret and no native handle: build one per worker process with `open_cipher`.
    """

    suite: EcSuite
    backend: str
    point_size: int

    def __init__(self, suite: EcSuite, backend: str, point_size: int) -> None:
        self.suite = suite
        self.backend = backend
        self.point_size = point_size

    def __repr__(self) -> str:
        return f"{type(self).__name__}(suite={self.suite}, backend={self.backend!r})"

    @abstractmethod
    def new_key(self) -> bytes:
        """A fresh secret scalar from `secrets`, as opaque bytes this cipher's `mask` accepts."""

    @abstractmethod
    def hash_to_points(self, items: Sequence[bytes]) -> bytes:
        """Map each item to a point; returns len(items)*point_size bytes."""

    @abstractmethod
    def mask(self, key: bytes, points: BytesLike) -> bytes:
        """k·P for every point; same layout; raises InvalidPoint naming the first bad index."""

    def _matrix(self, points: BytesLike) -> np.ndarray:
        """View a flat point buffer as nxpoint_size uint8 rows, refusing a ragged length."""
        buf = np.frombuffer(points, dtype=np.uint8)
        if buf.size % self.point_size:
            raise ValueError(
                f"point buffer of {buf.size} bytes is not a multiple of the {self.point_size}-byte point size "
                f"of {self.suite}"
            )
        return buf.reshape(-1, self.point_size)

    @staticmethod
    def _check_key(key: bytes) -> bytes:
        if not isinstance(key, bytes | bytearray | memoryview) or len(key) != 32:
            raise ValueError("key must be 32 bytes")
        return bytes(key)
