"""Node configuration: one YAML file per node, every key overridable by HULIAN_* environment variables.

Each key is documented in docs/configuration.md; keep the two in step.
"""
from __future__ import annotations

import ipaddress
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

MiB = 1 << 20


class AuthType(str, Enum):
    """How a peer authenticates its node-to-node requests (the management spec's `auth_type` values)."""

    SHA256_ECDSA = "SHA256_ECDSA"
    SHA256_RSA = "SHA256_RSA"
    CERT = "CERT"  # certificate only: TLS client certificate, no x-auth-sign (FATE, Kuscia)


class EastWestMode(str, Enum):
    """x-ptp-version=1 forwards the push body as received; otherwise it is wrapped in an Inbound."""

    PASSTHROUGH = "passthrough"
    ENCAPSULATED = "encapsulated"


class Listen(BaseModel):
    host: str = "127.0.0.1"
    port: int = 7304


class GrpcConfig(BaseModel):
    enabled: bool = False
    port: int = 7305


class TlsConfig(BaseModel):
    enabled: bool = True
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _files_when_enabled(self) -> TlsConfig:
        if self.enabled and not (self.cert_file and self.key_file and self.ca_file):
            raise ValueError("tls.enabled needs tls.cert_file, tls.key_file and tls.ca_file "
                             "(or set tls.enabled: false)")
        return self


class PlainHttp(BaseModel):
    """A peer that connects in plain HTTP (FATE-Flow hard-codes http:// and presents no certificate): it is
    known by its source address instead, on a listener of its own when this node serves TLS."""

    sources: list[str] = Field(min_length=1)  # addresses or CIDRs it may connect from
    host: str | None = None  # with port: a listener for this peer only (required when this node has TLS on)
    port: int | None = None

    @model_validator(mode="after")
    def _valid(self) -> PlainHttp:
        for source in self.sources:
            try:
                ipaddress.ip_network(source, strict=False)
            except ValueError:
                raise ValueError(f"plain_http.sources: {source!r} is not an IP address or CIDR") from None
        if (self.host is None) != (self.port is None):
            raise ValueError("plain_http.host and plain_http.port go together (a listener for this peer)")
        return self

    def admits(self, address: str) -> bool:
        """Whether a connection from `address` may be this peer (an IPv4 client of a listener bound to both
        stacks, "::", shows as ::ffff:a.b.c.d: it is that IPv4 address)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in ipaddress.ip_network(s, strict=False) for s in self.sources)


class Peer(BaseModel):
    """One route-table entry: how to reach `node_id`, directly (`url`) or through the relay node `via`."""

    node_id: str
    inst_id: str = ""
    url: str | None = None
    via: str | None = None
    auth_type: AuthType = AuthType.SHA256_ECDSA
    mode: EastWestMode = EastWestMode.PASSTHROUGH
    chunk_bytes: int | None = None
    plain_http: PlainHttp | None = None  # it connects in plain HTTP, identified by its source address

    @model_validator(mode="after")
    def _url_or_via(self) -> Peer:
        if not self.url and not self.via:
            raise ValueError(f"peer {self.node_id!r} needs either url (direct) or via (relay node id)")
        return self


class Security(BaseModel):
    admin_token: str | None = None
    token_secret: str | None = None
    replay_window_seconds: int = 300
    token_ttl_seconds: int = 7 * 24 * 3600


class Limits(BaseModel):
    max_body_bytes: int = 256 * MiB
    control_body_bytes: int = 16 * MiB  # largest control-plane request (a job's DAG and CONF, a poll, ...)
    chunk_bytes: int = 16 * MiB
    inline_bytes: int = 64 * 1024
    session_quota_bytes: int = 4096 * MiB
    pop_timeout_seconds: float = 120.0
    max_pop_timeout_seconds: float = 3600.0  # longer waits asked for (up to infinite) are cut to this
    max_pops_per_session: int = 64  # concurrent pops of one session; more get E0000000700
    release_timeout_seconds: float = 10.0
    body_idle_timeout_seconds: float = 30.0  # a request body silent this long is answered E0000000601


class TransportConfig(BaseModel):
    backend: str = "sql"  # sql | redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = ""  # prepended to node_id in key names, for several networks on one Redis
    fsync: bool = True
    hot_cache_bytes: int = 256 * MiB  # recently written payload files also kept in memory (see transport.blobs)
    retry_initial_seconds: float = 0.2
    retry_max_seconds: float = 30.0
    request_timeout_seconds: float = 60.0
    message_ttl_seconds: float = 7 * 24 * 3600.0
    prune_interval_seconds: float = 600.0
    tech_provider_code: str = "HULIAN"


class ControlConfig(BaseModel):
    """The control plane (job scheduling); see docs/control.md."""

    scheduler_node_id: str | None = None  # schedule jobs this node initiates on another node (default: itself)
    poll_interval_seconds: float = 1.0  # the scheduler's task/poll period (sync_type poll)
    callback_poll_interval_seconds: float = 10.0  # safety poll when parties call back (sync_type callback)
    request_timeout_seconds: float = 10.0  # one control call to a peer
    request_retries: int = 3  # further attempts of a failed control call, with backoff
    task_timeout_seconds: float = 24 * 3600.0  # a task without task_params system.timeout fails after this
    timeout_grace_seconds: float = 30.0  # added to a task's timeout before the scheduler fails it
    party_unreachable_seconds: float = 300.0  # a party not answering polls this long fails its task
    success_code: int = 0  # code of successful replies; per peer override below (Kuscia expects 200)
    success_code_by_peer: dict[str, int] = Field(default_factory=dict)


class ApiConfig(BaseModel):
    """The node's API description (docs/api.md)."""

    publish_docs: bool = False  # /docs and /openapi.json to anyone; by default to the admin token only


