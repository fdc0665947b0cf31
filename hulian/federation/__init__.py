"""How the parties of one task exchange bytes: one small interface (`Federation`) and its carriers.

Below the SDK and above the transport: the coming round-based protocols (Beaver multiplication, reveal,
comparison) sit on `Federation`, and the SDK's `TaskContext` hands it to algorithms; pure arithmetic (HE,
share arithmetic) stays below in `hulian.crypto`. Carriers:
- `PtpFederation`: through the local node's PTP transport (BFIA component containers; hulian <-> hulian);
- `LinkFederation`: over a white-box interconnection link (gRPC, yacl semantics);
- `MemoryFederation`: in one process, for tests (`hulian.sdk.testing`).
"""
from hulian.federation.base import Federation, FederationError, FederationTimeout, Party
from hulian.federation.link import LinkFederation
from hulian.federation.memory import MemoryFederation, MemoryHub
from hulian.federation.ptp import PtpFederation
from hulian.federation.topics import Scope
from hulian.federation.traffic import Traffic

__all__ = ["Federation", "FederationError", "FederationTimeout", "LinkFederation", "MemoryFederation",
           "MemoryHub", "Party", "PtpFederation", "Scope", "Traffic"]
