"""The components every hulian node has: self-descriptions plus the module each runs as (`python -m`).

`ecdh_psi`'s description lives here because its package predates the registry; `statistics` brings its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hulian.algorithms.statistics.description import DESCRIPTION as STATISTICS

PROVIDER = "hulian"


def _param(name: str, description: str, type_: str, default: str = "", optional: bool = True,
           binding: list[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name, "title": name, "description": description, "type": type_,
                            "optional": "true" if optional else "false", "defaultValue": default}
    if binding:
        item["bindingData"] = [{"label": v, "value": v} for v in binding]
        item["UIType"] = "select"
    return item


ECDH_PSI: dict[str, Any] = {
    "componentName": "ecdh_psi",
    "title": "ECDH-PSI",
    "provider": PROVIDER,
    "version": "1.0.0",
    "description": "Private set intersection by ECDH (PPCA ECDH-PSI v2 open algorithm protocol), black-box "
                   "mode through the node's transport; each party gets its rows whose key is in the "
                   "intersection (docs/psi.md).",
    "roleList": ["guest", "host"],
    "desVersion": "1.2.0",
    "storageEngine": ["file"],
    "inputParam": [
        _param("curve_type", "curve: curve25519 (1) or sm2 (2)", "string", "curve25519", optional=False,
               binding=["curve25519", "sm2"]),
        _param("hash_type", "hash to the curve's field: sha_256, sha_512, sm3 (default per curve)", "string",
               binding=["sha_256", "sha_512", "sm3"]),
        _param("hash2curve_strategy", "direct_hash_as_point_x, try_and_increment, try_and_rehash, ell2_ro "
               "(default per curve)", "string"),
        _param("point_octet_format", "uncompressed, x962_compressed (default per curve)", "string"),
        _param("bit_length_after_truncated", "bits of the dual ciphertexts compared; -1 = whole point", "int",
               "-1"),
        _param("result_to_rank", "who learns the intersection: -1 all, 0 or 1", "int", "-1"),
        _param("field_names", "key column(s): JSON list or comma-separated", "string", "id"),
        _param("compat", "standard, or secretflow (SecretFlow's 12-byte duals and Elligator2 DST)", "string",
               "standard", binding=["standard", "secretflow"]),
        _param("recv_timeout", "seconds to wait for each message of the peer", "float", "120"),
    ],
    "inputData": [{"name": "data", "description": "the party's table (CSV or Parquet)", "category": "dataset",
                   "dataFormat": ["csv", "parquet"]}],
    "outputData": [{"name": "result", "description": "the party's rows whose key is in the intersection",
                    "category": "dataset", "dataFormat": ["csv"]}],
    "result": [{"resultCode": "0", "resultMessage": "success"},
               {"resultCode": "1", "resultMessage": "failed: see the task log"}],
}


@dataclass(frozen=True)
class Builtin:
    description: dict[str, Any]
    module: str


BUILTINS: tuple[Builtin, ...] = (
    Builtin(ECDH_PSI, "hulian.algorithms.ecdh_psi"),
    Builtin(STATISTICS, "hulian.algorithms.statistics"),
)
