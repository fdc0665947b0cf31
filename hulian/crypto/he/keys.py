"""Key-size policy and the checks of a received modulus, shared by Paillier and OU.

Below 2048 bits an RSA-type modulus is within reach of a well-funded factoring effort (NIST SP 800-57 puts
2048 bits at the 112-bit security level), so smaller keys are refused unless a test asks for them with
`allow_insecure_keys=True`. A peer's modulus is checked for the forms that would make its ciphertexts
insecure or our arithmetic wrong; a modulus's factorisation itself cannot be checked without the factors.
"""
from __future__ import annotations

import secrets

import gmpy2
from gmpy2 import mpz

from hulian.crypto.he.base import HeError

MIN_KEY_BITS = 2048
MAX_KEY_BITS = 8192  # a peer's key this large would only be a way to make us spend minutes per operation
_SMALL_PRIMES = mpz(gmpy2.primorial(1000))  # product of the primes below 1000: one gcd excludes them all


def check_key_size(scheme: str, bits: int, allow_insecure_keys: bool = False) -> None:
    """HeError for a key outside [2048, 8192] bits (down to 64 bits with allow_insecure_keys, for tests)."""
    low = 64 if allow_insecure_keys else MIN_KEY_BITS
    if bits < low:
        raise HeError(f"{scheme} key of {bits} bits refused: keys below {MIN_KEY_BITS} bits are insecure "
                      f"(allow_insecure_keys=True exists for tests only)")
    if bits > MAX_KEY_BITS:
        raise HeError(f"{scheme} key of {bits} bits refused: above the {MAX_KEY_BITS}-bit maximum")


def check_modulus(scheme: str, n: int, allow_insecure_keys: bool = False) -> mpz:
    """`n` as mpz after the size policy and form checks: odd, no factor below 1000, not prime, not a perfect
    power (p^k, which has a trivial factorisation); HeError naming the failed check."""
    n = mpz(n)
    check_key_size(scheme, n.bit_length(), allow_insecure_keys)
    if not n & 1:
        raise HeError(f"{scheme} public key refused: its modulus is even")
    if gmpy2.gcd(n, _SMALL_PRIMES) != 1:
        raise HeError(f"{scheme} public key refused: its modulus has a factor below 1000")
    if gmpy2.is_prime(n):
        raise HeError(f"{scheme} public key refused: its modulus is prime")
    if gmpy2.is_power(n):
        raise HeError(f"{scheme} public key refused: its modulus is a perfect power")
    return n


def random_prime(bits: int, residue_mod_4: int | None = None) -> mpz:
    """A random prime of exactly `bits` bits with its top two bits set (so a product of two has 2*bits bits),
    optionally ≡ residue_mod_4 (mod 4). Randomness from the OS (`secrets`); primality by gmpy2 (BPSW + MR)."""
    top = mpz(3) << (bits - 2)
    while True:
        p = gmpy2.next_prime(mpz(secrets.randbits(bits)) | top)
        if p.bit_length() != bits or (residue_mod_4 is not None and p % 4 != residue_mod_4):
            continue
        if gmpy2.is_prime(p, 50):
            return p
