"""SM2 curve arithmetic with gmpy2: constants, point decoding, square roots and a fallback scalar multiplication.

Curve: the recommended 256-bit curve of GB/T 32918.5-2017 / GM/T 0003.5-2012 (y² = x³ + ax + b over F_p,
a = p - 3, cofactor 1). p ≡ 3 (mod 4), so √c = c^((p+1)/4).

`scalar_mult` is the portable fallback used when neither crypto_mb nor OpenSSL can do SM2: Jacobian
coordinates (a = -3 doubling), fixed 4-bit window. It is NOT constant-time (Python big integers never are);
the ECDH-PSI key is an ephemeral per-run secret, and the fast backends are preferred whenever present.
"""
from __future__ import annotations

import gmpy2
from gmpy2 import mpz

P = mpz(0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF)
A = mpz(0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC)
B = mpz(0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93)
N = mpz(0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123)
GX = mpz(0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7)
GY = mpz(0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0)
SQRT_EXP = (P + 1) // 4

Affine = tuple[mpz, mpz]
Jacobian = tuple[mpz, mpz, mpz]


def rhs(x: mpz) -> mpz:
    """x³ + ax + b mod p."""
    return (x * x * x + A * x + B) % P


def is_square(c: mpz) -> bool:
    """True for quadratic residues and for 0 (x with y = 0 is a point too)."""
    return gmpy2.legendre(c, P) >= 0


def sqrt(c: mpz) -> mpz | None:
    """A square root of c mod p, or None when c is a non-residue."""
    y = gmpy2.powmod(c, SQRT_EXP, P)
    return y if y * y % P == c % P else None


def scalar_from_key(key: bytes) -> mpz:
    """The secret scalar: 32 key bytes read little-endian (SecretFlow's reading), reduced mod n, non-zero."""
    if len(key) != 32:
        raise ValueError(f"an SM2 key is 32 bytes, got {len(key)}")
    k = mpz(int.from_bytes(key, "little")) % N
    if k == 0:
        raise ValueError("SM2 key reduces to 0 mod n")
    return k


def _double(p1: Jacobian) -> Jacobian:
    x, y, z = p1
    if z == 0 or y == 0:
        return (mpz(1), mpz(1), mpz(0))
    zz = z * z % P
    m = 3 * (x - zz) * (x + zz) % P  # a = -3
    yy = y * y % P
    s = 4 * x * yy % P
    x3 = (m * m - 2 * s) % P
    y3 = (m * (s - x3) - 8 * yy * yy) % P
    z3 = 2 * y * z % P
    return (x3, y3, z3)


def _add(p1: Jacobian, p2: Jacobian) -> Jacobian:
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    if h == 0:
        return _double(p1) if r == 0 else (mpz(1), mpz(1), mpz(0))
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - s1 * hhh) % P
    z3 = h * z1 * z2 % P
    return (x3, y3, z3)


def to_affine(p1: Jacobian) -> Affine | None:
    x, y, z = p1
    if z == 0:
        return None
    zi = gmpy2.invert(z, P)
    zi2 = zi * zi % P
    return (x * zi2 % P, y * zi2 * zi % P)


def scalar_mult(k: mpz, point: Affine) -> Affine | None:
    """k·P (None for the point at infinity) by a fixed 4-bit window."""
    base: Jacobian = (point[0], point[1], mpz(1))
    table: list[Jacobian] = [(mpz(1), mpz(1), mpz(0)), base]
    for _ in range(14):
        table.append(_add(table[-1], base))
    acc: Jacobian = (mpz(1), mpz(1), mpz(0))
    for shift in range(252, -1, -4):
        acc = _double(_double(_double(_double(acc))))
        acc = _add(acc, table[(k >> shift) & 0xF])
    return to_affine(acc)
