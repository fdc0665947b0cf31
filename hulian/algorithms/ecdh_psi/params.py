"""ECDH-PSI parameters: the negotiated suite, truncation and result receivers, from a CLI, the component's
declared parameters (`component.EcdhPsiParameters`, no handshake) or a handshake result.

Enum values are accepted as the standard's numbers ("1"), its names ("CURVE_TYPE_CURVE25519", "CURVE25519")
and the reference implementation's lower-case names ("curve25519", "sha_256", "sm3").
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum

from hulian.crypto.ecc import (
    SECRETFLOW_ELL2_DST,
    CurveType,
    EcSuite,
    HashToCurveStrategy,
    HashType,
    PointOctetFormat,
)

ALL_RANKS = -1
RANKS = (0, 1)   # two-party PSI
X_BYTES = 32     # both curves (Curve25519 u, SM2 x) have 256-bit coordinates: truncation keeps 1..256 bits
SECRETFLOW_DUAL_BYTES = 12  # SecretFlow's deployed code compares the last 12 bytes whatever was negotiated
BATCH_SIZE = 4096           # items per EcdhPsiCipherBatch, as SecretFlow's IC-era code sends


class Compat(StrEnum):
    """What a dual ciphertext is: the negotiated truncation (standard) or SecretFlow's fixed last 12 bytes."""

    STANDARD = "standard"
    SECRETFLOW = "secretflow"


class ParamError(ValueError):
    """A PSI parameter is missing or has a value we cannot use; the message names it and the accepted values."""


@dataclass(frozen=True)
class PsiParams:
    suite: EcSuite
    bit_length_after_truncated: int = -1  # -1: compare whole points
    result_to_rank: int = ALL_RANKS       # -1: every party learns the intersection
    compat: Compat = Compat.STANDARD
    batch_size: int = BATCH_SIZE

    def __post_init__(self) -> None:
        """Refused here, before any key is hashed, rather than midway through the exchange."""
        bits = self.bit_length_after_truncated
        if bits != -1 and not 0 < bits <= 8 * X_BYTES:
            raise ParamError(f"bit_length_after_truncated={bits}: use -1 (whole points) or 1..{8 * X_BYTES}")
        if self.result_to_rank not in (ALL_RANKS, *RANKS):
            raise ParamError(f"result_to_rank={self.result_to_rank}: use -1 (all parties), 0 or 1")

    def with_(self, **changes) -> PsiParams:
        return replace(self, **changes)

    def can_touch_results(self, rank: int) -> bool:
        return self.result_to_rank in (ALL_RANKS, rank)

    @property
    def h2c_dst(self) -> bytes | None:
        """The Elligator2 domain separation tag: ours by default (the standard names none), SecretFlow's in
        its compatibility mode; None for the strategies without one."""
        return SECRETFLOW_ELL2_DST if self.compat == Compat.SECRETFLOW else None

    def describe(self) -> str:
        s = self.suite
        return (f"{s.curve.name}/{s.hash.name}/{s.hash2curve.name}/{s.point_format.name}, "
                f"truncation {self.bit_length_after_truncated}, result to "
                f"{'all' if self.result_to_rank == ALL_RANKS else f'rank {self.result_to_rank}'}, {self.compat}")


def parse_enum(enum: type[IntEnum], value: object, name: str) -> IntEnum:
    """An enum member from its number, its name, or a prefixed/lower-case spelling of its name."""
    if isinstance(value, enum):
        return value
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        try:
            return enum(int(text))
        except ValueError:
            pass
    else:
        # the longest suffix that names a member wins, so "x962_uncompressed" is not read as "uncompressed"
        parts = text.upper().replace("-", "_").split("_")
        by_name = {m.name: m for m in enum}
        for i in range(len(parts)):
            if (member := by_name.get("_".join(parts[i:]))) is not None:
                return member
        compact = {m.name.replace("_", ""): m for m in enum}  # "sha256", "SM-3"
        if (member := compact.get("".join(parts))) is not None:
            return member
    accepted = ", ".join(f"{m.name.lower()} ({m.value})" for m in enum)
    raise ParamError(f"{name}={value!r} is not a known value; accepted: {accepted}")


def default_suite(curve: CurveType) -> EcSuite:
    """The defaults of `hulian psi`: SecretFlow's deployed suites, which every known peer accepts."""
    if curve == CurveType.SM2:
        return EcSuite(CurveType.SM2, HashType.SHA_256, HashToCurveStrategy.TRY_AND_REHASH,
                       PointOctetFormat.X962_COMPRESSED)
    return EcSuite(CurveType.CURVE25519, HashType.SHA_256, HashToCurveStrategy.DIRECT_HASH_AS_POINT_X,
                   PointOctetFormat.UNCOMPRESSED)


def build_suite(curve: object, hash_type: object = None, hash2curve: object = None,
                point_format: object = None) -> EcSuite:
    """A suite from (possibly partial) names; what is not given takes the curve's default."""
    base = default_suite(parse_enum(CurveType, curve, "curve_type"))
    return EcSuite(base.curve,
                   base.hash if hash_type in (None, "") else parse_enum(HashType, hash_type, "hash_type"),
                   base.hash2curve if hash2curve in (None, "") else
                   parse_enum(HashToCurveStrategy, hash2curve, "hash2curve_strategy"),
                   base.point_format if point_format in (None, "") else
                   parse_enum(PointOctetFormat, point_format, "point_octet_format"))


def parse_result_to(value: object) -> int:
    """"all"/-1 → every party; "0"/"1" → that rank only."""
    text = str(value).strip().lower()
    if text in ("all", "-1", "both"):
        return ALL_RANKS
    if text.isdigit():
        return int(text)
    raise ParamError(f"result_to_rank={value!r}: use -1 (all parties), 0 or 1")
