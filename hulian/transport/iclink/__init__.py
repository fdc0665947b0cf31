"""The interconnection link: yacl-link semantics (keys, seq ids, ACK, FIN, chunking) over two carriers,
gRPC white-box (`GrpcLink`) and a BFIA node's PTP transport (`PtpLink`). See `link.py` for the semantics."""
from hulian.transport.iclink.errors import LinkError, LinkTimeout
from hulian.transport.iclink.grpc_link import GrpcLink, GrpcTls
from hulian.transport.iclink.link import IcLink, Link
from hulian.transport.iclink.session import LinkOptions

__all__ = ["GrpcLink", "GrpcTls", "IcLink", "Link", "LinkError", "LinkOptions", "LinkTimeout"]
