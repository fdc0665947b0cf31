"""EncryptedVector: a vector of ciphertexts under one public key with the fixed-point encoding of its values.

It carries `scale` (how many 2^frac_bits factors its plaintexts hold: 1 after encryption, +1 per product by
a float) and, when known, `bound`: an upper bound of its values' encoded magnitudes. Every operation updates
the bound and refuses (HeError) one whose result could leave the encoding's range, so an overflow is reported
where it happens; a vector received from a peer has no bound (None) and relies on decoding's range check.
Scalars and plain vectors broadcast as numpy does for 1-d arrays of equal length or length 1.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hulian.crypto.he import parallel
from hulian.crypto.he.base import Ciphertext, HeError, PublicKey, SecretKey
from hulian.crypto.he.encoding import FixedPoint

Plain = float | int | Sequence[float] | Sequence[int] | np.ndarray


class EncryptedVector:
    def __init__(self, public_key: PublicKey, ciphertexts: list[Ciphertext], encoder: FixedPoint,
                 scale: int = 1, bound: int | None = None) -> None:
        if encoder.modulus != public_key.plaintext_modulus:
            raise HeError("the encoder's modulus is not the key's plaintext modulus")
        self.public_key, self.ciphertexts, self.encoder = public_key, ciphertexts, encoder
        self.scale, self.bound = scale, bound

    @classmethod
    def encrypt(cls, key: PublicKey | SecretKey, values: Plain, encoder: FixedPoint) -> EncryptedVector:
        """Encrypt with a public key, or with a secret key (the key holder's faster path, where it has one)."""
        signed = encoder.signed_many(np.atleast_1d(np.asarray(values)))
        public = getattr(key, "public", key)
        m = encoder.modulus
        cts = parallel.encrypt_many(key, [v % m for v in signed])
        return cls(public, cts, encoder, 1, max(map(abs, signed), default=0))

    def __len__(self) -> int:
        return len(self.ciphertexts)

    def __repr__(self) -> str:
        return f"EncryptedVector({len(self)} x {self.public_key.scheme}-{self.public_key.bits}, scale={self.scale})"

    def decrypt(self, secret_key: SecretKey) -> np.ndarray:
        if secret_key.public != self.public_key:
            raise HeError("this vector was encrypted under another public key")
        return self.encoder.decode_many(parallel.decrypt_many(secret_key, self.ciphertexts), self.scale)

    def rerandomize(self) -> EncryptedVector:
        return self._like(parallel.rerandomize_many(self.public_key, self.ciphertexts), self.scale, self.bound)

    # --- arithmetic ------------------------------------------------------------------------------------
    def __add__(self, other: EncryptedVector | Plain) -> EncryptedVector:
        if isinstance(other, EncryptedVector):
            a, b = self._aligned(other)
            pk = a.public_key
            pairs = list(_broadcast(a.ciphertexts, b.ciphertexts))
            cts = pk.add_many([x for x, _ in pairs], [y for _, y in pairs])
            return a._like(cts, a.scale, _sum_bound(a.bound, b.bound, self.encoder))
        signed = self.encoder.signed_many(np.atleast_1d(np.asarray(other)), self.scale)
        pk, m = self.public_key, self.encoder.modulus
        cts = [pk.add_plain(c, v % m) for c, v in _broadcast(self.ciphertexts, signed)]
        return self._like(cts, self.scale, _sum_bound(self.bound, max(map(abs, signed)), self.encoder))

    __radd__ = __add__

    def __neg__(self) -> EncryptedVector:
        pk = self.public_key
        return self._like([pk.neg(c) for c in self.ciphertexts], self.scale, self.bound)

    def __sub__(self, other: EncryptedVector | Plain) -> EncryptedVector:
        return self + (-other if isinstance(other, EncryptedVector) else -np.asarray(other))

    def __rsub__(self, other: Plain) -> EncryptedVector:
        return -self + other

    def __mul__(self, other: Plain) -> EncryptedVector:
        """Product by plain values: integers keep the scale, floats add one 2^frac_bits factor."""
        arr = np.atleast_1d(np.asarray(other))
        integral = arr.dtype.kind in "iu" or (arr.dtype == object and all(isinstance(v, int) for v in arr.flat))
        extra = 0 if integral else 1  # Python ints beyond int64 (an object array) are integers too
        signed = self.encoder.signed_many(arr, extra)
        bound = None if self.bound is None else self.bound * max(map(abs, signed))
        if bound is not None and bound > self.encoder.max_encoded:
            raise HeError("product would overflow the encoding's range (use a larger key or fewer fraction bits)")
        pk, m = self.public_key, self.encoder.modulus
        pairs = list(_broadcast(self.ciphertexts, signed))
        cts = pk.mul_plain_many([c for c, _ in pairs], [k % m for _, k in pairs])
        return self._like(cts, self.scale + extra, bound)

    __rmul__ = __mul__

    def sum(self) -> EncryptedVector:
        """Enc(sum of the values), a vector of one."""
        acc = self.public_key.sum_many(self.ciphertexts)
        bound = None if self.bound is None else self.bound * len(self)
        return self._like([acc], self.scale, _sum_bound(bound, 0, self.encoder))

    # --- helpers ---------------------------------------------------------------------------------------
    def _like(self, cts: list[Ciphertext], scale: int, bound: int | None) -> EncryptedVector:
        return EncryptedVector(self.public_key, cts, self.encoder, scale, bound)

    def _aligned(self, other: EncryptedVector) -> tuple[EncryptedVector, EncryptedVector]:
        """Both vectors at the larger scale (the smaller one multiplied by a power of two)."""
        if other.public_key != self.public_key:
            raise HeError("cannot combine vectors encrypted under different public keys")
        if other.encoder.frac_bits != self.encoder.frac_bits:
            raise HeError("cannot combine vectors with different fixed-point encodings")
        if self.scale == other.scale:
            return self, other
        low, high = (self, other) if self.scale < other.scale else (other, self)
        lifted = low * (1 << (self.encoder.frac_bits * (high.scale - low.scale)))  # an integer: scale kept
        lifted.scale = high.scale
        return (lifted, high) if low is self else (high, lifted)


def _broadcast(xs: Sequence, ys: Sequence) -> zip:
    if len(ys) == 1:
        ys = [ys[0]] * len(xs)
    elif len(xs) == 1:
        xs = [xs[0]] * len(ys)
    if len(xs) != len(ys):
        raise HeError(f"length mismatch: {len(xs)} and {len(ys)}")
    return zip(xs, ys, strict=True)


def _sum_bound(a: int | None, b: int | None, encoder: FixedPoint) -> int | None:
    if a is None or b is None:
        return None
    if a + b > encoder.max_encoded:
        raise HeError("sum would overflow the encoding's range")
    return a + b
