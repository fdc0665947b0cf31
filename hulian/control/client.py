"""Control calls to peer nodes: the transport's TLS client certificate and x-auth-sign, bounded by a timeout and
a few retries with backoff. Replies are read liberally (code 0 or 200, msg or message).

`status_all` is the one call whose form differs between real peers: the spec v1.2 says POST with `job_id` as a
query parameter, FATE-Flow 2.2 serves only GET and reads `job_id` from the JSON body (its POST answers HTTP 200
`{"code": 6000, "message": "<MethodNotAllowed ...>"}`, a query-only GET `{"code": 5001, ...}`), Kuscia reads
GET `?job_id=`. Every form carries the query *and* the JSON body; the spec's POST goes first, GET second, and
the form a peer answered is remembered for it (docs/control.md, "Deviations")."""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from typing import Any

import httpx

from hulian.control import paths as P
from hulian.control.envelope import parse_reply
from hulian.core.config import NodeConfig
from hulian.core.errors import PeerRefused, PeerUnreachable
from hulian.transport.client import PeerClient, client_ssl_context

log = logging.getLogger("hulian.control.client")
RETRY_STATUSES = frozenset({502, 503, 504})
STATUS_FORMS = ("POST", "GET")  # status_all: the spec's form first (module doc)


class PeerError(PeerRefused):
    """A peer's non-success reply: keeps its code and message so callers can decide (e.g. "already exists")."""

    def __init__(self, node_id: str, path: str, code: Any, message: str):
        super().__init__(f"node {node_id!r} answered {path} with code {code}: {message or '(no message)'}")
        self.peer_code, self.peer_message = code, message


class ControlClient:
    def __init__(self, config: NodeConfig, signer: PeerClient | None = None):
        self.config = config
        self.signer = signer
        ctx = client_ssl_context(config)
        self._http = httpx.AsyncClient(verify=ctx if ctx is not None else True, trust_env=False,
                                       timeout=config.control.request_timeout_seconds)
        self._status_form: dict[str, str] = {}  # node id -> the status_all method it answered

    def url_of(self, node_id: str) -> str:
        peer = self.config.peer(node_id)
        if peer is None or not peer.url:
            raise PeerUnreachable(f"node {node_id!r} has no direct url under peers: in this node's configuration; "
                                  "control calls need one")
        return peer.url.rstrip("/")

    def _headers(self, node_id: str, method: str, path: str, body: bytes) -> dict[str, str]:
        me = self.config.node_id
        headers = {"content-type": "application/json", "x-source-node-id": me, "x-target-node-id": node_id,
                   "x-node-id": me, "x-trace-id": secrets.token_hex(8), "x-nonce": secrets.token_hex(16),
                   "x-timestamp": str(int(time.time() * 1000)), "x-csrf-protection": "1"}
        if self.signer is not None:
            headers = self.signer.signed(path, hashlib.sha256(body).hexdigest(), headers, method)
        return headers

    async def call(self, node_id: str, path: str, body: dict[str, Any], method: str = "POST",
                   retries: int | None = None, params: dict[str, str] | None = None) -> Any:
        """`data` of a successful reply; raises PeerError (an answer that is not success) or PeerUnreachable."""
        url = self.url_of(node_id) + path
        raw = json.dumps(body, separators=(",", ":")).encode()
        attempts = 1 + (self.config.control.request_retries if retries is None else retries)
        last = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(min(0.2 * 2 ** attempt, 5.0))
            try:
                headers = self._headers(node_id, method, path, raw)
                resp = await self._http.request(method, url, content=raw, headers=headers, params=params)
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e}"
                continue
            if resp.status_code in RETRY_STATUSES:
                last = f"HTTP {resp.status_code}"
                continue
            ok, code, message, data = parse_reply(resp.status_code, resp.content)
            if ok:
                return data
            raise PeerError(node_id, path, code, message)
        log.warning("control call %s to %s failed after %d attempts: %s", path, node_id, attempts, last)
        raise PeerUnreachable(f"node {node_id!r} did not answer {path} ({attempts} attempts): {last}")

    async def status_all(self, node_id: str, job_id: str, retries: int | None = None) -> Any:
        """The job's view at its scheduler `node_id`, in the first form it answers (module doc); a form it
        refuses (HTTP 404/405, or a non-success code such as FATE's 6000 and 5001) is followed by the other."""
        first = self._status_form.get(node_id, STATUS_FORMS[0])
        refusals: list[str] = []
        code: Any = None
        for method in (first, *(m for m in STATUS_FORMS if m != first)):
            try:
                data = await self.call(node_id, P.STATUS_ALL, {"job_id": job_id}, method=method, retries=retries,
                                       params={"job_id": job_id})
            except PeerError as e:
                log.info("status_all of job %s: node %s refused %s (%s)", job_id, node_id, method, e.message)
                code = e.peer_code
                refusals.append(f"{method}: code {code}: {e.peer_message or '(no message)'}")
                continue
            if self._status_form.get(node_id) != method:
                log.info("status_all: node %s answers %s; using that form from now on", node_id, method)
                self._status_form[node_id] = method
            return data
        raise PeerError(node_id, P.STATUS_ALL, code, f"refused in either form ({'; '.join(refusals)})")

    async def close(self) -> None:
        await self._http.aclose()


def is_duplicate(err: PeerError) -> bool:
    """Kuscia answers a repeated create with code 400 "Job already exists": success for an idempotent call."""
    return "exist" in err.peer_message.lower()

