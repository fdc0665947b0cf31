"""ctypes binding to Intel crypto_mb (`libcrypto_mb.so` from the PyPI wheel `ipp-crypto`).

crypto_mb computes 8 independent operations per call with AVX512-IFMA, which is why it is ~3x libsodium on
X25519. The wheel installs the library into `<venv>/lib`, and its Intel runtime dependencies (libimf, libsvml,
libirng, libintlc from `intel-cmplr-lib-rt`) beside it without an rpath, so they are preloaded RTLD_GLOBAL.
The library is loaded once per process, lazily; `load()` returns None when it is absent or the CPU lacks IFMA.

Pointer arrays: each call takes arrays of 8 pointers. They are built with numpy address arithmetic over the
whole batch (one uint64 row per call) instead of per-item ctypes objects; short tails repeat lane 0's input
and write to scratch.
"""
from __future__ import annotations

import ctypes
import importlib.metadata
import sys
import threading
from pathlib import Path

import numpy as np

_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None = None
_TRIED = False
_ERROR = ""
_DEPENDENCIES = ("libintlc.so.5", "libimf.so", "libsvml.so", "libirng.so")


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    try:
        for f in importlib.metadata.files("ipp-crypto") or ():
            if f.name.startswith("libcrypto_mb.so"):
                dirs.append(Path(str(f.locate())).resolve().parent)
                break
    except importlib.metadata.PackageNotFoundError:
        pass
    dirs.append(Path(sys.prefix) / "lib")
    return dirs


def _open() -> ctypes.CDLL:
    errors = []
    for d in _candidate_dirs():
        lib_path = d / "libcrypto_mb.so"
        if not lib_path.exists():
            errors.append(f"{lib_path}: missing")
            continue
        for dep in _DEPENDENCIES:
            if (d / dep).exists():
                ctypes.CDLL(str(d / dep), mode=ctypes.RTLD_GLOBAL)
        return ctypes.CDLL(str(lib_path))
    raise OSError("; ".join(errors) or "libcrypto_mb.so not found")


def load() -> ctypes.CDLL | None:
    """The library if it loads and `mbx_is_crypto_mb_applicable(0)` says this CPU can run it, else None."""
    global _LIB, _TRIED, _ERROR
    if _TRIED:
        return _LIB
    with _LOCK:
        if _TRIED:
            return _LIB
        try:
            lib = _open()
            lib.mbx_is_crypto_mb_applicable.argtypes = [ctypes.c_uint64]
            lib.mbx_is_crypto_mb_applicable.restype = ctypes.c_int
            if not lib.mbx_is_crypto_mb_applicable(0):
                raise OSError("CPU lacks the AVX512-IFMA features crypto_mb needs")
            vp = ctypes.c_void_p
            lib.mbx_x25519_mb8.argtypes = [vp, vp, vp]
            lib.mbx_x25519_mb8.restype = ctypes.c_uint32
            lib.mbx_sm2_ecdh_mb8.argtypes = [vp, vp, vp, vp, vp, vp]
            lib.mbx_sm2_ecdh_mb8.restype = ctypes.c_uint32
            _LIB = lib
        except (OSError, AttributeError) as exc:
            _ERROR = str(exc)
            _LIB = None
        _TRIED = True
    return _LIB


def unavailable_reason() -> str:
    load()
    return _ERROR


def _require() -> ctypes.CDLL:
    lib = load()
    if lib is None:
        raise OSError(f"crypto_mb unavailable: {_ERROR}")
    return lib


def lane_pointers(base: int, stride: int, n: int, pad: int) -> np.ndarray:
    """Row g holds the addresses of items 8g..8g+7; missing tail lanes point to `pad`."""
    groups = (n + 7) // 8
    addrs = np.full(groups * 8, pad, dtype=np.uint64)
    addrs[:n] = base + stride * np.arange(n, dtype=np.uint64)
    return addrs.reshape(groups, 8)


def failed_lanes(status: int) -> list[int]:
    """The lanes whose 4-bit field of an mbx_status is non-zero."""
    return [lane for lane in range(8) if (status >> (4 * lane)) & 0xF]


def _mb8(call, key: bytes, inputs: list[np.ndarray], tail: tuple = ()) -> tuple[np.ndarray, list[int]]:
    """Run an mb8 function `call(out, keys, *inputs, *tail)` over nx32 uint8 `inputs`, 8 rows a call, with the
    same 32-byte `key` in every lane → (nx32 uint8 results, indices crypto_mb flagged)."""
    n = inputs[0].shape[0]
    out = np.empty((n, 32), dtype=np.uint8)
    if n == 0:
        return out, []
    srcs = [np.ascontiguousarray(a, dtype=np.uint8) for a in inputs]
    scratch = np.empty((8, 32), dtype=np.uint8)
    key_buf = ctypes.create_string_buffer(bytes(key), 32)
    key_ptrs = (ctypes.c_void_p * 8)(*([ctypes.addressof(key_buf)] * 8))
    in_ptrs = [lane_pointers(a.ctypes.data, 32, n, a.ctypes.data) for a in srcs]
    out_ptrs = lane_pointers(out.ctypes.data, 32, n, scratch.ctypes.data)
    kp, op, ips = ctypes.addressof(key_ptrs), out_ptrs.ctypes.data, [p.ctypes.data for p in in_ptrs]
    bad: list[int] = []
    for g in range(out_ptrs.shape[0]):
        status = call(op + 64 * g, kp, *(ip + 64 * g for ip in ips), *tail)
        if status:
            bad.extend(8 * g + lane for lane in failed_lanes(status) if 8 * g + lane < n)
    return out, bad


def x25519_batch(key: bytes, points: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """X25519(key, u) for each row of `points` (nx32 uint8) → (nx32 uint8, indices crypto_mb flagged).

    The key is clamped inside. crypto_mb flags a small-order u (all-zero result) as a lane error.
    """
    return _mb8(_require().mbx_x25519_mb8, key, [points])


def sm2_ecdh_batch(scalar_le: bytes, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """x(k·P) big-endian for affine P given as little-endian rows `xs`, `ys` (nx32 uint8).

    Returns the nx32 result and the indices crypto_mb flagged (e.g. a point not on the curve).
    """
    return _mb8(_require().mbx_sm2_ecdh_mb8, scalar_le, [xs, ys], (None, None))


def describe() -> str:
    """Library path for logs and the benchmark header."""
    lib = load()
    return str(lib._name) if lib is not None else f"unavailable ({_ERROR})"
