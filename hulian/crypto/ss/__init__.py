"""Share arithmetic for 2-party additive secret sharing over Z_2^64 (semi2k): pure numpy, no I/O.

The protocols that exchange messages (Beaver multiplication, reveal, comparison) live in `hulian.mpc`,
above the federation; here is only what each party computes locally and what a dealer replays.
"""
