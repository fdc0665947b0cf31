"""The interconnection serialisation of HE objects: known answers written by hand from the proto encoding
(tag = field << 3 | wire type; 0 varint, 2 length-delimited), both directions, and every malformed or
foreign message refused with a clear HeError."""
from __future__ import annotations

import gmpy2
import pytest
from google.protobuf.descriptor import FieldDescriptor as F

from hulian.crypto.he import serialize as ser
from hulian.crypto.he.base import HeError
from hulian.crypto.he.ou import generate_ou
from hulian.crypto.he.paillier import PaillierPublicKey, generate_paillier
from hulian.wire import he_ext_pb2
from hulian.wire.interconnection.handshake.protocol_family import phe_pb2 as hs_phe
from hulian.wire.interconnection.runtime import data_exchange_pb2 as dx
from hulian.wire.interconnection.runtime import phe_pb2

# Bigint{is_neg = 1 (varint), little_endian_value = 2 (bytes)}: the default (false, b"") is not written.
BIGINTS = [
    (0, b""),
    (1, b"\x12\x01\x01"),
    (-1, b"\x08\x01\x12\x01\x01"),
    (255, b"\x12\x01\xff"),
    (256, b"\x12\x02\x00\x01"),
    (-300, b"\x08\x01\x12\x02\x2c\x01"),                        # 300 = 0x012c
    (2**64, b"\x12\x09" + b"\x00" * 8 + b"\x01"),
    (-(2**64 - 1), b"\x08\x01\x12\x08" + b"\xff" * 8),
]

# A 64-bit toy key (allow_insecure_keys): n = 4294967291 * 4294967279 = 0xffffffea00000055, hs = 5.
N = 4294967291 * 4294967279
N_LE = bytes.fromhex("55000000eaffffff")
PAILLIER_PK = (b"\x0a\x0a" + b"\x12\x08" + N_LE      # n: Bigint{little_endian_value}
               + b"\x12\x03" + b"\x12\x01\x05")      # hs = 5
PAILLIER_PK_MESSAGE = (b"\x08\x14"                                   # scalar_type = 20 (OBJECT)
                       + b"\x12\x13" + b"paillier_public_key"        # scalar_type_name
                       + b"\x2a\x13" + b"\x0a\x11" + PAILLIER_PK)    # scalar (5) {buf (1)}
# [2, 3] as a VNdArray (field 9, 17 bytes): shape (1, packed) = [2]; items (2) = PaillierCiphertext{c = Bigint}.
CT_ITEM = {2: b"\x0a\x03\x12\x01\x02", 3: b"\x0a\x03\x12\x01\x03"}
CIPHERTEXTS_MESSAGE = (b"\x08\x14" + b"\x12\x13" + b"paillier_ciphertext"
                       + b"\x4a\x11" + b"\x0a\x01\x02" + b"\x12\x05" + CT_ITEM[2] + b"\x12\x05" + CT_ITEM[3])


@pytest.fixture(scope="module")
def paillier():
    return generate_paillier(1024, allow_insecure_keys=True)


@pytest.fixture(scope="module")
def ou():
    return generate_ou(1024, allow_insecure_keys=True)


@pytest.mark.parametrize(("value", "encoded"), BIGINTS, ids=[str(v) for v, _ in BIGINTS])
def test_bigint_known_answers(value: int, encoded: bytes) -> None:
    assert ser.to_bigint(value).SerializeToString() == encoded
    assert ser.from_bigint(phe_pb2.Bigint.FromString(encoded)) == value


def test_bigint_accepts_a_peers_zero_padding_and_large_values() -> None:
    padded = phe_pb2.Bigint(little_endian_value=b"\x2c\x01\x00\x00")
    assert ser.from_bigint(padded) == 300
    x = -(gmpy2.mpz(1) << 4095) + 12345
    assert ser.from_bigint(phe_pb2.Bigint.FromString(ser.to_bigint(x).SerializeToString())) == x


