"""The `ecdh_psi` BFIA component: run by a node's component layer with the standard environment, it talks to
the other party through the local node's PTP transport (SecretFlow's black-box link framing), with the
parameters the job's CONF gave both parties (no handshake, as the reference implementation's BFIA mode).

Environment read (beyond the link's, see `hulian.transport.iclink.ptp_link`):
- `runtime.component.parameter.*`: curve_type, hash_type, hash2curve_strategy, point_octet_format,
  bit_length_after_truncated, result_to_rank, field_names, compat, recv_timeout (seconds, default 120);
- `runtime.component.input.data` (else the first input given): the party's dataset {"namespace","name"};
- `runtime.component.output.result` (else the first output given): where the intersecting rows go (default namespace
  `<job_id>-<role>-<index>`, name `<task_id>-result`);
- `system.storage`: `file:///path` or `s3://host:port?username=&password=&bucket=`.

Exit status 0 with the JSON report on stdout, or 1 with the error on stderr (the component layer reports
both); stdout/stderr are the task log.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from hulian.algorithms.ecdh_psi.errors import PsiError
from hulian.algorithms.ecdh_psi.params import ParamError, from_component_env
from hulian.algorithms.ecdh_psi.run import run_and_close
from hulian.component.entry import component_main, input_address, output_address
from hulian.data.storage import StorageError, storage_from_env
from hulian.data.table import TableError, TableSource
from hulian.transport.iclink import LinkError, LinkOptions
from hulian.transport.iclink.ptp_link import PtpLink

NAME = "ecdh_psi"
ROLES = ("guest", "host")  # the two parties; a job's other roles (an arbiter) take no part
INPUT_KEY = "data"
OUTPUT_KEY = "result"
DEFAULT_RECV_TIMEOUT = 120.0


def run(env: Mapping[str, str]) -> dict:
    """Run this party's side; returns the report (raises on failure)."""
    params, fields = from_component_env(env)
    in_address = input_address(env, INPUT_KEY)
    storage = storage_from_env(env)
    try:
        source = TableSource(storage.input_path(*in_address), fields)
        out_ns, out_name = output_address(env, OUTPUT_KEY, "psi")
        timeout = float(env.get("runtime.component.parameter.recv_timeout") or DEFAULT_RECV_TIMEOUT)
        link = PtpLink.from_env(env, roles=ROLES, options=LinkOptions(recv_timeout=timeout))
        report = run_and_close(link, params, source, storage.output_path(out_ns, out_name), negotiate=False,
                               timeout=timeout)
        if report.output is not None:
            storage.write_metadata(out_ns, out_name, {"columns": source.columns, "count": report.output_rows,
                                                      "format": "csv", "source": NAME})
    finally:
        storage.close()
    return {**report.as_dict(), "output_address": {"namespace": out_ns, "name": out_name}}


def main(env: Mapping[str, str] = os.environ) -> int:
    return component_main(NAME, run, (PsiError, LinkError, ParamError, StorageError, TableError, ValueError), env)


if __name__ == "__main__":
    sys.exit(main())
