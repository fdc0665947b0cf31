"""Okamoto-Uchiyama (OU), with the parameters of HEU's "ou" scheme (secretflow/heu,
`heu/library/algorithms/ou/`), which follows Coron-Naccache-Paillier, "Accelerating Okamoto-Uchiyama's
public-key cryptosystem" (1999).

Keys (matched to HEU): n = p^2 * q; p - 1 = t * u with t a prime of 2*lambda bits (lambda = 112 at 2048-bit
keys, 128 from 3072, 80 below 2048: HEU's 224/256/160) and q about the size of p. The public G = g^u and
H = g'^(n*u) for random g, g' (HEU's capital_g_ / capital_h_): G^t = g^(p-1) has order p modulo p^2 and
H^t = 1 there, which is what lets decryption raise to the short t instead of p - 1:
    Enc(m) = G^m * H^r mod n,   Dec(c) = L(c^t mod p^2) * L(G^t mod p^2)^-1 mod p,   L(x) = (x - 1) / p.
Differences from HEU: n has exactly `bits` bits (HEU's 2048-bit keys have 2052-2055), and r has 2*lambda
bits where HEU draws 110 (or 128) bits: with r of k bits a kangaroo search for r tells which of two
plaintexts a ciphertext holds in ~2^(k/2) steps, so k = 2*lambda keeps the lambda-bit level. r is the
encryptor's own choice; ciphertexts from either side decrypt on the other.

Plaintexts: the true plaintext group is Z_p, and p is secret, so the public plaintext space is
M = 2^(bits(n) // 3 - 1) <= p (a power of two like HEU's max_plaintext; HEU allows |m| < 2^682 at its
2048-bit sizes, we allow -2^680 <= m < 2^680 at 2048 bits). Encoded plaintexts are integers in [0, M)
whose upper half stands for the negatives m - M (the convention encoding.py uses), encrypted as G^-|m|.
Homomorphic results are exact while they stay inside [-M/2, M/2); decryption raises HeError for a result
between M/2 and p/2 in absolute value, and a result that ran past p/2 wraps modulo the secret p and goes
undetected with probability about M/p (< 1/2), so callers keep their values well inside the range (the
fixed-point encoder's documented range does).

Speed: fixed-base tables (fixedbase.py) for G, G^-1 and H make encryption a few dozen modular
multiplications; decryption raises to t on crypto_mb modulo n (8 lanes a call), which on this machine is
~2x gmpy2's powmod modulo the smaller p^2 (see mbx.py); ct*pt batches (`mul_plain_many`) go through
crypto_mb too. The key holder encrypts through the public path: computing G^m H^r modulo p^2 and q (CRT)
measured no faster here, the Python loop of the table lookups costing as much as the smaller products save.
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence

import gmpy2
from gmpy2 import mpz

from hulian.crypto.he import mbx
from hulian.crypto.he.base import Ciphertext, HeError, PublicKey, SecretKey
from hulian.crypto.he.fixedbase import FixedBase
from hulian.crypto.he.keys import check_key_size, check_modulus, random_prime

_PLAIN_WINDOW = 8    # G and G^-1 tables: 5 MiB each at 2048 bits; plaintexts are mostly short anyway
_NOISE_WINDOW = 8    # H table: 28 multiplications per 224-bit r, 2.3 MiB; 10 was slower on 2 workers (cache)


def security_bits(key_bits: int) -> int:
    """lambda for an OU modulus of `key_bits` bits (NIST SP 800-57 levels, as HEU sizes t)."""
    return 128 if key_bits >= 3072 else 112 if key_bits >= 2048 else 80


def _random_below(bound: mpz) -> mpz:
    return mpz(secrets.randbelow(int(bound)))


class OuPublicKey(PublicKey):
    """n, G, H as received or generated; validated on construction. Tables are built on first use."""

    scheme = "ou"

    def __init__(self, n: int, g: int, h: int, *, allow_insecure_keys: bool = False) -> None:
        self.n, self.g, self.h = check_modulus("ou", n, allow_insecure_keys), mpz(g), mpz(h)
        self.bits = self.n.bit_length()
        self._validate()
        self.random_bits = 2 * security_bits(self.bits)
        self.plaintext_bits = self.bits // 3 - 1
        self._modulus = mpz(1) << self.plaintext_bits
        self._half = self._modulus >> 1
        self._tables: tuple[FixedBase, FixedBase, FixedBase] | None = None

    def _validate(self) -> None:
        """n's form is checked by keys.check_modulus (OU's n = p^2 q is no perfect power either)."""
        n = self.n
        for name, x in (("g", self.g), ("h", self.h)):
            if not 1 < x < n or gmpy2.gcd(x, n) != 1:
                raise HeError(f"OU public key: {name} must be a unit modulo n other than 0 and 1")
        if self.g == self.h:
            raise HeError("OU public key: g and h must differ")

    def __getstate__(self) -> dict:
        """Tables are rebuilt where the key is unpickled (a worker), not sent."""
        return {**self.__dict__, "_tables": None}

    def __repr__(self) -> str:
        return f"OuPublicKey({self.bits} bits, n={int(self.n) & 0xFFFFFFFF:08x}...)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OuPublicKey) and (self.n, self.g, self.h) == (other.n, other.g, other.h)

    def __hash__(self) -> int:
        return hash((self.n, self.g, self.h))

    @property
    def plaintext_modulus(self) -> mpz:
        return self._modulus

    def _fixed_bases(self) -> tuple[FixedBase, FixedBase, FixedBase]:
        if self._tables is None:
            n, plain = self.n, self.plaintext_bits
            self._tables = (FixedBase(self.g, n, plain, _PLAIN_WINDOW),
                            FixedBase(gmpy2.invert(self.g, n), n, plain, _PLAIN_WINDOW),
                            FixedBase(self.h, n, self.random_bits, _NOISE_WINDOW))
        return self._tables

    def signed(self, m: int) -> int:
        """The signed value an encoded plaintext in [0, M) stands for; HeError outside [0, M)."""
        if not 0 <= m < self._modulus:
            raise HeError(f"OU plaintext outside [0, 2^{self.plaintext_bits})")
        return m - self._modulus if m >= self._half else m

    def _g_pow(self, s: int) -> mpz:
        g_table, g_inv_table, _ = self._fixed_bases()
        return g_table.pow(s) if s >= 0 else g_inv_table.pow(-s)

    def noise_many(self, count: int) -> list[mpz]:
        """H^r for fresh random r of `random_bits` bits: the part of Enc that is independent of m."""
        h_table = self._fixed_bases()[2]
        return h_table.pow_many(secrets.randbits(self.random_bits) for _ in range(count))

    def encrypt_many(self, plaintexts: Sequence[int]) -> list[Ciphertext]:
        signed = [self.signed(m) for m in plaintexts]
        return self.add_many(self._g_pow_many(signed), self.noise_many(len(signed)))  # G^m is Enc(m) with r = 0

    def _g_pow_many(self, signed: Sequence[int]) -> list[mpz]:
        """G^s for each s, batched per sign (G's table for s >= 0, G^-1's for s < 0)."""
        g_table, g_inv_table, _ = self._fixed_bases()
        pos = iter(g_table.pow_many([s for s in signed if s >= 0]))
        neg = iter(g_inv_table.pow_many([-s for s in signed if s < 0]))
        return [next(pos) if s >= 0 else next(neg) for s in signed]

    @property
    def ciphertext_modulus(self) -> mpz:
        return self.n

    def add_plain(self, a: Ciphertext, m: int) -> Ciphertext:
        return a * self._g_pow(self.signed(m)) % self.n

    def mul_plain(self, a: Ciphertext, k: int) -> Ciphertext:
        s = self.signed(k % self._modulus)
        return gmpy2.powmod(a if s >= 0 else self._invert(a), abs(s), self.n)

    def mul_plain_many(self, cts: Sequence[Ciphertext], ks: Sequence[int]) -> list[Ciphertext]:
        """[Enc(k * x)] for each pair; negative k (taken modulo M) raise the inverse ciphertext."""
        if len(cts) != len(ks):
            raise HeError(f"{len(cts)} ciphertexts but {len(ks)} scalars")
        signed = [self.signed(k % self._modulus) for k in ks]
        bases = [a if s >= 0 else self._invert(a) for a, s in zip(cts, signed, strict=True)]
        return mbx.powmod_many(bases, [abs(s) for s in signed], self.n)

    def _invert(self, a: Ciphertext) -> mpz:
        try:
            return gmpy2.invert(a, self.n)
        except ZeroDivisionError:
            raise HeError("OU ciphertext is not invertible modulo n: not a ciphertext under this key") from None

    def neg(self, a: Ciphertext) -> Ciphertext:
        return self._invert(a)

    def rerandomize_many(self, cts: Sequence[Ciphertext]) -> list[Ciphertext]:
        return self.add_many(cts, self.noise_many(len(cts)))  # H^r is Enc(0)

    def check(self, c: Ciphertext) -> None:
        if not isinstance(c, int | mpz):
            raise HeError(f"OU ciphertext must be an integer, got {type(c).__name__}")
        if not 0 < c < self.n or gmpy2.gcd(c, self.n) != 1:
            raise HeError("OU ciphertext outside the units modulo n: not a ciphertext under this key")


class OuSecretKey(SecretKey):
    """p, q and t stay in this object: never persisted, logged or sent; `repr` shows only the size."""

    def __init__(self, public: OuPublicKey, p: int, q: int, t: int) -> None:
        self.public = public
        self._p, self._q, self._t = mpz(p), mpz(q), mpz(t)
        self._p2 = self._p * self._p
        if self._p2 * self._q != public.n or (self._p - 1) % self._t:
            raise HeError("OU secret key does not match its public key")
        gp = gmpy2.powmod(public.g, self._t, self._p2)
        if gp == 1:
            raise HeError("OU public g has no component of order p: cannot decrypt")
        self._gp_inv = gmpy2.invert((gp - 1) // self._p, self._p)
        if (public.plaintext_modulus >> 1) > self._p >> 1:
            raise HeError("OU plaintext space exceeds p/2 for this key")

    def __repr__(self) -> str:
        return f"OuSecretKey({self.public.bits} bits)"

    def __reduce__(self) -> tuple[type, tuple[OuPublicKey, mpz, mpz, mpz]]:
        """Only for worker processes on this machine (parallel.py)."""
        return (OuSecretKey, (self.public, self._p, self._q, self._t))

    def decrypt_many(self, cts: Sequence[Ciphertext]) -> list[int]:
        n, p, p2 = self.public.n, self._p, self._p2
        for c in cts:
            if not 0 < c < n or c % p == 0:
                raise HeError("OU ciphertext outside the units modulo n: not a ciphertext under this key")
        if mbx.supports(n.bit_length()):
            powers = [x % p2 for x in mbx.powmod_many(cts, [self._t] * len(cts), n)]
        else:
            powers = [gmpy2.powmod(c % p2, self._t, p2) for c in cts]
        return [self._plaintext(x) for x in powers]

    def _plaintext(self, x: mpz) -> int:
        """m from x = c^t mod p^2 = 1 + m * L(G^t) * p (mod p^2), mapped to [0, M)."""
        p, public = self._p, self.public
        ell, rem = gmpy2.f_divmod(x - 1, p)
        if rem:
            raise HeError("OU decryption failed: not a ciphertext under this key (wrong key or corrupted)")
        s = ell * self._gp_inv % p
        if s > p >> 1:
            s -= p
        modulus = public.plaintext_modulus
        if not -(modulus >> 1) <= s < modulus >> 1:
            raise HeError(f"OU plaintext overflow: the result left [-2^{public.plaintext_bits - 1}, "
                          f"2^{public.plaintext_bits - 1})")
        return int(s % modulus)


def generate_ou(bits: int = 2048, *, allow_insecure_keys: bool = False) -> OuSecretKey:
    """A fresh OU key pair with n of exactly `bits` bits (the secret key's `.public` is the public key)."""
    check_key_size("ou", bits, allow_insecure_keys)
    t_bits = 2 * security_bits(bits)
    p_bits = bits // 3 + 1
    if p_bits < 2 * t_bits + 2:
        raise HeError(f"OU keys need at least {3 * (2 * t_bits + 1)} bits for a {t_bits}-bit t")
    t = random_prime(t_bits)
    # p = t*u + 1 with its top two bits set, so that q below has at most as many bits as p.
    u_low, u_high = -(-(3 << (p_bits - 2)) // t), ((1 << p_bits) - 2) // t
    while True:
        u = u_low + _random_below(u_high - u_low)
        p = t * u + 1
        if gmpy2.is_prime(p):
            break
    p2 = p * p
    q_low, q_high = -(-(mpz(1) << (bits - 1)) // p2), ((mpz(1) << bits) - 1) // p2
    while True:
        q = gmpy2.next_prime(q_low + _random_below(q_high - q_low))
        if q <= q_high and q != p:
            break
    n = p2 * q
    while True:
        g0 = _random_below(n)
        if gmpy2.gcd(g0, n) == 1:
            g = gmpy2.powmod(g0, u, n)
            if gmpy2.powmod(g, t, p2) != 1:
                break
    while True:
        h0 = _random_below(n)
        if gmpy2.gcd(h0, n) == 1:
            h = gmpy2.powmod(h0, n * u, n)
            if h != 1 and h != g:
                break
    public = OuPublicKey(n, g, h, allow_insecure_keys=allow_insecure_keys)
    return OuSecretKey(public, p, q, t)