def test_messages_are_upstreams() -> None:
    """Full names and field numbers as secretflow/interconnection defines them (ours: the hulian extension)."""
    schemas = [
        (phe_pb2.Bigint, "org.interconnection.v2.runtime.Bigint",
         {"is_neg": (1, F.TYPE_BOOL), "little_endian_value": (2, F.TYPE_BYTES)}),
        (phe_pb2.PaillierPublicKey, "org.interconnection.v2.runtime.PaillierPublicKey",
         {"n": (1, F.TYPE_MESSAGE), "hs": (2, F.TYPE_MESSAGE)}),
        (phe_pb2.PaillierCiphertext, "org.interconnection.v2.runtime.PaillierCiphertext", {"c": (1, F.TYPE_MESSAGE)}),
        (phe_pb2.EcElGamalPublicKey, "org.interconnection.v2.runtime.EcElGamalPublicKey",
         {"curve_name": (1, F.TYPE_INT32), "h": (2, F.TYPE_BYTES)}),
        (phe_pb2.EcElGamalCiphertext, "org.interconnection.v2.runtime.EcElGamalCiphertext",
         {"c1": (1, F.TYPE_BYTES), "c2": (2, F.TYPE_BYTES)}),
        (dx.DataExchangeProtocol, "org.interconnection.v2.runtime.DataExchangeProtocol",
         {"scalar_type": (1, F.TYPE_INT32), "scalar_type_name": (2, F.TYPE_STRING), "scalar": (5, F.TYPE_MESSAGE),
          "f_scalar_list": (6, F.TYPE_MESSAGE), "v_scalar_list": (7, F.TYPE_MESSAGE),
          "f_ndarray": (8, F.TYPE_MESSAGE), "v_ndarray": (9, F.TYPE_MESSAGE),
          "f_ndarray_list": (10, F.TYPE_MESSAGE), "v_ndarray_list": (11, F.TYPE_MESSAGE)}),
        (dx.Scalar, "org.interconnection.v2.runtime.Scalar", {"buf": (1, F.TYPE_BYTES)}),
        (dx.FScalarList, "org.interconnection.v2.runtime.FScalarList",
         {"item_count": (1, F.TYPE_INT64), "item_buf": (2, F.TYPE_BYTES)}),
        (dx.VScalarList, "org.interconnection.v2.runtime.VScalarList", {"items": (1, F.TYPE_BYTES)}),
        (dx.FNdArray, "org.interconnection.v2.runtime.FNdArray",
         {"shape": (1, F.TYPE_INT64), "item_buf": (2, F.TYPE_BYTES)}),
        (dx.VNdArray, "org.interconnection.v2.runtime.VNdArray",
         {"shape": (1, F.TYPE_INT64), "items": (2, F.TYPE_BYTES)}),
        (dx.FNdArrayList, "org.interconnection.v2.runtime.FNdArrayList", {"ndarrays": (1, F.TYPE_MESSAGE)}),
        (dx.VNdArrayList, "org.interconnection.v2.runtime.VNdArrayList", {"ndarrays": (1, F.TYPE_MESSAGE)}),
        (hs_phe.PheProtocolProposal, "org.interconnection.v2.protocol.PheProtocolProposal",
         {"supported_versions": (1, F.TYPE_INT32), "supported_phe_algos": (2, F.TYPE_INT32),
          "supported_phe_params": (3, F.TYPE_MESSAGE)}),
        (hs_phe.PaillierParamsProposal, "org.interconnection.v2.protocol.PaillierParamsProposal",
         {"key_sizes": (1, F.TYPE_INT32)}),
        (hs_phe.EcElGamalProposal, "org.interconnection.v2.protocol.EcElGamalProposal",
         {"curve_name": (1, F.TYPE_INT32)}),
        (hs_phe.PheProtocolResult, "org.interconnection.v2.protocol.PheProtocolResult",
         {"version": (1, F.TYPE_INT32), "phe_algo": (2, F.TYPE_INT32), "phe_param": (3, F.TYPE_MESSAGE)}),
        (hs_phe.PaillierParamsResult, "org.interconnection.v2.protocol.PaillierParamsResult",
         {"key_size": (1, F.TYPE_INT32)}),
        (hs_phe.EcElGamalResult, "org.interconnection.v2.protocol.EcElGamalResult", {"curve_name": (1, F.TYPE_INT32)}),
        (he_ext_pb2.OuPublicKey, "hulian.he.v1.OuPublicKey",
         {"n": (1, F.TYPE_MESSAGE), "g": (2, F.TYPE_MESSAGE), "h": (3, F.TYPE_MESSAGE)}),
        (he_ext_pb2.OuCiphertext, "hulian.he.v1.OuCiphertext", {"c": (1, F.TYPE_MESSAGE)}),
        (he_ext_pb2.FixedPointArray, "hulian.he.v1.FixedPointArray",
         {"frac_bits": (1, F.TYPE_INT32), "scale": (2, F.TYPE_INT32), "shape": (3, F.TYPE_INT64)}),
    ]
    for cls, full_name, fields in schemas:
        d = cls.DESCRIPTOR
        assert d.full_name == full_name
        assert {f.name: (f.number, f.type) for f in d.fields} == fields, full_name
    assert dict(dx.ScalarType.items())["SCALAR_TYPE_OBJECT"] == 20
    assert dict(hs_phe.PheAlgo.items()) == {"PHE_ALGO_UNSPECIFIED": 0, "PHE_ALGO_PAILLIER": 1, "PHE_ALGO_OU": 2,
                                            "PHE_ALGO_EC_ELGAMAL": 3}
    assert [f.name for f in dx.DataExchangeProtocol.DESCRIPTOR.oneofs_by_name["container"].fields] == [
        "scalar", "f_scalar_list", "v_scalar_list", "f_ndarray", "v_ndarray", "f_ndarray_list", "v_ndarray_list"]


