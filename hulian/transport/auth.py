"""Who may call: containers with a session token, peers with a certificate and a signature, and plain-HTTP peers
(FATE-Flow) by the source address their configuration allows."""
from __future__ import annotations

import functools
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from starlette.requests import Request

from hulian.core.config import AuthType, NodeConfig, Peer
from hulian.core.errors import BadSignature, CertificateError, IllegalRequest, NodeNotNetworked, Unauthorized
from hulian.core.http import peer_cert
from hulian.crypto import signing, tokens
from hulian.crypto.pki import node_id_of
from hulian.wire import headers as H

log = logging.getLogger("hulian.auth")
PEER_LISTENER = "hulian.peer_listener"  # ASGI scope key: the request came in on this peer's own listener


@dataclass(frozen=True)
class PeerIdentity:
    node_id: str
    peer: Peer
    certificate: x509.Certificate | None  # None: a plain-HTTP peer, known by its source address


@functools.lru_cache(maxsize=256)
def _parse_certificate(der: bytes) -> tuple[x509.Certificate, str]:
    """A peer's certificate and node id; peers present the same few certificates on every call."""
    cert = x509.load_der_x509_certificate(der)
    return cert, node_id_of(cert) or ""


class NonceCache:
    """Nonces seen within the replay window; a repeat inside the window is a replayed request."""

    def __init__(self, window_seconds: int):
        self.window = window_seconds
        self._seen: dict[str, float] = {}
        self._next_purge = 0.0

    def check_and_add(self, nonce: str, now: float) -> bool:
        if now >= self._next_purge:
            self._seen = {n: t for n, t in self._seen.items() if t > now}
            self._next_purge = now + 10
        if nonce in self._seen:
            return False
        self._seen[nonce] = now + self.window
        return True


