"""RFC 9380 hash-to-curve for curve25519: suites curve25519_XMD:SHA-512_ELL2_RO_ and _NU_.

Why our own code: libsodium ≥ 1.0.19 has RFC 9380 for edwards25519 (`crypto_core_ed25519_from_string_ro`),
but PyNaCl 1.6 neither exposes nor exports it, and the system libsodium here is 1.0.18 (only the non-RFC
`from_hash`). So the RFC's steps are written out with gmpy2 field arithmetic: expand_message_xmd (§5.3.1,
hashlib SHA-512), hash_to_field (§5.2, L = 48), the generic Elligator 2 map (§6.7.1, J = 486662, K = 1, Z = 2),
affine Montgomery addition and cofactor clearing by 8 (§4.1 of RFC 7748's group law). Checked against all
RFC 9380 Appendix J.7.1 / J.7.2 vectors. Not constant-time: the input is the item, whose privacy PSI does
not need from timing (every party hashes its own set locally).

The output is the u-coordinate (RFC 7748 little-endian), which is what X25519 then masks.
"""
from __future__ import annotations

import hashlib

import gmpy2
from gmpy2 import mpz

P = mpz(2**255 - 19)
J = mpz(486662)
Z = mpz(2)
SQRT_M1 = gmpy2.powmod(2, (P - 1) // 4, P)
_L = 48  # ceil((ceil(log2(p)) + 128) / 8)

Point = tuple[mpz, mpz] | None  # affine Montgomery (u, v); None is the point at infinity


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-512 (b_in_bytes 64, s_in_bytes 128)."""
    if len(dst) > 255:
        dst = hashlib.sha512(b"H2C-OVERSIZE-DST-" + dst).digest()
    ell = -(-length // 64)
    if ell > 255 or length > 65535:
        raise ValueError("expand_message_xmd: requested length too large")
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha512(bytes(128) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    bi = hashlib.sha512(b0 + b"\x01" + dst_prime).digest()
    out = [bi]
    for i in range(2, ell + 1):
        bi = hashlib.sha512(bytes(a ^ b for a, b in zip(b0, bi, strict=True)) + bytes([i]) + dst_prime).digest()
        out.append(bi)
    return b"".join(out)[:length]


def hash_to_field(msg: bytes, dst: bytes, count: int) -> list[mpz]:
    uniform = expand_message_xmd(msg, dst, count * _L)
    return [mpz(int.from_bytes(uniform[i * _L:(i + 1) * _L], "big")) % P for i in range(count)]


def _sqrt(c: mpz) -> mpz | None:
    """A square root mod p (p ≡ 5 mod 8), or None."""
    y = gmpy2.powmod(c, (P + 3) // 8, P)
    if y * y % P == c:
        return y
    y = y * SQRT_M1 % P
    return y if y * y % P == c else None


def map_to_curve(u: mpz) -> tuple[mpz, mpz]:
    """Elligator 2 (RFC 9380 §6.7.1) onto curve25519, K = 1."""
    tv = (1 + Z * u * u) % P
    x1 = (-J * gmpy2.invert(tv, P)) % P if tv else mpz(0)  # inv0
    if x1 == 0:
        x1 = (-J) % P
    gx1 = (x1 * x1 * x1 + J * x1 * x1 + x1) % P
    y = _sqrt(gx1)
    if y is not None:
        x = x1
        if not y.is_odd():  # sgn0(y) == 1
            y = (P - y) % P
    else:
        x = (-x1 - J) % P
        y = _sqrt((x * x * x + J * x * x + x) % P)
        if y is None:  # impossible: one of gx1, gx2 is square
            raise ArithmeticError("elligator2: neither candidate is square")
        if y.is_odd():  # sgn0(y) == 0
            y = (P - y) % P
    return x, y


def add(p1: Point, p2: Point) -> Point:
    """Affine Montgomery addition (B = 1)."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 + 2 * J * x1 + 1) * gmpy2.invert(2 * y1, P) % P
    else:
        lam = (y2 - y1) * gmpy2.invert((x2 - x1) % P, P) % P
    x3 = (lam * lam - J - x1 - x2) % P
    y3 = (lam * (x1 - x3) - y1) % P
    return (x3, y3)


def clear_cofactor(pt: Point) -> Point:
    for _ in range(3):
        pt = add(pt, pt)
    return pt


def hash_to_curve(msg: bytes, dst: bytes) -> Point:
    """RO variant: two field elements, two maps, add, clear cofactor."""
    u0, u1 = hash_to_field(msg, dst, 2)
    return clear_cofactor(add(map_to_curve(u0), map_to_curve(u1)))


def encode_to_curve(msg: bytes, dst: bytes) -> Point:
    """NU variant: one field element, one map, clear cofactor."""
    (u0,) = hash_to_field(msg, dst, 1)
    return clear_cofactor(map_to_curve(u0))


def u_bytes(pt: Point) -> bytes:
    """RFC 7748 encoding of u (the point at infinity, negligible here, encodes as u = 0)."""
    return int(pt[0] if pt is not None else 0).to_bytes(32, "little")
