"""`ctx.he`: additively homomorphic encryption among a task's parties (docs/he.md).

    key = ctx.he.keygen(holder=ctx.guest, scheme="paillier", bits=2048)   # every party calls it
    if ctx.local == key.holder:
        ctx.he.send(ctx.hosts, "x", key.encrypt(x))
    else:
        enc = ctx.he.recv(ctx.guest, "x", key)
        ctx.he.send(ctx.guest, "xw", enc.dot(w) + b)

The holder generates the key pair for this job; the secret key never leaves its HeKey (never sent, persisted,
logged or shown in a repr); the other parties receive the public key in the interconnection serialisation
and validate it. Encrypted arrays travel as a stream: a fixed-point header (hulian's extension) and then the
interconnection `DataExchangeProtocol` "paillier_ciphertext" arrays of consecutive rows, each at most
CHUNK_BYTES. `ctx.he.stats` counts what this party sent and received (rounds, messages, payload bytes),
across sub-scopes; each send also returns its own Traffic.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from hulian.crypto.he import serialize
from hulian.crypto.he.base import HeError, PublicKey, SecretKey
from hulian.crypto.he.encoding import DEFAULT_FRAC_BITS, FixedPoint
from hulian.crypto.he.ou import generate_ou
from hulian.crypto.he.paillier import generate_paillier
from hulian.crypto.he.vector import EncryptedVector, Plain
from hulian.federation import Party, Traffic

GENERATORS: dict[str, Callable[..., SecretKey]] = {"paillier": generate_paillier, "ou": generate_ou}
CHUNK_BYTES = 4 << 20   # ciphertext bytes per stream piece: one piece per ~8k Paillier-2048 ciphertexts
ITEM_OVERHEAD = 8       # protobuf bytes around each ciphertext's magnitude (tags and lengths)


class HeKey:
    """One job's key as this party holds it: the public key everywhere, the secret key at the holder only."""

    def __init__(self, holder: Party, public: PublicKey, encoder: FixedPoint, secret: SecretKey | None = None):
        self.holder, self.public, self.encoder = holder, public, encoder
        self._secret = secret

    @property
    def has_secret(self) -> bool:
        return self._secret is not None

    def __repr__(self) -> str:
        where = "held here" if self.has_secret else "not here"
        return f"HeKey({self.public.scheme}-{self.public.bits}, holder {self.holder}, secret key {where})"

    def encrypt(self, values: Plain) -> EncryptedArray:
        """Any party encrypts under the public key (the holder through its faster secret-key path)."""
        arr = np.asarray(values)
        key: PublicKey | SecretKey = self.public if self._secret is None else self._secret
        return EncryptedArray(EncryptedVector.encrypt(key, arr.ravel(), self.encoder), arr.shape)

    def decrypt(self, enc: EncryptedArray) -> np.ndarray:
        if self._secret is None:
            raise HeError(f"only the key holder {self.holder} can decrypt; this party has the public key alone")
        return enc.vector.decrypt(self._secret).reshape(enc.shape)


