"""Dual ciphertexts (items masked by both parties): what is compared, and the intersection itself.

The standard (PPCA ECDH-PSI §5) compares the low `bit_length_after_truncated` bits of the x coordinate
(-1: the whole serialized point). SecretFlow's deployed code always sends and compares the last 12 bytes of
the serialized point, whatever was negotiated: for compressed SM2 those are x's low 96 bits (as the standard
says), for little-endian Curve25519 they are u's high bytes. `Compat.SECRETFLOW` reproduces that.
"""
from __future__ import annotations

import numpy as np

from hulian.algorithms.ecdh_psi.params import SECRETFLOW_DUAL_BYTES, X_BYTES, Compat, PsiParams
from hulian.crypto.ecc import PointOctetFormat

PARTITIONS = 16


def dual_size(params: PsiParams, point_size: int) -> int:
    """Bytes of one dual ciphertext on the wire."""
    if params.compat == Compat.SECRETFLOW:
        return SECRETFLOW_DUAL_BYTES
    bits = params.bit_length_after_truncated
    return point_size if bits < 0 else (bits + 7) // 8


def truncate(params: PsiParams, points: bytes, point_size: int) -> bytes:
    """The dual ciphertexts of a batch of serialized points (n x point_size bytes)."""
    bits = params.bit_length_after_truncated
    if params.compat == Compat.STANDARD and bits < 0:
        return points
    arr = np.frombuffer(points, dtype=np.uint8).reshape(-1, point_size)
    if params.compat == Compat.SECRETFLOW:
        return arr[:, -SECRETFLOW_DUAL_BYTES:].tobytes()
    size = (bits + 7) // 8
    top_mask = (1 << (bits - 8 * (size - 1))) - 1
    if params.suite.point_format == PointOctetFormat.UNCOMPRESSED:  # Curve25519: little-endian u only
        out = arr[:, :size].copy()
        out[:, -1] &= top_mask
    else:  # X9.62: prefix byte, then x big-endian; its low bits are the last bytes of x
        out = arr[:, 1 + X_BYTES - size:1 + X_BYTES].copy()
        out[:, 0] &= top_mask
    return out.tobytes()


def intersect(own: np.ndarray, peer: np.ndarray) -> np.ndarray:
    """For each own dual ciphertext (rows of an n x L uint8 array), whether the peer's set holds it.

    Exact byte comparison (np.isin over L-byte values), done in PARTITIONS slices chosen by the value's first
    and last bytes (uniform for masked points), so the sort's temporaries are a sixteenth of the sets.
    """
    result = np.zeros(own.shape[0], dtype=bool)
    if own.shape[0] == 0 or peer.shape[0] == 0:
        return result
    if own.shape[1] != peer.shape[1]:
        raise ValueError(f"dual ciphertexts differ in size: ours {own.shape[1]} B, the peer's {peer.shape[1]} B; "
                         "both sides must use the same truncation")
    void = np.dtype((np.void, own.shape[1]))
    own_part, peer_part = _partition(own), _partition(peer)
    for part in range(PARTITIONS):
        rows = np.flatnonzero(own_part == part)
        theirs = np.ascontiguousarray(peer[peer_part == part]).view(void).ravel()
        result[rows] = np.isin(np.ascontiguousarray(own[rows]).view(void).ravel(), theirs)
    return result


def _partition(values: np.ndarray) -> np.ndarray:
    part = values[:, 0] ^ values[:, -1]
    part &= PARTITIONS - 1
    return part
