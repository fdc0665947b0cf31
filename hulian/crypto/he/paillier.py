"""Paillier in the Damgård-Jurik-Nielsen form of the interconnection `PaillierPublicKey{n, hs}` (HEU's
"zpaillier"): g = n + 1, and the randomness is a fixed base raised to a short exponent.

Keys: n = pq with p ≡ q ≡ 3 (mod 4), gcd(p-1, q-1) = 2 and |p - q| of at least bits/2 - 2 bits (HEU's
rule against square-root attacks); h = -x^2 mod n for a random unit x; hs = h^n mod n^2.
Encryption: c = (1 + m·n) · hs^r mod n^2, r uniform over [0, 2^(bits/2)). That is DJN's choice and HEU's
(`Encryptor::GetRn`: `RandomExactBits(key_size / 2)`): hs generates (w.h.p.) the group of n-th residues
that are squares, and a bits/2-bit exponent is indistinguishable from a full one under the DJN assumption.
hs^r comes from a fixed-base table (`fixedbase.py`, window 10: ~64 MiB at 2048 bits, as HEU's), built
on the first encryption or re-randomisation, so a key only used to add and check costs nothing.
A DJN ciphertext is an ordinary Paillier ciphertext with g = n + 1 (hs^r = (h^r)^n), so any standard
Paillier secret key (python-paillier's, for one) decrypts it, and we decrypt theirs.

The secret-key holder encrypts faster (`PaillierSecretKey.encrypt_many`): the same hs^r, computed modulo
p^2 and q^2 with half-size tables and joined by CRT, costs about two thirds of the public path.
Decryption is CRT: m_p = L_p(c^(p-1) mod p^2) · h_p mod p, the same mod q, joined.
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence

import gmpy2
from gmpy2 import mpz

from hulian.crypto.he import keys, mbx
from hulian.crypto.he.base import Ciphertext, HeError, PublicKey, SecretKey
from hulian.crypto.he.fixedbase import FixedBase

WINDOW = 10  # fixed-base window, as HEU: ~64 MiB of hs^r table per 2048-bit key and process (8: 20 MiB, 1.3x slower)


class PaillierPublicKey(PublicKey):
    """A DJN Paillier public key; the constructor validates it (a received key is checked on construction)."""

    scheme = "paillier"

    def __init__(self, n: int, hs: int, *, allow_insecure_keys: bool = False) -> None:
        self.n = keys.check_modulus(self.scheme, n, allow_insecure_keys)
        self.bits = self.n.bit_length()
        self.nsquare = self.n * self.n
        self.hs = mpz(hs)
        if not 1 < self.hs < self.nsquare - 1:
            raise HeError("paillier public key refused: hs must lie in (1, n^2 - 1)")
        if gmpy2.gcd(self.hs, self.n) != 1:
            raise HeError("paillier public key refused: hs is not invertible modulo n^2")
        self.allow_insecure_keys = allow_insecure_keys
        self.exp_bits = self.bits // 2
        self._table: FixedBase | None = None

    @property
    def plaintext_modulus(self) -> mpz:
        return self.n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPublicKey) and self.n == other.n and self.hs == other.hs

    def __hash__(self) -> int:
        return hash((self.n, self.hs))

    def __repr__(self) -> str:
        return f"PaillierPublicKey({self.bits} bits, n=0x{self.n.digits(16)[:16]}...)"

    def __getstate__(self) -> dict:
        """Pickled without its table (a worker builds its own instead of receiving megabytes) and not checked
        again on unpickling: only this machine's worker processes unpickle keys."""
        return {**self.__dict__, "_table": None}

    # --- randomness -------------------------------------------------------------------------------------
    def noise_many(self, count: int) -> list[mpz]:
        """`count` fresh hs^r mod n^2: the costly part of encryption, separable so it can run ahead of need."""
        if self._table is None:
            self._table = FixedBase(self.hs, self.nsquare, self.exp_bits, WINDOW)
        return self._table.pow_many(secrets.randbits(self.exp_bits) for _ in range(count))

    # --- the scheme -------------------------------------------------------------------------------------
    def encrypt_many(self, plaintexts: Sequence[int]) -> list[Ciphertext]:
        n = self.n
        return self.add_many([1 + m * n for m in self.check_plaintexts(plaintexts)],  # 1 + mn is Enc(m), r = 1
                             self.noise_many(len(plaintexts)))

    @property
    def ciphertext_modulus(self) -> mpz:
        return self.nsquare

    def add_plain(self, a: Ciphertext, m: int) -> Ciphertext:
        return a * (1 + (m % self.n) * self.n) % self.nsquare

    def mul_plain(self, a: Ciphertext, k: int) -> Ciphertext:
        """a^k; k above n/2 (a negative scalar) goes through a^-1 and n - k, so -3 costs a 2-bit power."""
        k = mpz(k) % self.n
        if k > self.n >> 1:
            return gmpy2.powmod(gmpy2.invert(a, self.nsquare), self.n - k, self.nsquare)
        return gmpy2.powmod(a, k, self.nsquare)

    def mul_plain_many(self, cts: Sequence[Ciphertext], ks: Sequence[int]) -> list[Ciphertext]:
        """mul_plain pairwise, the powers batched on crypto_mb (n^2 is 4096-bit at 2048-bit keys)."""
        if len(cts) != len(ks):
            raise HeError(f"{len(cts)} ciphertexts but {len(ks)} scalars")
        n, half = self.n, self.n >> 1
        reduced = [mpz(k) % n for k in ks]
        bases = [a if k <= half else gmpy2.invert(a, self.nsquare) for a, k in zip(cts, reduced, strict=True)]
        return mbx.powmod_many(bases, [k if k <= half else n - k for k in reduced], self.nsquare)

    def neg(self, a: Ciphertext) -> Ciphertext:
        return gmpy2.invert(a, self.nsquare)

    def rerandomize_many(self, cts: Sequence[Ciphertext]) -> list[Ciphertext]:
        return self.add_many(cts, self.noise_many(len(cts)))  # hs^r is Enc(0)

    def check(self, c: Ciphertext) -> None:
        if not 0 < c < self.nsquare:
            raise HeError(f"not a ciphertext under this {self.bits}-bit paillier key: outside (0, n^2)")
        if gmpy2.gcd(c, self.n) != 1:
            raise HeError(f"not a ciphertext under this {self.bits}-bit paillier key: not invertible mod n^2")

    def check_plaintexts(self, plaintexts: Sequence[int]) -> list[mpz]:
        """The plaintexts as mpz; HeError for one outside [0, n)."""
        ms = [mpz(m) for m in plaintexts]
        for m in ms:
            if not 0 <= m < self.n:
                raise HeError(f"plaintext outside [0, n) of this {self.bits}-bit paillier key "
                              f"(encode negatives and floats with encoding.FixedPoint)")
        return ms