def test_paillier_public_key_known_answer() -> None:
    key = PaillierPublicKey(N, 5, allow_insecure_keys=True)
    assert ser.public_key_to_bytes(key) == PAILLIER_PK_MESSAGE
    got = ser.public_key_from_bytes(PAILLIER_PK_MESSAGE, "paillier", allow_insecure_keys=True)
    assert isinstance(got, PaillierPublicKey) and (got.n, got.hs) == (N, 5)


def test_ciphertext_array_known_answer() -> None:
    key = PaillierPublicKey(N, 5, allow_insecure_keys=True)
    assert ser.ciphertexts_to_bytes(key, [gmpy2.mpz(2), gmpy2.mpz(3)], (2,)) == CIPHERTEXTS_MESSAGE
    assert ser.ciphertexts_from_bytes(key, CIPHERTEXTS_MESSAGE) == ([2, 3], (2,))


def test_public_keys_round_trip(paillier, ou) -> None:
    for sk in (paillier, ou):
        pk = sk.public
        got = ser.public_key_from_bytes(ser.public_key_to_bytes(pk), pk.scheme, allow_insecure_keys=True)
        assert type(got) is type(pk) and got.n == pk.n
        assert sk.decrypt(got.encrypt(42)) == 42   # a key received encrypts for the holder's secret key
    assert (got.g, got.h) == (ou.public.g, ou.public.h)


def test_ciphertexts_round_trip_and_decrypt(paillier, ou) -> None:
    for sk in (paillier, ou):
        pk = sk.public
        values = list(range(6))
        data = ser.ciphertexts_to_bytes(pk, pk.encrypt_many(values), (2, 3))
        cts, shape = ser.ciphertexts_from_bytes(pk, data)
        assert shape == (2, 3) and sk.decrypt_many(cts) == values
    empty = ser.ciphertexts_to_bytes(pk, [], (0, 3))
    assert ser.ciphertexts_from_bytes(pk, empty) == ([], (0, 3))


def _container(name: str, **container) -> bytes:
    return dx.DataExchangeProtocol(scalar_type=dx.SCALAR_TYPE_OBJECT, scalar_type_name=name,
                                   **container).SerializeToString()


def _paillier_key(n, hs) -> bytes:
    buf = phe_pb2.PaillierPublicKey(n=ser.to_bigint(n), hs=ser.to_bigint(hs)).SerializeToString()
    return _container("paillier_public_key", scalar=dx.Scalar(buf=buf))