class LogConfig(BaseModel):
    level: str = "INFO"
    file: Path | None = None


class StorageConfig(BaseModel):
    """Where the node's datasets live (`system.storage` of its components)."""

    url: str | None = None  # file:///path or s3://host:port?username=&password=&bucket=; None: <data_dir>/storage


class ComponentsConfig(BaseModel):
    """How the component layer runs tasks (docs/components.md)."""

    manager: str = "process"  # process | docker | kubernetes
    node_url: str | None = None  # the node as components reach it; None: <scheme>://<listen.host>:<listen.port>
    task_dir: Path | None = None  # per-task logs and status files; None: <data_dir>/tasks
    python: str | None = None  # interpreter of built-in components; None: the node's own
    poll_interval_seconds: float = 0.5
    kill_grace_seconds: float = 5.0
    callback_linger_seconds: float = 30.0  # a component still alive this long after its final callback is killed
    task_scoped_topics: bool = True  # config.topic_scope = task_id: tasks of one session never share topics
    token_ttl_seconds: int | None = None  # None: security.token_ttl_seconds
    docker_network: str | None = None
    kubernetes_namespace: str = "default"


class NodeConfig(BaseSettings):
    """Everything one node needs; loaded by `load_config` from YAML plus environment overrides."""

    model_config = SettingsConfigDict(env_prefix="HULIAN_", env_nested_delimiter="__", extra="forbid")

    node_id: str
    inst_id: str = ""
    listen: Listen = Field(default_factory=Listen)
    grpc: GrpcConfig = Field(default_factory=GrpcConfig)
    data_dir: Path = Path("./data")
    database_url: str | None = None
    tls: TlsConfig = Field(default_factory=lambda: TlsConfig(enabled=False))
    security: Security = Field(default_factory=Security)
    peers: list[Peer] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    transport: TransportConfig = Field(default_factory=TransportConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    components: ComponentsConfig = Field(default_factory=ComponentsConfig)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # the environment overrides the YAML file

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'node.db'}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls.enabled else "http"

    def peer(self, node_id: str) -> Peer | None:
        return next((p for p in self.peers if p.node_id == node_id), None)

    @property
    def peer_listeners(self) -> list[Peer]:
        """Peers with a plain-HTTP listener of their own."""
        return [p for p in self.peers if p.plain_http is not None and p.plain_http.port is not None]

    @model_validator(mode="after")
    def _plain_listeners(self) -> NodeConfig:
        ports = [self.listen.port] + ([self.grpc.port] if self.grpc.enabled else [])
        for peer in self.peers:
            plain = peer.plain_http
            if plain is None:
                continue
            if self.tls.enabled and plain.port is None:
                raise ValueError(f"peer {peer.node_id!r} connects in plain HTTP but this node serves TLS: give it "
                                 "a listener of its own (plain_http.host and plain_http.port)")
            if plain.port is not None:
                if plain.port in ports:
                    raise ValueError(f"plain_http.port {plain.port} of peer {peer.node_id!r} is already taken by "
                                     "another listener of this node")
                ports.append(plain.port)
        return self


def load_config(path: str | Path) -> NodeConfig:
    """Read a node's YAML file; relative paths in it are taken relative to the file."""
    path = Path(path)
    raw: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    base = path.resolve().parent
    cfg = NodeConfig(**raw)
    for obj, attr in ((cfg, "data_dir"), (cfg.tls, "cert_file"), (cfg.tls, "key_file"), (cfg.tls, "ca_file"),
                      (cfg.log, "file"), (cfg.components, "task_dir")):
        value = getattr(obj, attr)
        if value is not None and not Path(value).is_absolute():
            setattr(obj, attr, base / value)
    return cfg
