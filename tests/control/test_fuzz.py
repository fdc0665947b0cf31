"""Property-based fuzzing of every control route in process: whatever a caller sends, the node answers with
the {code, msg, data} envelope and a non-zero code for what it refuses (never a 500, never a hang)."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hulian.control import paths as P
from hulian.core.errors import CONTROL_ERRORS as ALL
from tests.control.inprocess import make_app, running, two_task_job

ROUTES = [v for k, v in vars(P).items() if k.isupper() and isinstance(v, str) and v.startswith("/v1/")]
KNOWN = {0} | {e.code for e in ALL}
FIELDS = ["job_id", "task_id", "task_name", "role", "status", "flow_id", "dag", "config", "log_level", "start",
          "length", "component_info", "imageUrl", "message"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(),
                    st.text(max_size=20), st.sampled_from(["job-x", "guest.0", "guest", "", "RUNNING", "FAILED",
                                                           "psi_0", "info", "-1", "0|1"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
job = two_task_job()
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=6),
    st.builds(lambda extra: {**job, **extra}, st.dictionaries(st.sampled_from(FIELDS), values, max_size=2)),
    st.builds(lambda comps: {"dag": {"components": comps}, "config": job["config"]},
              st.lists(st.dictionaries(st.sampled_from(["name", "componentName", "input", "output", "code"]),
                                       values, max_size=5), max_size=3)),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with running(make_app(tmp_path_factory.mktemp("ctlfuzz"))) as c:
        yield c


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(ROUTES), method=st.sampled_from(["POST", "GET"]),
       body=st.one_of(bodies, st.binary(max_size=40)),
       node=st.sampled_from(["", "n1", "fate", "stranger"]))
def test_every_route_answers_with_an_envelope(client, path, method, body, node):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json", **({"x-node-id": node} if node else {})}
    resp = client.request(method, path, content=content, headers=headers)
    assert resp.status_code < 500 or resp.json()["code"] in (5002, 5004), resp.content[:300]
    out = resp.json()
    assert set(out) == {"code", "msg", "data"} and out["code"] in KNOWN, out
    if out["code"] != 0:
        assert out["msg"], out