class Authenticator:
    def __init__(self, config: NodeConfig):
        self.config = config
        self.nonces = NonceCache(config.security.replay_window_seconds)

    # ---- containers ---------------------------------------------------------------------------------
    def check_token(self, session_id: str, token: str) -> None:
        sec = self.config.security
        if not session_id:  # a malformed request (E0000000400), not a refused credential
            raise IllegalRequest("x-ptp-session-id header is missing; every transport call names its session")
        if not token:
            raise Unauthorized("x-ptp-token header is missing; use the token the node issued for this session")
        if sec.admin_token and hmac.compare_digest(token.encode(), sec.admin_token.encode()):
            return
        why = tokens.check(sec.token_secret, session_id, token) if sec.token_secret else "node has no token_secret"
        if why:
            log.warning("refused container call for session %s: %s", session_id, why)
            raise Unauthorized(f"x-ptp-token refused for session {session_id!r}: {why}")

    def issue_token(self, session_id: str, ttl_seconds: int | None = None) -> str:
        if not self.config.security.token_secret:
            raise Unauthorized("this node has no security.token_secret configured, so it cannot issue tokens")
        return tokens.issue(self.config.security.token_secret, session_id,
                            ttl_seconds or self.config.security.token_ttl_seconds)

    # ---- peers --------------------------------------------------------------------------------------
    def identify_request(self, request: Request) -> PeerIdentity:
        """The calling node of an east-west HTTP request: on a plain-HTTP peer's own listener that peer, if the
        connection comes from one of its sources; otherwise its TLS certificate; with TLS off (development) the
        node it declares, if that peer is allowed from the connection's address. An anonymous call is never
        taken for this node itself."""
        client = request.client.host if request.client else ""
        declared = H.source_of(request.headers)
        listener = request.scope.get(PEER_LISTENER)
        if listener is not None:
            return self._plain_peer(listener, client, declared)
        if self.config.tls.enabled:
            return self.identify_peer(peer_cert(request))
        if not declared:
            log.warning("anonymous node-to-node call from %s refused", client or "?")
            raise NodeNotNetworked("node-to-node call names no node (x-source-node-id, x-node-id or "
                                   "x-ptp-source-node-id): refused; this node has TLS off, so a peer is known by the "
                                   "node it names and the address it connects from (peers[].plain_http.sources)")
        return self._plain_peer(declared, client, declared)

    def _plain_peer(self, node_id: str, client: str, declared: str) -> PeerIdentity:
        """`node_id` connecting in plain HTTP from `client`, checked against its peers[].plain_http."""
        if declared and declared != node_id:
            log.warning("call on node %r's listener declaring node %r refused", node_id, declared)
            raise NodeNotNetworked(f"this listener serves node {node_id!r} only; the request declares {declared!r}")
        peer = self.config.peer(node_id)
        if peer is None:
            log.warning("plain-HTTP call from %s claiming unknown node %r refused", client or "?", node_id)
            raise NodeNotNetworked(f"node {node_id!r} is not networked with node {self.config.node_id!r}; "
                                   "add it to peers: in the node configuration")
        if peer.plain_http is None:
            log.warning("plain-HTTP call from %s claiming node %r refused: it must present a certificate",
                        client or "?", node_id)
            raise CertificateError(f"node {node_id!r} must connect with a TLS client certificate (it has no "
                                   "peers[].plain_http entry allowing it by address)")
        if not peer.plain_http.admits(client):
            log.warning("call claiming node %r from %s refused: not one of its plain_http.sources", node_id, client)
            raise NodeNotNetworked(f"node {node_id!r} may not connect from {client or 'an unknown address'}: "
                                   "not in its peers[].plain_http.sources")
        return PeerIdentity(node_id, peer, None)

    def identify_peer(self, cert_der: bytes | None) -> PeerIdentity:
        """The calling node, from the certificate of its TLS connection (verified against our CA)."""
        if not self.config.tls.enabled:
            raise CertificateError("node-to-node routes need TLS; enable tls on this node")
        if not cert_der:
            log.warning("node-to-node call without a client certificate refused")
            raise CertificateError("node-to-node routes need a TLS client certificate issued by this network's CA")
        cert, node_id = _parse_certificate(cert_der)
        peer = self.config.peer(node_id)
        if peer is None:
            log.warning("call from node %r refused: certificate valid but node not in the route table", node_id)
            raise NodeNotNetworked(f"node {node_id!r} is not networked with node {self.config.node_id!r}; "
                                   "add it to peers: in the node configuration (or approve its contract)")
        return PeerIdentity(node_id, peer, cert)

    def check_signature(self, who: PeerIdentity, method: str, path: str, headers: Mapping[str, str]) -> str | None:
        """Verify x-auth-sign; returns the body digest the signature covers (None for certificate-only peers)."""
        if who.peer.auth_type == AuthType.CERT or who.certificate is None:
            return None  # certificate-only peers, and plain-HTTP peers (known by address), sign nothing
        sign, ts, nonce = H.get(headers, H.AUTH_SIGN), H.get(headers, H.TIMESTAMP), H.get(headers, H.NONCE)
        digest = H.get(headers, H.CONTENT_SHA256)
        if not (sign and ts and nonce and digest):
            log.warning("unsigned call from %s refused (auth_type %s)", who.node_id, who.peer.auth_type.value)
            raise BadSignature(f"node {who.node_id!r} must sign requests ({who.peer.auth_type.value}): "
                               "x-auth-sign, x-timestamp, x-nonce and x-content-sha256 are required")
        data = signing.canonical(method, path, digest, ts, nonce, H.source_of(headers))
        if not signing.verify(who.certificate.public_key(), who.peer.auth_type.value, data, sign):
            log.warning("bad x-auth-sign from %s on %s", who.node_id, path)
            raise BadSignature(f"x-auth-sign from node {who.node_id!r} does not verify with its certificate's key "
                               f"({who.peer.auth_type.value})")
        self._check_fresh(who.node_id, ts, nonce)
        return digest

    def _check_fresh(self, node_id: str, ts: str, nonce: str) -> None:
        now = time.time()
        try:
            sent = int(ts) / (1000 if len(ts) > 11 else 1)  # ms, or seconds as Kuscia sends
        except ValueError:
            raise Unauthorized(f"x-timestamp {ts!r} is not a number of milliseconds") from None
        window = self.config.security.replay_window_seconds
        if abs(now - sent) > window:
            log.warning("stale request from %s refused: x-timestamp %s is %.0fs away", node_id, ts, now - sent)
            raise Unauthorized(f"x-timestamp is {now - sent:.0f}s from this node's clock (window {window}s); "
                               "check the clocks or resend")
        if not self.nonces.check_and_add(f"{node_id}:{nonce}", now):
            log.warning("replayed request from %s refused (nonce %s)", node_id, nonce)
            raise Unauthorized(f"x-nonce {nonce!r} was already used: replayed request refused")
