"""RFC 9380 curve25519_XMD:SHA-512_ELL2_RO_ / _NU_ vectors.

Source: RFC 9380 Appendix J.7.1 (RO) and J.7.2 (NU) (J.4.x in draft numbering), as transcribed in
`libcrux` RFC 9380 tests and cross-checked with yacl's `hash_to_curve_test.cc`. Coordinates big-endian hex.
"""
from __future__ import annotations

import pytest

from hulian.crypto.ecc import (
    SECRETFLOW_ELL2_DST,
    CurveType,
    EcSuite,
    HashToCurveStrategy,
    HashType,
    PointOctetFormat,
    open_cipher,
)
from hulian.crypto.ecc import elligator2 as e2

MSGS = [b"", b"abc", b"abcdef0123456789", b"q128_" + b"q" * 128, b"a512_" + b"a" * 512]
RO_DST = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"
NU_DST = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_"

# (P.x, P.y, u0, u1) per message, RFC 9380 J.7.1
RO = [
    ("2de3780abb67e861289f5749d16d3e217ffa722192d16bbd9d1bfb9d112b98c0",
     "3b5dc2a498941a1033d176567d457845637554a2fe7a3507d21abd1c1bd6e878",
     "005fe8a7b8fef0a16c105e6cadf5a6740b3365e18692a9c05bfbb4d97f645a6a",
     "1347edbec6a2b5d8c02e058819819bee177077c9d10a4ce165aab0fd0252261a"),
    ("2b4419f1f2d48f5872de692b0aca72cc7b0a60915dd70bde432e826b6abc526d",
     "1b8235f255a268f0a6fa8763e97eb3d22d149343d495da1160eff9703f2d07dd",
     "49bed021c7a3748f09fa8cdfcac044089f7829d3531066ac9e74e0994e05bc7d",
     "5c36525b663e63389d886105cee7ed712325d5a97e60e140aba7e2ce5ae851b6"),
    ("68ca1ea5a6acf4e9956daa101709b1eee6c1bb0df1de3b90d4602382a104c036",
     "2a375b656207123d10766e68b938b1812a4a6625ff83cb8d5e86f58a4be08353",
     "6412b7485ba26d3d1b6c290a8e1435b2959f03721874939b21782df17323d160",
     "24c7b46c1c6d9a21d32f5707be1380ab82db1054fde82865d5c9e3d968f287b2"),
    ("096e9c8bae6c06b554c1ee69383bb0e82267e064236b3a30608d4ed20b73ac5a",
     "1eb5a62612cafb32b16c3329794645b5b948d9f8ffe501d4e26b073fef6de355",
     "5e123990f11bbb5586613ffabdb58d47f64bb5f2fa115f8ea8df0188e0c9e1b5",
     "5e8553eb00438a0bb1e7faa59dec6d8087f9c8011e5fb8ed9df31cb6c0d4ac19"),
    ("1bc61845a138e912f047b5e70ba9606ba2a447a4dade024c8ef3dd42b7bbc5fe",
     "623d05e47b70e25f7f1d51dda6d7c23c9a18ce015fe3548df596ea9e38c69bf1",
     "20f481e85da7a3bf60ac0fb11ed1d0558fc6f941b3ac5469aa8b56ec883d6d7d",
     "017d57fd257e9a78913999a23b52ca988157a81b09c5442501d07fed20869465"),
]
# (P.x, P.y, u0) per message, RFC 9380 J.7.2
NU = [
    ("1bb913f0c9daefa0b3375378ffa534bda5526c97391952a7789eb976edfe4d08",
     "4548368f4f983243e747b62a600840ae7c1dab5c723991f85d3a9768479f3ec4",
     "608d892b641f0328523802a6603427c26e55e6f27e71a91a478148d45b5093cd"),
    ("7c22950b7d900fa866334262fcaea47a441a578df43b894b4625c9b450f9a026",
     "5547bc00e4c09685dcbc6cb6765288b386d8bdcb595fa5a6e3969e08097f0541",
     "46f5b22494bfeaa7f232cc8d054be68561af50230234d7d1d63d1d9abeca8da5"),
    ("31ad08a8b0deeb2a4d8b0206ca25f567ab4e042746f792f4b7973f3ae2096c52",
     "405070c28e78b4fa269427c82827261991b9718bd6c6e95d627d701a53c30db1",
     "235fe40c443766ce7e18111c33862d66c3b33267efa50d50f9e8e5d252a40aaa"),
    ("027877759d155b1997d0d84683a313eb78bdb493271d935b622900459d52ceaa",
     "54d691731a53baa30707f4a87121d5169fb5d587d70fb0292b5830dedbec4c18",
     "001e92a544463bda9bd04ddbe3d6eed248f82de32f522669efc5ddce95f46f5b"),
    ("5fd892c0958d1a75f54c3182a18d286efab784e774d1e017ba2fb252998b5dc1",
     "750af3c66101737423a4519ac792fb93337bd74ee751f19da4cf1e94f4d6d0b8",
     "1a68a1af9f663592291af987203393f707305c7bac9c8d63d6a729bdc553dc19"),
]

ELL2_RO = EcSuite(CurveType.CURVE25519, HashType.SHA_512, HashToCurveStrategy.ELL2_RO, PointOctetFormat.UNCOMPRESSED)
ELL2_NU = EcSuite(CurveType.CURVE25519, HashType.SHA_512, HashToCurveStrategy.ELL2_NU, PointOctetFormat.UNCOMPRESSED)


@pytest.mark.parametrize(("msg", "vec"), list(zip(MSGS, RO, strict=True)))
def test_ro_vectors(msg: bytes, vec: tuple[str, str, str, str]) -> None:
    px, py, u0, u1 = (int(v, 16) for v in vec)
    assert [int(u) for u in e2.hash_to_field(msg, RO_DST, 2)] == [u0, u1]
    pt = e2.hash_to_curve(msg, RO_DST)
    assert pt is not None and (int(pt[0]), int(pt[1])) == (px, py)
    assert open_cipher(ELL2_RO, dst=RO_DST).hash_to_points([msg]) == px.to_bytes(32, "little")


@pytest.mark.parametrize(("msg", "vec"), list(zip(MSGS, NU, strict=True)))
def test_nu_vectors(msg: bytes, vec: tuple[str, str, str]) -> None:
    px, py, u0 = (int(v, 16) for v in vec)
    assert [int(u) for u in e2.hash_to_field(msg, NU_DST, 1)] == [u0]
    pt = e2.encode_to_curve(msg, NU_DST)
    assert pt is not None and (int(pt[0]), int(pt[1])) == (px, py)
    assert open_cipher(ELL2_NU, dst=NU_DST).hash_to_points([msg]) == px.to_bytes(32, "little")


def test_dst_selects_mapping() -> None:
    ours = open_cipher(ELL2_RO).hash_to_points([b"item"])
    secretflow = open_cipher(ELL2_RO, dst=SECRETFLOW_ELL2_DST).hash_to_points([b"item"])
    assert ours != secretflow
    assert secretflow == e2.u_bytes(e2.hash_to_curve(b"item", SECRETFLOW_ELL2_DST))


def test_ell2_points_mask_and_commute(x25519_backend: str) -> None:
    c = open_cipher(ELL2_RO, x25519_backend)
    a, b = c.new_key(), c.new_key()
    h = c.hash_to_points([b"x", b"y"])
    assert c.mask(b, c.mask(a, h)) == c.mask(a, c.mask(b, h))
