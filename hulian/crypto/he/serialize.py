"""Public keys and ciphertext arrays in the interconnection serialisation, so that a peer's ciphertexts decrypt
here and ours there (secretflow/interconnection `runtime/phe.proto`, `runtime/data_exchange.proto`; the open
SGB protocol carries them so).

- An integer is a `Bigint{is_neg, little_endian_value}`: the magnitude's shortest little-endian bytes (none
  for 0); any zero padding a peer adds is accepted.
- A public key is a `DataExchangeProtocol` of scalar_type OBJECT, scalar_type_name "paillier_public_key",
  whose `scalar.buf` is a serialized `PaillierPublicKey{n, hs}`.
- Ciphertexts are a `DataExchangeProtocol` of scalar_type OBJECT, scalar_type_name "paillier_ciphertext",
  whose `v_ndarray` has the array's shape and, row-major, one serialized `PaillierCiphertext{c}` per item.
- Okamoto-Uchiyama has no interconnection message: hulian's extension (`wire/he_ext.proto`, package
  hulian.he.v1) carries `OuPublicKey{n, g, h}` and `OuCiphertext{c}` the same way, type names "ou_public_key"
  and "ou_ciphertext".

Everything received is validated (types, shape, key form and size policy, each ciphertext against the key):
a malformed or foreign message is an HeError naming what is wrong, never a wrong number later.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import gmpy2
from google.protobuf.message import DecodeError, Message

from hulian.crypto.he.base import Ciphertext, HeError, PublicKey
from hulian.crypto.he.ou import OuPublicKey
from hulian.crypto.he.paillier import PaillierPublicKey
from hulian.wire import he_ext_pb2
from hulian.wire.interconnection.runtime import data_exchange_pb2 as dx
from hulian.wire.interconnection.runtime import phe_pb2

OBJECT = dx.SCALAR_TYPE_OBJECT
PUBLIC_KEY_TYPE = {"paillier": "paillier_public_key", "ou": "ou_public_key"}     # ou: hulian extension
CIPHERTEXT_TYPE = {"paillier": "paillier_ciphertext", "ou": "ou_ciphertext"}     # ou: hulian extension
CIPHERTEXT_MESSAGE = {"paillier": phe_pb2.PaillierCiphertext, "ou": he_ext_pb2.OuCiphertext}


# ---- Bigint ---------------------------------------------------------------------------------------------------
def to_bigint(x: int) -> phe_pb2.Bigint:
    m = gmpy2.mpz(x)
    magnitude = abs(m)
    return phe_pb2.Bigint(is_neg=m < 0, little_endian_value=magnitude.to_bytes((magnitude.bit_length() + 7) // 8,
                                                                                "little"))


def from_bigint(b: phe_pb2.Bigint) -> gmpy2.mpz:
    magnitude = gmpy2.mpz.from_bytes(b.little_endian_value, "little")
    return -magnitude if b.is_neg else magnitude


# ---- the container --------------------------------------------------------------------------------------------
def _parse(cls: type[Message], data: bytes, what: str) -> Message:
    try:
        return cls.FromString(data)
    except DecodeError as e:
        raise HeError(f"{what}: not a serialized {cls.DESCRIPTOR.full_name} ({e})") from None


def _container(data: bytes, type_name: str, container: str) -> dx.DataExchangeProtocol:
    """The DataExchangeProtocol in `data`, checked to hold an OBJECT `type_name` in `container`."""
    msg = _parse(dx.DataExchangeProtocol, data, type_name)
    if msg.scalar_type != OBJECT or msg.scalar_type_name != type_name:
        raise HeError(f"expected a DataExchangeProtocol of OBJECT {type_name!r}, got scalar_type "
                      f"{msg.scalar_type} named {msg.scalar_type_name!r}")
    if msg.WhichOneof("container") != container:
        raise HeError(f"{type_name}: expected a {container} container, got {msg.WhichOneof('container')}")
    return msg


def _positive(b: phe_pb2.Bigint, what: str) -> gmpy2.mpz:
    x = from_bigint(b)
    if x <= 0:
        raise HeError(f"{what} must be a positive integer")
    return x


# ---- public keys ----------------------------------------------------------------------------------------------
def public_key_to_bytes(key: PublicKey) -> bytes:
    if isinstance(key, PaillierPublicKey):
        obj: Message = phe_pb2.PaillierPublicKey(n=to_bigint(key.n), hs=to_bigint(key.hs))
    elif isinstance(key, OuPublicKey):
        obj = he_ext_pb2.OuPublicKey(n=to_bigint(key.n), g=to_bigint(key.g), h=to_bigint(key.h))
    else:
        raise HeError(f"no interconnection serialisation for a {type(key).__name__}")
    return dx.DataExchangeProtocol(scalar_type=OBJECT, scalar_type_name=PUBLIC_KEY_TYPE[key.scheme],
                                   scalar=dx.Scalar(buf=obj.SerializeToString())).SerializeToString()


def public_key_from_bytes(data: bytes, scheme: str, allow_insecure_keys: bool = False) -> PublicKey:
    """A peer's public key of `scheme`, validated by the key's constructor (size policy, form)."""
    if scheme not in PUBLIC_KEY_TYPE:
        raise HeError(f"unknown scheme {scheme!r}; known: {sorted(PUBLIC_KEY_TYPE)}")
    buf = _container(data, PUBLIC_KEY_TYPE[scheme], "scalar").scalar.buf
    if scheme == "paillier":
        pk = _parse(phe_pb2.PaillierPublicKey, buf, "paillier_public_key")
        return PaillierPublicKey(_positive(pk.n, "Paillier n"), _positive(pk.hs, "Paillier hs"),
                                 allow_insecure_keys=allow_insecure_keys)  # it validates itself
    ok = _parse(he_ext_pb2.OuPublicKey, buf, "ou_public_key")
    return OuPublicKey(_positive(ok.n, "OU n"), _positive(ok.g, "OU g"), _positive(ok.h, "OU h"),
                       allow_insecure_keys=allow_insecure_keys)


# ---- ciphertext arrays ----------------------------------------------------------------------------------------
def ciphertexts_to_bytes(key: PublicKey, cts: Sequence[Ciphertext], shape: Sequence[int]) -> bytes:
    """One message: `cts` (row-major) as an array of `shape`."""
    if math.prod(shape) != len(cts):
        raise HeError(f"{len(cts)} ciphertexts cannot have shape {tuple(shape)}")
    item = CIPHERTEXT_MESSAGE[key.scheme]
    items = [item(c=to_bigint(c)).SerializeToString() for c in cts]
    return dx.DataExchangeProtocol(scalar_type=OBJECT, scalar_type_name=CIPHERTEXT_TYPE[key.scheme],
                                   v_ndarray=dx.VNdArray(shape=shape, items=items)).SerializeToString()


def ciphertexts_from_bytes(key: PublicKey, data: bytes) -> tuple[list[Ciphertext], tuple[int, ...]]:
    """(ciphertexts row-major, shape) of one message, each ciphertext checked against `key`."""
    type_name = CIPHERTEXT_TYPE[key.scheme]
    array = _container(data, type_name, "v_ndarray").v_ndarray
    shape = tuple(array.shape)
    if any(d < 0 for d in shape) or math.prod(shape) != len(array.items):
        raise HeError(f"{type_name}: {len(array.items)} items do not fill shape {shape}")
    item = CIPHERTEXT_MESSAGE[key.scheme]
    cts = [from_bigint(_parse(item, raw, type_name).c) for raw in array.items]
    for c in cts:
        key.check(c)
    return cts, shape


# ---- hulian's fixed-point header of a ctx.he array (extension) -------------------------------------------------
FIXED_POINT_TYPE = "hulian_fixed_point"


def fixed_point_to_bytes(frac_bits: int, scale: int, shape: Sequence[int]) -> bytes:
    header = he_ext_pb2.FixedPointArray(frac_bits=frac_bits, scale=scale, shape=shape)
    return dx.DataExchangeProtocol(scalar_type=OBJECT, scalar_type_name=FIXED_POINT_TYPE,
                                   scalar=dx.Scalar(buf=header.SerializeToString())).SerializeToString()


def fixed_point_from_bytes(data: bytes) -> tuple[int, int, tuple[int, ...]]:
    """(frac_bits, scale, shape) of a ctx.he array's header."""
    header = _parse(he_ext_pb2.FixedPointArray, _container(data, FIXED_POINT_TYPE, "scalar").scalar.buf,
                    FIXED_POINT_TYPE)
    shape = tuple(header.shape)
    if header.frac_bits < 0 or header.scale < 1 or any(d < 0 for d in shape):
        raise HeError(f"{FIXED_POINT_TYPE}: frac_bits {header.frac_bits}, scale {header.scale}, shape {shape} "
                      "make no array")
    return header.frac_bits, header.scale, shape