class EncryptedArray:
    """Ciphertexts of a numpy array (row-major) under one key; the arithmetic is EncryptedVector's, elementwise
    with numpy broadcasting of plain operands, plus products with plain vectors and matrices (`dot`)."""

    __array_ufunc__ = None   # `plain + enc` reaches __radd__, numpy never broadcasts over this object

    def __init__(self, vector: EncryptedVector, shape: Sequence[int]):
        self.vector, self.shape = vector, tuple(shape)
        if math.prod(self.shape) != len(vector):
            raise HeError(f"{len(vector)} ciphertexts cannot have shape {self.shape}")

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 1

    def __repr__(self) -> str:
        return f"EncryptedArray(shape={self.shape}, {self.vector!r})"

    @property
    def size(self) -> int:
        return len(self.vector)

    def _plain(self, other: Plain) -> np.ndarray:
        """A plain operand as EncryptedVector takes it: a scalar as is (it broadcasts), an array flattened."""
        arr = np.asarray(other)
        return arr if arr.ndim == 0 else np.broadcast_to(arr, self.shape).ravel()

    def _same(self, other: EncryptedArray) -> EncryptedVector:
        if other.shape != self.shape:
            raise HeError(f"encrypted arrays of shapes {self.shape} and {other.shape} do not combine")
        return other.vector

    def __add__(self, other: EncryptedArray | Plain) -> EncryptedArray:
        operand = self._same(other) if isinstance(other, EncryptedArray) else self._plain(other)
        return EncryptedArray(self.vector + operand, self.shape)

    __radd__ = __add__

    def __sub__(self, other: EncryptedArray | Plain) -> EncryptedArray:
        operand = self._same(other) if isinstance(other, EncryptedArray) else self._plain(other)
        return EncryptedArray(self.vector - operand, self.shape)

    def __rsub__(self, other: Plain) -> EncryptedArray:
        return EncryptedArray(-self.vector + self._plain(other), self.shape)

    def __neg__(self) -> EncryptedArray:
        return EncryptedArray(-self.vector, self.shape)

    def __mul__(self, other: Plain) -> EncryptedArray:
        return EncryptedArray(self.vector * self._plain(other), self.shape)

    __rmul__ = __mul__

    def dot(self, w: Plain) -> EncryptedArray:
        """Enc(self @ w) for a plain vector or matrix w: a vector·vector gives shape (), a matrix·vector (m,)."""
        w = np.asarray(w)
        if len(self.shape) not in (1, 2) or w.ndim not in (1, 2) or self.shape[-1] != w.shape[0]:
            raise HeError(f"cannot multiply an encrypted {self.shape} array by a plain {w.shape} one")
        rows = 1 if len(self.shape) == 1 else self.shape[0]
        inner, cols = w.shape[0], 1 if w.ndim == 1 else w.shape[1]
        cells = []
        for j in range(cols):
            product = self.vector * np.tile(w if w.ndim == 1 else w[:, j], rows)
            cells += [_part(product, i * inner, inner).sum() for i in range(rows)]
        out_shape = self.shape[:-1] + w.shape[1:]
        order = np.arange(rows * cols).reshape(cols, rows).T.ravel()   # cells are column-major
        return EncryptedArray(_join([cells[k] for k in order], self.vector), out_shape)

    def rerandomize(self) -> EncryptedArray:
        """The same values under fresh randomness: before a computed array leaves this party."""
        return EncryptedArray(self.vector.rerandomize(), self.shape)


def _part(v: EncryptedVector, start: int, length: int) -> EncryptedVector:
    return EncryptedVector(v.public_key, v.ciphertexts[start:start + length], v.encoder, v.scale, v.bound)


def _join(parts: Sequence[EncryptedVector], like: EncryptedVector) -> EncryptedVector:
    bounds = [p.bound for p in parts]
    bound = None if any(b is None for b in bounds) else max(bounds, default=0)
    scale = parts[0].scale if parts else like.scale
    return EncryptedVector(like.public_key, [c for p in parts for c in p.ciphertexts], like.encoder, scale, bound)


class Messages(Protocol):
    """What ctx.he needs of a TaskContext."""

    local: Party
    parties: tuple[Party, ...]

    def send_bytes(self, to: Party | Sequence[Party], topic: str, data: bytes) -> None: ...
    def recv_bytes(self, frm: Party, topic: str, timeout: float | None = None) -> bytes: ...
    def send_stream(self, to: Party, topic: str, pieces: Any) -> int: ...
    def recv_stream(self, frm: Party, topic: str, timeout: float | None = None) -> Iterator[bytes]: ...


