"""Fixed-base windowed exponentiation: base^e mod m for many e with the base and modulus fixed.

The DJN Paillier noise hs^r and OU's h^r raise one public base to a fresh random exponent per ciphertext.
Square-and-multiply (gmpy2.powmod) pays one squaring per exponent bit; with a table of
base^(d * 2^(w*i)) mod m for every digit d < 2^w and every w-bit position i, an exponent costs only one
multiplication per non-zero w-bit digit: ceil(exp_bits / w) multiplications instead of ~1.2 * exp_bits
operations (the BGMW / Yao method HEU's `MontgomerySpace::MakeBaseTable` also uses).

Memory is the price: ceil(exp_bits / w) * 2^w residues of `modulus`'s size. For DJN-2048 (modulus n^2 of
4096 bits = 512 bytes, 1024-bit exponents): w=8 gives 128 x 256 entries = 16 MiB; w=10 (HEU's density)
gives 103 x 1024 = 53 MiB. Building the table costs the same number of modular multiplications as its
entries (w=8: ~0.15 s at 4096 bits). A table is pickled as its parameters and rebuilt in the receiving
process, so handing one to a worker costs the worker that build, not 16 MiB through a pipe.

Batches (`pow_many`, from MB_MIN_BATCH exponents) run on AVX512-IFMA where crypto_mb serves the modulus
(`mbfixed.py`: the same table in Montgomery form, 8 lanes a call, 2-3.5x faster here); HULIAN_HE_BACKEND=gmpy2
or a machine without IFMA keeps them here. Each table is built on first use, so a key used only in batches
holds only the IFMA table (20 MiB at 4096 bits, window 8) and one used only singly only this one.
"""
from __future__ import annotations

from collections.abc import Iterable

import gmpy2
from gmpy2 import mpz

from hulian.crypto.he import mbfixed

DEFAULT_WINDOW = 8
MB_MIN_BATCH = 5  # an IFMA group costs 8 lanes: measured crossover 3-5 exponents at 1024-4096 bits


class FixedBase:
    """base^e mod modulus for 0 <= e < 2^exp_bits, by table lookup and ceil(exp_bits / window) multiplications."""

    __slots__ = ("_mb", "_rows", "_table", "base", "exp_bits", "modulus", "window")

    def __init__(self, base: int, modulus: int, exp_bits: int, window: int = DEFAULT_WINDOW) -> None:
        if modulus < 3 or not 1 <= window <= 16 or exp_bits < 1:
            raise ValueError(f"FixedBase needs modulus >= 3, 1 <= window <= 16, exp_bits >= 1 "
                             f"(got {int(modulus).bit_length()}-bit modulus, window {window}, exp_bits {exp_bits})")
        self.modulus = mpz(modulus)
        self.base = gmpy2.f_mod(mpz(base), self.modulus)
        self.exp_bits = exp_bits
        self.window = window
        self._rows = -(-exp_bits // window)
        self._table: list[mpz] | None = None
        self._mb: mbfixed.MbFixedBase | None = None

    def _build(self) -> list[mpz]:
        """Row i holds g_i^d for d in [0, 2^w), g_i = base^(2^(w*i)); flattened row-major for one index lookup."""
        m, size = self.modulus, 1 << self.window
        table: list[mpz] = []
        g = self.base
        for _ in range(self._rows):
            acc = mpz(1)
            row = [acc]
            for _ in range(size - 1):
                acc = acc * g % m
                row.append(acc)
            table.extend(row)
            g = acc * g % m  # g^(2^w): the next row's generator
        return table

    @property
    def nbytes(self) -> int:
        """Approximate memory of the tables built so far (the residues' limbs, not Python's object overhead)."""
        gmpy2_bytes = len(self._table) * ((self.modulus.bit_length() + 7) // 8) if self._table is not None else 0
        return gmpy2_bytes + (self._mb.nbytes if self._mb is not None else 0)

    def pow(self, e: int) -> mpz:
        """base^e mod modulus; ValueError for e outside [0, 2^exp_bits)."""
        x = int(e)
        if x < 0 or x.bit_length() > self.exp_bits:
            raise ValueError(f"exponent of {x.bit_length()} bits outside [0, 2^{self.exp_bits}) for this table")
        if self._table is None:
            self._table = self._build()
        table, m, w = self._table, self.modulus, self.window
        mask, size = (1 << w) - 1, 1 << w
        acc = None
        offset = 0
        while x:
            d = x & mask
            if d:
                acc = table[offset + d] if acc is None else acc * table[offset + d] % m
            x >>= w
            offset += size
        return mpz(1) if acc is None else acc

    def pow_many(self, es: Iterable[int]) -> list[mpz]:
        """[base^e mod modulus for e in es], on AVX512-IFMA when the batch is large enough and it runs here."""
        es = list(es)
        if len(es) >= MB_MIN_BATCH and mbfixed.supports(self.modulus):
            if self._mb is None:
                self._mb = mbfixed.MbFixedBase(self.base, self.modulus, self.exp_bits, self.window)
            return self._mb.pow_many(es)
        return [self.pow(e) for e in es]

    def __reduce__(self) -> tuple[type, tuple[mpz, mpz, int, int]]:
        return (FixedBase, (self.base, self.modulus, self.exp_bits, self.window))

    def __repr__(self) -> str:
        return (f"FixedBase({self.modulus.bit_length()}-bit modulus, exp_bits={self.exp_bits}, "
                f"window={self.window}, ~{self.nbytes >> 20} MiB)")
