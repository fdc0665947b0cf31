"""The secret-sharing engine: 2-party semi2k over Z_2^64 (semi2k.py) with triples from a dealer (dealer.py,
the interconnection BeaverService) or from the parties alone (hetriples.py, HE); XOR-shared bits, comparisons
and equality (boolean.py, compare.py); sigmoid, reciprocal and square root (nonlinear.py). Above the
federation and below the SDK (`ctx.mpc`); the share arithmetic itself is pure, in hulian.crypto.ss."""
from hulian.mpc import boolean, compare, nonlinear
from hulian.mpc.boolean import BShare
from hulian.mpc.channel import MpcError, PeerChannel
from hulian.mpc.dealer import DealerTriples, serve
from hulian.mpc.semi2k import PRECISE, PROBABILISTIC, AShare, Semi2k
from hulian.mpc.triples import Triples

__all__ = ["PRECISE", "PROBABILISTIC", "AShare", "BShare", "DealerTriples", "MpcError", "PeerChannel", "Semi2k",
           "Triples", "boolean", "compare", "nonlinear", "serve"]