class PaillierSecretKey(SecretKey):
    """p and q with CRT constants. Never persisted, logged or sent to a peer; it pickles only so that worker
    processes on this machine (`parallel.py`) can decrypt, and its repr shows the public part alone."""

    def __init__(self, p: int, q: int, public: PaillierPublicKey) -> None:
        p, q = mpz(p), mpz(q)
        if p * q != public.n:
            raise HeError("paillier secret key refused: p·q is not the public modulus")
        self.public = public
        self._p, self._q = p, q
        self._p2, self._q2 = p * p, q * q
        n1 = public.n + 1
        self._hp = gmpy2.invert((gmpy2.powmod(n1, p - 1, self._p2) - 1) // p, p)
        self._hq = gmpy2.invert((gmpy2.powmod(n1, q - 1, self._q2) - 1) // q, q)
        self._p_inv_q = gmpy2.invert(p, q)
        self._p2_inv_q2 = gmpy2.invert(self._p2, self._q2)
        self._tables: tuple[FixedBase, FixedBase] | None = None

    @classmethod
    def from_primes(cls, p: int, q: int, *, allow_insecure_keys: bool = False) -> PaillierSecretKey:
        """A key from given primes (tests, and python-paillier interoperability), with a fresh hs."""
        n = mpz(p) * mpz(q)
        return cls(p, q, PaillierPublicKey(n, _hs(p, q), allow_insecure_keys=allow_insecure_keys))

    def __repr__(self) -> str:
        return f"PaillierSecretKey(public={self.public!r})"

    def __getstate__(self) -> dict:
        """As the public key's: without the tables, and with the CRT constants (not computed again)."""
        return {**self.__dict__, "_tables": None}

    def decrypt_many(self, cts: Sequence[Ciphertext]) -> list[int]:
        p, q, p2, q2 = self._p, self._q, self._p2, self._q2
        hp, hq, pinv = self._hp, self._hq, self._p_inv_q
        for c in cts:
            self.public.check(c)
        # the two CRT halves batched: on crypto_mb 8 at a time (p^2 and q^2 are 2048-bit at 2048-bit keys)
        xp = mbx.powmod_many([c % p2 for c in cts], [p - 1] * len(cts), p2)
        xq = mbx.powmod_many([c % q2 for c in cts], [q - 1] * len(cts), q2)
        out = []
        for a, b in zip(xp, xq, strict=True):
            mp = (a - 1) // p * hp % p
            mq = (b - 1) // q * hq % q
            out.append(int(mp + p * ((mq - mp) * pinv % q)))
        return out

    def encrypt_many(self, plaintexts: Sequence[int]) -> list[Ciphertext]:
        """Encryption by the key holder: the same distribution as the public path (hs^r, r of bits/2 bits),
        with hs^r computed mod p^2 and q^2 (half-size tables, a third the cost per step) and joined by CRT."""
        pub = self.public
        ms = pub.check_plaintexts(plaintexts)
        if self._tables is None:
            self._tables = (FixedBase(pub.hs % self._p2, self._p2, pub.exp_bits, WINDOW),
                            FixedBase(pub.hs % self._q2, self._q2, pub.exp_bits, WINDOW))
        tp, tq = self._tables
        p2, q2, inv, n = self._p2, self._q2, self._p2_inv_q2, pub.n
        rs = [secrets.randbits(pub.exp_bits) for _ in ms]
        noise = [rp + p2 * ((rq - rp) * inv % q2)  # the powers batched on crypto_mb lanes
                 for rp, rq in zip(tp.pow_many(rs), tq.pow_many(rs), strict=True)]
        return pub.add_many([1 + m * n for m in ms], noise)


def _hs(p: int, q: int) -> mpz:
    """hs = (-x^2)^n mod n^2 for a random unit x, computed by CRT (mod p^2 and q^2)."""
    p, q = mpz(p), mpz(q)
    n = p * q
    while True:
        x = mpz(secrets.randbelow(int(n) - 2)) + 2
        if gmpy2.gcd(x, n) == 1:
            break
    h = -x * x % n
    p2, q2 = p * p, q * q
    hp, hq = gmpy2.powmod(h, n, p2), gmpy2.powmod(h, n, q2)
    return hp + p2 * ((hq - hp) * gmpy2.invert(p2, q2) % q2)


def generate_paillier(bits: int = 2048, *, allow_insecure_keys: bool = False) -> PaillierSecretKey:
    """A fresh key pair (at the key holder, per job): n of exactly `bits` bits."""
    keys.check_key_size("paillier", bits, allow_insecure_keys)
    if bits % 2:
        raise HeError(f"paillier key size must be even (got {bits})")
    half = bits // 2
    while True:
        p = keys.random_prime(half, 3)
        q = keys.random_prime(half, 3)
        if gmpy2.gcd(p - 1, q - 1) == 2 and (p - q).bit_length() >= half - 2 and (p * q).bit_length() == bits:
            return PaillierSecretKey.from_primes(p, q, allow_insecure_keys=allow_insecure_keys)
