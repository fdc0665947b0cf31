"""Signed fixed-point numbers in a plaintext space Z_M, and packing of several small numbers per plaintext.

FixedPoint: x is encoded as round(x · 2^(frac_bits · scale)) mod M, a negative value as M - |v|. `scale` is
how many 2^frac_bits factors the value carries: 1 after encoding, 2 after a ciphertext of scale 1 is
multiplied by an encoded (scale 1) float, and so on; EncryptedVector keeps it.

frac_bits defaults to 32: absolute precision 2^-33 ≈ 1.2e-10 per encoded value, so a sum of a million
SecureBoost gradients keeps an error below 1.2e-4 in the worst case (~1e-7 typically), well inside the
~1e-6 relative precision that gradients and LR updates need; at 2048-bit Paillier the range is unaffected
(about 2^1950), and a 32-bit fraction keeps scalars short (a ct·pt exponent is ~32 + integer bits).

Range, exactly: MAX = M >> 64 (GUARD_BITS). encode_many accepts |round(x · 2^(f·scale))| <= MAX, else HeError.
decode_many reads a residue v as +v if v <= MAX, as -(M - v) if M - v <= MAX, and raises HeError for any
residue in between. So a result whose true magnitude is <= MAX decodes correctly; one between MAX and
M - MAX (an overflow of a sum or product) is an error, never a wrong number; and a ciphertext decrypted
under the wrong key (a uniform residue) lands in the error band with probability 1 - 2^-63. EncryptedVector
also tracks a bound of its values' magnitudes and refuses, before computing, an operation whose result could
exceed MAX. Decoded floats are float64 (the result of an exact integer division, correctly rounded).

Packer: k slots of b bits in one plaintext, for non-negative integers below 2^(b - headroom), so that up to
2^headroom packed plaintexts can be added (or one multiplied by a scalar below 2^headroom) before a slot
carries into the next. Only addition and non-negative scalar multiplication act slot-wise; negatives need an
offset added by the caller, and a product of two packed values is meaningless. k · b must stay below the
plaintext modulus's bit length.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gmpy2 import mpz

from hulian.crypto.he.base import HeError

DEFAULT_FRAC_BITS = 32
GUARD_BITS = 64


class FixedPoint:
    """Floats and signed integers <-> residues mod `modulus` (see the module docstring for range and precision)."""

    def __init__(self, modulus: int, frac_bits: int = DEFAULT_FRAC_BITS) -> None:
        self.modulus = int(modulus)
        if frac_bits < 0 or self.modulus.bit_length() <= GUARD_BITS + 2 * frac_bits + 2:
            raise HeError(f"fixed point with {frac_bits} fraction bits does not fit a "
                          f"{self.modulus.bit_length()}-bit plaintext modulus")
        self.frac_bits = frac_bits
        self.max_encoded = self.modulus >> GUARD_BITS

    def __repr__(self) -> str:
        return f"FixedPoint({self.modulus.bit_length()}-bit modulus, frac_bits={self.frac_bits})"

    def signed_many(self, values: Sequence[int] | np.ndarray, scale: int = 1) -> list[int]:
        """The exact integers round(x · 2^(frac_bits · scale)) (integer input exact, floats rounded), range-checked."""
        shift = self.frac_bits * scale
        arr = np.asarray(values)
        if arr.dtype.kind in "iu":
            ints = [int(v) << shift for v in arr.ravel().tolist()]
        elif arr.dtype.kind == "f":
            ints = _rounded(arr.ravel(), shift)
        elif arr.dtype == object:  # Python ints beyond int64 (exact) mixed with floats (rounded)
            items = arr.ravel().tolist()
            if not all(isinstance(v, int | float) for v in items):
                raise HeError("can only encode ints and floats")
            ints = [v << shift if isinstance(v, int) else _rounded(np.array([v]), shift)[0] for v in items]
        else:
            raise HeError(f"cannot encode values of dtype {arr.dtype}")
        limit = self.max_encoded
        for v in ints:
            if abs(v) > limit:
                raise HeError(f"value too large to encode: |x| must stay below {limit >> shift} "
                              f"(2^{limit.bit_length() - shift}) at {self.frac_bits} fraction bits")
        return ints

    def encode_many(self, values: Sequence[float | int] | np.ndarray, scale: int = 1) -> list[int]:
        """Residues in [0, modulus) of `values` (floats rounded to the nearest 2^-(frac_bits·scale))."""
        m = self.modulus
        return [v % m for v in self.signed_many(values, scale)]

    def decode_signed_many(self, residues: Sequence[int]) -> list[int]:
        """The signed integers the residues stand for; HeError in the overflow band."""
        m, limit = self.modulus, self.max_encoded
        out = []
        for r in residues:
            r = int(r)
            if r <= limit:
                out.append(r)
            elif m - r <= limit:
                out.append(r - m)
            else:
                raise HeError("decrypted value outside the encoding's range: an overflow of the computation, "
                              "or a ciphertext under another key")
        return out

    def check_scale(self, scale: int) -> None:
        """HeError for a scale no encoded value can have (a peer's header): 2^(frac_bits·scale) must fit the
        range, or decoding would only build a huge divisor (scale 2^31 asks for 8 GiB)."""
        if scale < 1 or self.frac_bits * scale >= self.max_encoded.bit_length():
            raise HeError(f"scale {scale}: at {self.frac_bits} fraction bits a value of this range can be scaled "
                          f"at most {max(1, (self.max_encoded.bit_length() - 1) // max(1, self.frac_bits))} times")

    def decode_many(self, residues: Sequence[int], scale: int = 1) -> np.ndarray:
        """float64 values of residues carrying `scale` fraction factors (int64 when frac_bits == 0)."""
        ints = self.decode_signed_many(residues)
        if self.frac_bits == 0:
            try:
                return np.array(ints, dtype=np.int64)
            except OverflowError:
                raise HeError("decoded integer outside int64") from None
        div = 1 << (self.frac_bits * scale)
        try:
            return np.array([v / div for v in ints], dtype=np.float64)
        except OverflowError:
            raise HeError("decoded value outside float64") from None


def _rounded(arr: np.ndarray, shift: int) -> list[int]:
    """round(x · 2^shift) for finite floats, exactly (through int64 when small enough, else Python ints)."""
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise HeError("cannot encode NaN or infinity")
    with np.errstate(over="ignore"):  # an overflow to inf is reported just below
        scaled = np.rint(np.ldexp(arr, shift))
    if not np.all(np.isfinite(scaled)):
        raise HeError(f"value too large to encode: beyond float64 once scaled by 2^{shift}")
    if scaled.size and np.max(np.abs(scaled)) < 2.0**62:
        return scaled.astype(np.int64).tolist()
    return [int(v) for v in scaled.tolist()]


class Packer:
    """`slots` non-negative integers of up to `bits - headroom` bits each in one plaintext (see module doc)."""

    def __init__(self, modulus: int, bits: int, headroom: int = 16, slots: int | None = None) -> None:
        capacity = (int(modulus).bit_length() - 1) // bits
        self.slots = capacity if slots is None else slots
        if not 0 <= headroom < bits or not 1 <= self.slots <= capacity:
            raise HeError(f"cannot pack {self.slots} slots of {bits} bits (headroom {headroom}) "
                          f"below a {int(modulus).bit_length()}-bit modulus (at most {capacity} slots)")
        self.bits, self.headroom = bits, headroom
        self.value_bits = bits - headroom

    def pack(self, values: Sequence[int] | np.ndarray) -> list[int]:
        """ceil(len / slots) plaintexts; slot i of a plaintext holds values[k·slots + i] at bit offset i·bits."""
        vs = [int(v) for v in np.asarray(values).ravel().tolist()]
        for v in vs:
            if not 0 <= v < 1 << self.value_bits:
                raise HeError(f"packed values must lie in [0, 2^{self.value_bits}) (got {v})")
        out = []
        for start in range(0, len(vs), self.slots):
            acc = mpz(0)
            for i, v in enumerate(vs[start:start + self.slots]):
                acc |= mpz(v) << (i * self.bits)
            out.append(int(acc))
        return out

    def unpack(self, plaintexts: Sequence[int], count: int) -> np.ndarray:
        """The first `count` slot values (object array of Python ints: a slot can exceed 64 bits)."""
        mask = (1 << self.bits) - 1
        out: list[int] = []
        for p in plaintexts:
            p = int(p)
            if p >> (self.slots * self.bits):
                raise HeError("packed plaintext overflowed its last slot")
            out.extend((p >> (i * self.bits)) & mask for i in range(self.slots))
        if count > len(out):
            raise HeError(f"{count} values asked from {len(out)} slots")
        return np.array(out[:count], dtype=object)
