"""The `ecdh_psi` BFIA component: it talks to the other party through the local node's PTP transport
(SecretFlow's black-box link framing), with the parameters the job's CONF gave both parties (no handshake, as
the reference implementation's BFIA mode). Input `data` (the party's table), output `result` (its rows whose
key is in the intersection); the report is the run's `PsiReport` with the output's address.
"""
from __future__ import annotations

from dataclasses import dataclass

from hulian.algorithms.ecdh_psi.errors import PsiError
from hulian.algorithms.ecdh_psi.params import ALL_RANKS, Compat, PsiParams, build_suite, parse_result_to
from hulian.algorithms.ecdh_psi.run import run_and_close
from hulian.sdk import Data, TaskContext, component, param

NAME = "ecdh_psi"
ROLES = ("guest", "host")  # the two parties; a job's other roles (an arbiter) take no part


@dataclass(frozen=True)
class EcdhPsiParameters:
    curve_type: str = param(description="curve: curve25519 (1) or sm2 (2)", binding=["curve25519", "sm2"],
                            suggested="curve25519")
    hash_type: str | None = param(None, description="hash to the curve's field: sha_256, sha_512, sm3 (default "
                                  "per curve)", binding=["sha_256", "sha_512", "sm3"])
    hash2curve_strategy: str | None = param(None, description="direct_hash_as_point_x, try_and_increment, "
                                            "try_and_rehash, ell2_ro (default per curve)")
    point_octet_format: str | None = param(None, description="uncompressed, x962_compressed (default per curve)")
    bit_length_after_truncated: int = param(-1, description="bits of the dual ciphertexts compared; -1 = whole "
                                            "point")
    result_to_rank: str = param("-1", description="who learns the intersection: -1 all, 0 or 1", spec_type="int")
    field_names: list[str] = param(["id"], description="key column(s): JSON list or comma-separated",
                                   spec_type="string", aliases=["fields"])
    compat: str = param(Compat.STANDARD.value, description="standard, or secretflow (SecretFlow's 12-byte duals "
                        "and Elligator2 DST)", choices=[c.value for c in Compat])
    recv_timeout: float = param(120.0, description="seconds to wait for each message of the peer", ge=0.001)

    def psi(self) -> PsiParams:
        """The run's parameters; ParamError (naming the parameter) for a value PSI cannot use."""
        suite = build_suite(self.curve_type, self.hash_type, self.hash2curve_strategy, self.point_octet_format)
        return PsiParams(suite, self.bit_length_after_truncated, parse_result_to(self.result_to_rank)
                         if self.result_to_rank else ALL_RANKS, Compat(self.compat))


@component(
    name=NAME, title="ECDH-PSI", roles=ROLES,
    summary="Private set intersection by ECDH (PPCA ECDH-PSI v2 open algorithm protocol), black-box mode through "
            "the node's transport; each party gets its rows whose key is in the intersection (docs/psi.md).",
    params=EcdhPsiParameters, errors=(PsiError,),
    inputs=[Data("data", "the party's table (CSV or Parquet)", formats=("csv", "parquet"))],
    outputs=[Data("result", "the party's rows whose key is in the intersection")])
def ecdh_psi(ctx: TaskContext, params: EcdhPsiParameters) -> dict:
    """Run this party's side; returns the report (raises on failure)."""
    psi = params.psi()
    source = ctx.input("data").source([f.strip() for f in params.field_names if f.strip()])
    out = ctx.output("result")
    link = ctx.link(ROLES, params.recv_timeout)
    counts: dict[str, int] = {}

    def progress(stage: str, n: int) -> None:
        counts[stage] = counts.get(stage, 0) + n
        ctx.progress(**{f"items_{stage.replace('.', '_')}": counts[stage]})

    report = run_and_close(link, psi, source, out.path, negotiate=False, timeout=params.recv_timeout,
                           progress=progress)
    ctx.progress(1.0, intersection_items=report.intersection_items or 0)
    if report.output is not None:
        out.finish({"columns": source.columns, "count": report.output_rows, "format": "csv", "source": NAME})
    return {**report.as_dict(), "output_address": out.address}
