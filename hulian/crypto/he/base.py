"""The interface every additively homomorphic scheme offers (Paillier DJN, Okamoto-Uchiyama): pure arithmetic
on Python/gmpy2 integers, no I/O. Ciphertexts are `gmpy2.mpz`; plaintexts are integers already encoded
(`encoding.py` maps floats and negatives into the plaintext space and back).

Batch methods (`*_many`) are the fast path: they may use precomputed tables, Intel crypto_mb and worker
processes; the single-value methods are for tests and small work.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import gmpy2

from hulian.crypto.he import _batch  # built by `pip install -e .` (setup.py)
from hulian.engine.pool import native_threads

Ciphertext = gmpy2.mpz


class HeError(ValueError):
    """A key, ciphertext or plaintext cannot be used; the message names what and why."""


class PublicKey(ABC):
    scheme: str            # "paillier" | "ou"
    n: gmpy2.mpz           # the public modulus
    bits: int              # key size as the policy counts it (bits of n)

    @property
    @abstractmethod
    def plaintext_modulus(self) -> gmpy2.mpz:
        """Plaintexts are integers modulo this (n for Paillier, ~p for OU's documented bound)."""

    @abstractmethod
    def encrypt_many(self, plaintexts: Sequence[int]) -> list[Ciphertext]:
        """Fresh ciphertexts of `plaintexts` (each in [0, plaintext_modulus)); HeError for one out of range."""

    @property
    @abstractmethod
    def ciphertext_modulus(self) -> gmpy2.mpz:
        """Ciphertexts are units modulo this (n^2 for Paillier, n for OU); adding plaintexts multiplies them."""

    def add(self, a: Ciphertext, b: Ciphertext) -> Ciphertext:
        """Enc(x + y) from Enc(x), Enc(y)."""
        return a * b % self.ciphertext_modulus

    def add_many(self, a: Sequence[Ciphertext], b: Sequence[Ciphertext]) -> list[Ciphertext]:
        """add pairwise: GMP in C outside the GIL over every core (`_batch`; 2.1x the Python loop on 2)."""
        if len(a) != len(b):
            raise HeError(f"{len(a)} ciphertexts added to {len(b)}")
        return _batch.mulmod_many(a, b, self.ciphertext_modulus, native_threads())

    def sum_many(self, cts: Sequence[Ciphertext]) -> Ciphertext:
        """Enc(sum) of non-empty `cts`: pairwise halving, so every level is one add_many over all cores."""
        level = list(cts)
        if not level:
            raise HeError("the sum of no ciphertexts is undefined here (encrypt a zero instead)")
        while len(level) > 1:
            half = len(level) // 2
            odd = level[2 * half:]
            level = self.add_many(level[:half], level[half:2 * half]) + odd
        return level[0]

    @abstractmethod
    def add_plain(self, a: Ciphertext, m: int) -> Ciphertext:
        """Enc(x + m)."""

    @abstractmethod
    def mul_plain(self, a: Ciphertext, k: int) -> Ciphertext:
        """Enc(k * x) (k an encoded plaintext: a negative k is taken modulo the plaintext space)."""

    def mul_plain_many(self, cts: Sequence[Ciphertext], ks: Sequence[int]) -> list[Ciphertext]:
        """[mul_plain(a, k)] pairwise; schemes batch it (crypto_mb) where that measures faster."""
        if len(cts) != len(ks):
            raise HeError(f"{len(cts)} ciphertexts but {len(ks)} scalars")
        return [self.mul_plain(a, k) for a, k in zip(cts, ks, strict=True)]

    @abstractmethod
    def neg(self, a: Ciphertext) -> Ciphertext:
        """Enc(-x)."""

    @abstractmethod
    def rerandomize_many(self, cts: Sequence[Ciphertext]) -> list[Ciphertext]:
        """The same plaintexts under fresh randomness (before a ciphertext leaves its computing party)."""

    @abstractmethod
    def check(self, c: Ciphertext) -> None:
        """HeError when `c` cannot be a ciphertext under this key (out of range, not invertible)."""

    def encrypt(self, m: int) -> Ciphertext:
        return self.encrypt_many([m])[0]


class SecretKey(ABC):
    public: PublicKey

    @abstractmethod
    def decrypt_many(self, cts: Sequence[Ciphertext]) -> list[int]:
        """The plaintexts in [0, plaintext_modulus) (encoding.py turns them back into signed values)."""

    def decrypt(self, c: Ciphertext) -> int:
        return self.decrypt_many([c])[0]

    def encrypt_many(self, plaintexts: Sequence[int]) -> list[Ciphertext]:
        """Encryption by the key holder: the public key's, unless the scheme knows a faster way with the
        secret (Paillier's CRT halves)."""
        return self.public.encrypt_many(plaintexts)

    @classmethod
    def encrypts_faster(cls) -> bool:
        """True when the key holder's encryption differs from (and measures faster than) the public one."""
        return cls.encrypt_many is not SecretKey.encrypt_many