class HeContext:
    """ctx.he: key generation and exchange, encrypted arrays between parties, traffic counters."""

    def __init__(self, ctx: Messages, stats: Traffic):
        self._ctx, self.stats = ctx, stats

    def keygen(self, holder: Party, scheme: str = "paillier", bits: int = 2048, *,
               frac_bits: int = DEFAULT_FRAC_BITS, to: Sequence[Party] | None = None, topic: str = "he.public_key",
               allow_insecure_keys: bool = False, timeout: float | None = None) -> HeKey:
        """Every party of `to` (default: all but the holder) and the holder call this with the same arguments:
        the holder generates the key pair and sends the public key; the others receive and validate it."""
        if scheme not in GENERATORS:
            raise HeError(f"unknown scheme {scheme!r}; known: {sorted(GENERATORS)}")
        ctx = self._ctx
        receivers = [p for p in ctx.parties if p != holder] if to is None else list(to)
        if ctx.local == holder:
            secret = GENERATORS[scheme](bits, allow_insecure_keys=allow_insecure_keys)
            data = serialize.public_key_to_bytes(secret.public)
            ctx.send_bytes(receivers, topic, data)
            self.stats.add(Traffic(rounds_sent=1, messages_sent=len(receivers), bytes_sent=len(data) * len(receivers)))
            return HeKey(holder, secret.public, FixedPoint(secret.public.plaintext_modulus, frac_bits), secret)
        if ctx.local not in receivers:
            raise ValueError(f"{ctx.local} is neither the key holder {holder} nor among the receivers of its key")
        data = ctx.recv_bytes(holder, topic, timeout)
        self.stats.add(Traffic(rounds_received=1, messages_received=1, bytes_received=len(data)))
        public = serialize.public_key_from_bytes(data, scheme, allow_insecure_keys)
        if public.bits != bits:
            raise HeError(f"{holder} sent a {public.bits}-bit {scheme} key; this party expected {bits} bits")
        return HeKey(holder, public, FixedPoint(public.plaintext_modulus, frac_bits))

    def send(self, to: Party | Sequence[Party], topic: str, enc: EncryptedArray) -> Traffic:
        """Stream `enc` to each party of `to`; the Traffic of this call (also added to `stats`)."""
        traffic = Traffic(rounds_sent=1)
        for party in (to,) if isinstance(to, Party) else to:
            sizes: list[int] = []
            self._ctx.send_stream(party, topic, _counted(_pieces(enc), sizes))
            traffic.add(Traffic(messages_sent=len(sizes), bytes_sent=sum(sizes)))
        self.stats.add(traffic)
        return traffic

    def recv(self, frm: Party, topic: str, key: HeKey, timeout: float | None = None) -> EncryptedArray:
        """The array `frm` sent on `topic` under `key`, every ciphertext checked against it."""
        pieces = self._ctx.recv_stream(frm, topic, timeout)
        header = next(pieces, None)
        if header is None:
            raise HeError(f"{frm} sent an empty stream on {topic!r} where an encrypted array was due")
        frac_bits, scale, shape = serialize.fixed_point_from_bytes(header)
        if frac_bits != key.encoder.frac_bits:
            raise HeError(f"{frm} encoded with {frac_bits} fraction bits, this party with {key.encoder.frac_bits}")
        key.encoder.check_scale(scale)
        traffic = Traffic(rounds_received=1, messages_received=1, bytes_received=len(header))
        cts: list = []
        for piece in pieces:
            part, part_shape = serialize.ciphertexts_from_bytes(key.public, piece)
            if part_shape[1:] != shape[1:]:
                raise HeError(f"a piece of shape {part_shape} in an array of shape {shape}")
            cts += part
            traffic.add(Traffic(messages_received=1, bytes_received=len(piece)))
        self.stats.add(traffic)
        if len(cts) != math.prod(shape):
            raise HeError(f"{frm} sent {len(cts)} ciphertexts for an array of shape {shape}")
        return EncryptedArray(EncryptedVector(key.public, cts, key.encoder, scale), shape)


def _pieces(enc: EncryptedArray) -> Iterator[bytes]:
    """The header, then the ciphertexts by runs of whole rows of at most CHUNK_BYTES (one row at least)."""
    v, shape = enc.vector, enc.shape
    yield serialize.fixed_point_to_bytes(v.encoder.frac_bits, v.scale, shape)
    row = math.prod(shape[1:]) if shape else 1
    item = (v.ciphertexts[0].bit_length() + 7) // 8 + ITEM_OVERHEAD if v.ciphertexts else 1
    rows_per_piece = max(1, CHUNK_BYTES // max(1, row * item))
    rows = shape[0] if shape else 1
    for start in range(0, rows, rows_per_piece):
        stop = min(rows, start + rows_per_piece)
        piece_shape = (stop - start, *shape[1:]) if shape else ()
        yield serialize.ciphertexts_to_bytes(v.public_key, v.ciphertexts[start * row:stop * row], piece_shape)


def _counted(pieces: Iterator[bytes], sizes: list[int]) -> Iterator[bytes]:
    for piece in pieces:
        sizes.append(len(piece))
        yield piece