def test_public_keys_refused(paillier, ou) -> None:
    n = paillier.public.n
    cases = [
        (PAILLIER_PK_MESSAGE, False, "insecure"),                              # 64 bits without the test switch
        (_paillier_key(n + 1, 5), True, "even"),
        (_paillier_key(gmpy2.next_prime(n), 5), True, "prime"),
        (_paillier_key(n * 7, 5), True, "factor below 1000"),
        (_paillier_key(-n, 5), True, "positive"),
        (_paillier_key(n, n), True, "hs"),                                     # not prime to n
        (_paillier_key(n, n * n + 1), True, "hs"),                             # beyond n^2
        (_paillier_key(n, 1), True, "hs"),
        (_container("paillier_ciphertext", scalar=dx.Scalar(buf=b"")), True, "paillier_public_key"),
        (_container("paillier_public_key", v_scalar_list=dx.VScalarList()), True, "scalar container"),
        (_container("paillier_public_key", scalar=dx.Scalar(buf=b"\x0a\xff")), True, "not a serialized"),
        (b"\xff\xff\xff", True, "not a serialized"),
        (ser.public_key_to_bytes(ou.public), True, "paillier_public_key"),     # an OU key where Paillier is due
    ]
    for data, insecure_ok, message in cases:
        with pytest.raises(HeError, match=message):
            ser.public_key_from_bytes(data, "paillier", allow_insecure_keys=insecure_ok)
    pk = ou.public
    forged = he_ext_pb2.OuPublicKey(n=ser.to_bigint(pk.n), g=ser.to_bigint(pk.g), h=ser.to_bigint(pk.n))
    with pytest.raises(HeError, match="h must be a unit"):
        ser.public_key_from_bytes(_container("ou_public_key", scalar=dx.Scalar(buf=forged.SerializeToString())),
                                  "ou", allow_insecure_keys=True)
    with pytest.raises(HeError, match="unknown scheme"):
        ser.public_key_from_bytes(PAILLIER_PK_MESSAGE, "rsa")


def test_ciphertexts_refused(paillier) -> None:
    pk = paillier.public
    good = pk.encrypt(7)
    item = phe_pb2.PaillierCiphertext

    def array(values, shape) -> bytes:
        items = [item(c=ser.to_bigint(v)).SerializeToString() for v in values]
        return _container("paillier_ciphertext", v_ndarray=dx.VNdArray(shape=shape, items=items))

    cases = [
        (array([good, good], [3]), "do not fill shape"),
        (array([good], [-1]), "do not fill shape"),
        (array([good, pk.n ** 2 + 1], [2]), "outside"),                       # the key's own check
        (array([good, -good], [2]), "outside"),
        (array([good, pk.n], [2]), "not invertible"),
        (_container("paillier_ciphertext", f_ndarray=dx.FNdArray(shape=[1], item_buf=b"x")), "v_ndarray"),
        (_container("ou_ciphertext", v_ndarray=dx.VNdArray(shape=[0])), "paillier_ciphertext"),
        (dx.DataExchangeProtocol(scalar_type=dx.SCALAR_TYPE_UINT64, scalar_type_name="paillier_ciphertext",
                                 v_ndarray=dx.VNdArray(shape=[0])).SerializeToString(), "OBJECT"),
        (_container("paillier_ciphertext", v_ndarray=dx.VNdArray(shape=[1], items=[b"\x0a\x05\x12"])),
         "not a serialized"),
    ]
    for data, message in cases:
        with pytest.raises(HeError, match=message):
            ser.ciphertexts_from_bytes(pk, data)
    with pytest.raises(HeError, match="shape"):
        ser.ciphertexts_to_bytes(pk, [good], (2,))


def test_ciphertexts_under_a_larger_key_are_refused(paillier) -> None:
    """Ciphertexts of a larger modulus lie beyond this key's n^2: the receiving key's range check refuses them."""
    other = generate_paillier(1200, allow_insecure_keys=True).public
    data = ser.ciphertexts_to_bytes(other, other.encrypt_many([1, 2, 3]), (3,))
    with pytest.raises(HeError):
        ser.ciphertexts_from_bytes(paillier.public, data)


def test_fixed_point_header_known_answer() -> None:
    """hulian's extension: FixedPointArray{frac_bits 1, scale 2, shape 3 (packed)} in an OBJECT scalar."""
    header = b"\x08\x20" + b"\x10\x02" + b"\x1a\x02\x03\x04"          # 32 fraction bits, scale 2, shape [3, 4]
    message = b"\x08\x14" + b"\x12\x12" + b"hulian_fixed_point" + b"\x2a\x0a" + b"\x0a\x08" + header
    assert ser.fixed_point_to_bytes(32, 2, (3, 4)) == message
    assert ser.fixed_point_from_bytes(message) == (32, 2, (3, 4))
    for frac_bits, scale, shape in ((-1, 1, ()), (32, 0, ()), (32, 1, (-2,))):
        bad = he_ext_pb2.FixedPointArray(frac_bits=frac_bits, scale=scale, shape=shape).SerializeToString()
        with pytest.raises(HeError, match="make no array"):
            ser.fixed_point_from_bytes(_container("hulian_fixed_point", scalar=dx.Scalar(buf=bad)))
