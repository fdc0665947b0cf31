"""Correlated randomness without a dealer: the two parties make their triples themselves with additively
homomorphic encryption (hulian.crypto.he, OU or Paillier). Semi-honest security, two parties.

Each party generates its own key pair when the source is built and sends the other its public key once;
secret keys never leave their party. Every product of one party's share by the other's (a cross term) is
made the same way. The key holder encrypts its values x_i under its own key and sends them; the other party
(the masker) computes, with its own values as plaintext scalars k_t,

    Enc(rho + sum_t k_t * x_t),  rho uniform in [0, 2^(P + ceil(log2 T) + 40)),

for T products of at most P bits each, and sends it back. rho hides the sum statistically (within 2^-40), and
the ciphertext's randomness is the fresh encryption of rho. The key holder decrypts and keeps the result mod
2^64 (its low bit for `and_`); the masker keeps -rho mod 2^64 (rho's low bit). Values are the uint64 share
words as plain non-negative integers, so no fixed-point encoding is involved and no plaintext is negative;
a masked value (several, packed in slots, for `dot` and `and_`) must fit the plaintext space, which is checked
before anything is sent (OU's space is a third of the key bits: 680 bits at 2048).

Both directions run at once, so both parties compute at the same time: each method splits its elements in
two halves, party 0 holds the key for the first and party 1 for the second. A batch is two rounds: each party
sends its encryptions, then computes the peer's replies, then decrypts its own. Products of the same element
are summed into one reply (mul: a0*b1 + b0*a1), which halves the masks and decryptions against one reply
per product. Batches are sized so that a message stays near PIECE_BYTES (bounded memory, and a round lasts
seconds, well inside the channel's timeout); a longer message goes in pieces of at most that size.

Costs per party (E: encryption, X: ciphertext times a 64-bit plaintext, D: decryption; one core here, OU-2048
on gmpy2: E ~13k/s, X ~7-9k/s, D ~5k/s; Paillier-2048: E ~1.3k/s, X ~2.3k/s, D ~250/s):
- mul(n):    n E (a and b of its half), n X, n/2 E (masks), n/2 D; sends 1.5 n ciphertexts.
- square(n): n/2 E, n/2 X, n/2 E, n/2 D; sends n ciphertexts.
- dot(m, k, n): see `dot`: k*B E, k*n*B X, n*B (E + D) with B = ceil(m/S) row blocks of S slots.
- and_(n):   64 n E (one per bit of a and b of its half), no X (a selected ciphertext is multiplied in),
             64 n / (2 S) (E + D) with S = 15 slots of 43 bits at OU-2048; sends ~64 n ciphertexts.
Encryptions and decryptions of a large batch go to worker processes (hulian.crypto.he.parallel); the
ciphertext-times-plaintext products run in the calling process.
"""
from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from hulian.crypto.he import parallel, serialize
from hulian.crypto.he.base import Ciphertext, HeError, PublicKey, SecretKey
from hulian.crypto.he.ou import generate_ou
from hulian.crypto.he.paillier import generate_paillier
from hulian.crypto.ss import ring
from hulian.mpc.channel import MpcError, PeerChannel

SIGMA = 40                  # statistical masking: a masked sum is within 2^-SIGMA of uniform
PIECE_BYTES = 4 << 20       # ciphertext bytes per message (as ctx.he's CHUNK_BYTES)
WORD_BITS = 64
PRODUCT_BITS = 2 * WORD_BITS
_WORD = (1 << WORD_BITS) - 1
_GENERATORS: dict[str, Callable[..., SecretKey]] = {"ou": generate_ou, "paillier": generate_paillier}


class HeTriples:
    """This party's end of a dealer-free triple source (the `Triples` protocol); `close()` ends it."""

    name = "he"
    has_trunc_pr = False   # msb(r) of a sum of two parties' r needs a comparison: semi2k truncates by the wrap bit

    def __init__(self, channel: PeerChannel, rank: int, scheme: str = "ou", bits: int = 2048, *,
                 allow_insecure_keys: bool = False) -> None:
        """Generate this party's key pair and exchange public keys with the peer (one round). Large batches
        run on the process's shared HE pool (hulian.crypto.he.parallel.shared_pool)."""
        if rank not in (0, 1):
            raise MpcError(f"rank must be 0 or 1 (two parties), got {rank!r}")
        if scheme not in _GENERATORS:
            raise HeError(f"unknown HE scheme {scheme!r} for triples; choose one of {sorted(_GENERATORS)}")
        self.channel, self.rank, self.scheme, self.bits = channel, rank, scheme, bits
        self._secret = _GENERATORS[scheme](bits, allow_insecure_keys=allow_insecure_keys)
        self._mine: PublicKey = self._secret.public
        topic = channel.topic("he-public-key")
        channel.send_bytes(topic, serialize.public_key_to_bytes(self._mine))
        try:
            self._peer = serialize.public_key_from_bytes(channel.recv_bytes(topic), scheme, allow_insecure_keys)
        except HeError as e:
            raise MpcError(f"{channel.peer}'s {scheme} public key refused: {e}") from e
        if self._peer.bits != bits:
            raise MpcError(f"{channel.peer} sent a {self._peer.bits}-bit {scheme} key where both parties agreed on "
                           f"{bits} bits: configure the same key size on both sides")
        # plaintexts below 2^capacity decrypt to themselves under both keys (OU: its non-negative half)
        self._capacity = min((int(k.plaintext_modulus) - 1).bit_length() - 1 for k in (self._mine, self._peer))
        ciphertext_bytes = (int(self._peer.ciphertext_modulus).bit_length() + 7) // 8 + 8  # + protobuf framing
        self._per_message = max(1, PIECE_BYTES // ciphertext_bytes)

    # ---- the Triples protocol ------------------------------------------------------------------------
    def mul(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, c) with c = a0 b0 + a1 b1 + (a0 b1 + b0 a1): one reply per element, summing both products."""
        size = _count(size)
        a, b = _random_words(size), _random_words(size)
        c = a * b
        for part in _batches(size, self._per_message):  # the key holder sends 2 ciphertexts per element of its half
            c[part] += self._mul_cross(a[part], b[part])
        return a, b, c

    def square(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(a, c) with c = a0^2 + a1^2 + 2 a0 a1: the cross term is a0 times the scalar 2 a1 mod 2^64."""
        size = _count(size)
        a = _random_words(size)
        c = a * a
        for part in _batches(size, 2 * self._per_message):
            c[part] += self._square_cross(a[part])
        return a, c

    def dot(self, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a (m, k), b (k, n), c = a @ b). Cross terms A0 B1 and A1 B0, packed: the encryptor puts S rows of
        a column of its matrix in one plaintext (slots of 128 + ceil(log2 k) + 41 bits: a sum of k products and
        its mask), the other raises each such ciphertext to its B[l, j], sums over l and adds a packed mask; one
        reply per (row block, j). Per party: k*B E, k*n*B X, n*B (E + D), (k + n)*B ciphertexts sent, with
        B = ceil(m/S); when m*ceil(n/S) is smaller it packs rows of b instead (c^T = b^T a^T), m and n swapped.
        S at 2048 bits for 3 <= k <= 128: 3 (OU) or 11 (Paillier)."""
        m, k, n = _count(m), _count(k), _count(n)
        a, b = _random_words((m, k)), _random_words((k, n))
        c = ring.matmul(a, b)
        if m and k and n:
            slots = self._layout(PRODUCT_BITS, k, "dot")[2]
            if m * -(-n // slots) < n * -(-m // slots):
                c += self._matmul_cross(b.T, a.T).T
            else:
                c += self._matmul_cross(a, b)
        return a, b, c

    def and_(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, c) with c = a & b, XOR-shared, 64 independent bits a word: c = a0&b0 ^ a1&b1 ^ (a0&b1 ^ b0&a1).
        The key holder encrypts each bit of its a and b by itself, as bit * 2^(slot offset); the masker
        multiplies together the ciphertexts its own bit selects (a0_j b1_j + b0_j a1_j in slot j), adds a
        packed mask and returns one ciphertext per S slots; the low bit of a slot is the XOR of the two ANDs
        masked. Slow by nature: one encryption per bit (see the module doc)."""
        size = _count(size)
        a, b = _random_words(size), _random_words(size)
        c = a & b
        for part in _batches(size, max(1, self._per_message // WORD_BITS)):
            c[part] ^= self._and_cross(a[part], b[part])
        return a, b, c

    def close(self) -> None:
        """Nothing to stop: the workers of the process's shared HE pool keep this source's keys (secret key
        included, never written anywhere) among their KEPT_KEYS most recent until newer keys or the process's
        exit push them out."""

    # ---- cross terms --------------------------------------------------------------------------------
    def _mul_cross(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Shares of a0*b1 + b0*a1 for one batch: the key holder's (a, b) against the masker's (b, a)."""
        mine, theirs = self._halves(len(a))
        return self._products("mul", np.stack((a[mine], b[mine]), 1), np.stack((b[theirs], a[theirs]), 1))

    def _square_cross(self, a: np.ndarray) -> np.ndarray:
        """Shares of 2*a0*a1 for one batch: the key holder's a against the masker's 2a mod 2^64."""
        mine, theirs = self._halves(len(a))
        return self._products("square", a[mine, None], a[theirs, None] * np.uint64(2))

    def _products(self, what: str, values: np.ndarray, scalars: np.ndarray) -> np.ndarray:
        """Shares of sum_t x[i, t] * k[i, t] for every element i of a batch, in element order: `values` (this
        party's half, its x) are encrypted under its key, `scalars` (the peer's half, its k) multiply the
        peer's ciphertexts."""
        terms = values.shape[1]
        mask_bits = self._layout(PRODUCT_BITS, terms, what)[0]
        count = len(scalars)
        rho = _random_masks(count, mask_bits)
        combine = (np.repeat(np.arange(count), terms), np.arange(terms * count), scalars.reshape(-1).tolist())
        plain = self._exchange(f"he-{what}", values.reshape(-1).tolist(), terms * count,
                               lambda cts: self._combine(cts, rho, *combine), len(values))
        mine = _low_words(plain, mask_bits + 1, self.channel.peer)
        theirs = np.array([-r & _WORD for r in rho], dtype=np.uint64)
        return np.concatenate((mine, theirs) if self.rank == 0 else (theirs, mine))

    def _matmul_cross(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Shares of x_mine @ y_peer + x_peer @ y_mine (p, q), in batches of row blocks."""
        p, k = x.shape
        q = y.shape[1]
        slots = self._layout(PRODUCT_BITS, k, "dot")[2]
        rows = slots * max(1, self._per_message // max(k, q))  # whole blocks per batch
        out = np.empty((p, q), dtype=np.uint64)
        for start in range(0, p, rows):
            out[start:start + rows] = self._matmul_batch(x[start:start + rows], y)
        return out

    def _matmul_batch(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """One batch of `_matmul_cross`: plaintext (l, block) holds x[block rows, l]; reply (block, j) its
        row block of column j, slot i for row block*S + i."""
        (p, k), q = x.shape, y.shape[1]
        mask_bits, slot, slots = self._layout(PRODUCT_BITS, k, "dot")
        blocks = -(-p // slots)
        columns = x.T.tolist()
        plains = [_pack(column[i * slots:(i + 1) * slots], slot) for column in columns for i in range(blocks)]
        masks = _random_masks(blocks * q, mask_bits, slot, slots)
        # reply (i, j) = sum over l of ciphertext (l, i) times y[l, j]
        reply = np.repeat(np.arange(blocks * q), k)
        index = np.tile(np.arange(k) * blocks, blocks * q) + np.repeat(np.arange(blocks), q * k)
        scalars = y.T.reshape(-1).tolist() * blocks
        plain = self._exchange("he-dot", plains, k * blocks,
                               lambda cts: self._combine(cts, masks, reply, index, scalars),
                               q * blocks)
        _check_range(plain, slot * slots, self.channel.peer)
        mine = np.array([[v & _WORD for v in _slots(value, slot, slots)] for value in plain], dtype=np.uint64)
        theirs = np.array([[-v & _WORD for v in _slots(mask, slot, slots)] for mask in masks], dtype=np.uint64)
        # (block, j, slot) -> (block * S + slot, j), rows past p dropped
        shares = (mine + theirs).reshape(blocks, q, slots).transpose(0, 2, 1).reshape(blocks * slots, q)
        return shares[:p]

    def _and_cross(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """XOR shares of a0&b1 ^ b0&a1 for one batch of words. Ciphertext 2j is the key holder's a bit j and
        2j + 1 its b bit j, in slot j % S of reply j // S."""
        mask_bits, slot, slots = self._layout(1, 2, "and_")
        mine, theirs = self._halves(len(a))
        my_count, peer_bits = (WORD_BITS * (half.stop - half.start) for half in (mine, theirs))
        my_bits = _interleave(ring.unpack_bits(a[mine], my_count), ring.unpack_bits(b[mine], my_count)).tolist()
        plains = [bit << (slot * (j // 2 % slots)) for j, bit in enumerate(my_bits)]
        masks = _random_masks(-(-peer_bits // slots), mask_bits, slot, slots)
        # the peer's a bit times my b bit, its b bit times my a bit: a ciphertext my bit selects is multiplied in
        index = np.flatnonzero(_interleave(ring.unpack_bits(b[theirs], peer_bits),
                                           ring.unpack_bits(a[theirs], peer_bits)))
        terms = (index // 2 // slots, index, [1] * len(index))
        plain = self._exchange("he-and", plains, 2 * peer_bits, lambda cts: self._combine(cts, masks, *terms),
                               -(-my_count // slots))
        _check_range(plain, slot * slots, self.channel.peer)
        out = np.empty(len(a), dtype=np.uint64)
        out[mine] = ring.pack_bits(_low_bits(plain, slot, slots, my_count))
        out[theirs] = ring.pack_bits(_low_bits(masks, slot, slots, peer_bits))
        return out

    # ---- one batch on the wire -------------------------------------------------------------------------
    def _exchange(self, step: str, plains: Sequence[int], peer_count: int,
                  respond: Callable[[list[Ciphertext]], list[Ciphertext]], reply_count: int) -> list[int]:
        """Both directions of one batch: send Enc_mine(plains) and receive the peer's `peer_count` ciphertexts,
        send back respond(them) and receive our `reply_count` replies, decrypted."""
        topic = self.channel.topic(step)
        self._send(topic, self._mine, parallel.encrypt_many(self._secret, plains))
        replies = respond(self._recv(topic, self._peer, peer_count))
        topic = self.channel.topic(f"{step}-reply")
        self._send(topic, self._peer, replies)
        received = self._recv(topic, self._mine, reply_count)
        try:
            return parallel.decrypt_many(self._secret, received)
        except HeError as e:
            raise MpcError(f"{self.channel.peer}'s replies on {topic!r} do not decrypt to masked values: {e}") from e

    def _combine(self, cts: list[Ciphertext], masks: list[int], reply: Sequence[int], index: Sequence[int],
                 scalars: Sequence[int]) -> list[Ciphertext]:
        """Enc_peer(masks[r] + sum of scalars[t] * x[index[t]] over the terms t with reply[t] = r), for every r.
        Each reply starts from a fresh encryption of its mask, which gives it fresh randomness."""
        peer = self._peer
        out = parallel.encrypt_many(peer, masks)
        reply, index, scalars = np.asarray(reply).tolist(), np.asarray(index).tolist(), [int(s) for s in scalars]
        powers = [t for t, s in enumerate(scalars) if s > 1]
        powered = peer.mul_plain_many([cts[index[t]] for t in powers], [scalars[t] for t in powers])
        for t, ct in zip(powers, powered, strict=True):
            out[reply[t]] = peer.add(out[reply[t]], ct)
        for t, s in enumerate(scalars):
            if s == 1:
                out[reply[t]] = peer.add(out[reply[t]], cts[index[t]])
        return out

    def _send(self, topic: str, key: PublicKey, cts: list[Ciphertext]) -> None:
        """`cts` in messages of at most `_per_message` ciphertexts (one, possibly empty, at least)."""
        for start in range(0, max(1, len(cts)), self._per_message):
            piece = cts[start:start + self._per_message]
            self.channel.send_bytes(topic, serialize.ciphertexts_to_bytes(key, piece, (len(piece),)))

    def _recv(self, topic: str, key: PublicKey, count: int) -> list[Ciphertext]:
        """The `count` ciphertexts under `key` the peer sends on `topic`, each checked against the key."""
        cts: list[Ciphertext] = []
        for start in range(0, max(1, count), self._per_message):
            want = min(self._per_message, count - start)
            try:
                piece, shape = serialize.ciphertexts_from_bytes(key, self.channel.recv_bytes(topic))
            except HeError as e:
                raise MpcError(f"{self.channel.peer} sent an unusable message on {topic!r}: {e}") from e
            if shape != (want,):
                raise MpcError(f"{self.channel.peer} sent ciphertexts of shape {shape} on {topic!r} where ({want},) "
                               "were expected: the parties are running different steps or sizes")
            cts.extend(piece)
        return cts

    def _halves(self, count: int) -> tuple[slice, slice]:
        """(mine, theirs): the elements whose cross terms this party's key carries, and the peer's."""
        first, second = slice(0, (count + 1) // 2), slice((count + 1) // 2, count)
        return (first, second) if self.rank == 0 else (second, first)

    def _layout(self, product_bits: int, terms: int, what: str) -> tuple[int, int, int]:
        """(mask bits, slot bits, slots per plaintext) for sums of `terms` products of `product_bits` bits;
        HeError when not even one masked sum fits the plaintext space."""
        mask_bits = product_bits + (terms - 1).bit_length() + SIGMA   # (terms - 1).bit_length() = ceil(log2 terms)
        slot = mask_bits + 1                                          # the masked sum stays below 2^slot
        if self._capacity < slot:
            raise HeError(f"{what} triples need plaintexts of {slot} bits (a masked sum of {terms} products), but "
                          f"{self.scheme}-{self.bits} keys hold {self._capacity}: use a larger key")
        return mask_bits, slot, self._capacity // slot


def _count(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
        raise MpcError(f"a triple size must be a non-negative integer, got {size!r}")
    return int(size)


def _random_words(shape: int | tuple[int, ...]) -> np.ndarray:
    """Uniform uint64 words from the OS (secrets)."""
    count = math.prod(shape) if isinstance(shape, tuple) else shape
    return np.frombuffer(secrets.token_bytes(8 * count), dtype="<u8").astype(np.uint64).reshape(shape)


def _batches(size: int, per: int) -> Iterator[slice]:
    for start in range(0, size, per):
        yield slice(start, min(size, start + per))


def _interleave(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x0, y0, x1, y1, ..."""
    return np.stack((x, y), axis=1).reshape(-1)


def _pack(values: Sequence[int], slot: int) -> int:
    """values[i] in slot i (bits slot*i and up) of one plaintext."""
    return sum(int(v) << (slot * i) for i, v in enumerate(values))


def _slots(value: int, slot: int, slots: int) -> list[int]:
    """The slots of a packed value, each with the slots above it (callers keep the low bits they need)."""
    return [value >> (slot * i) for i in range(slots)]


def _low_bits(values: Sequence[int], slot: int, slots: int, count: int) -> np.ndarray:
    """The low bit of the first `count` slots of `values`, slot after slot (uint8 0/1)."""
    return np.array([v >> (slot * i) & 1 for v in values for i in range(slots)][:count], dtype=np.uint8)


def _random_masks(count: int, mask_bits: int, slot: int = 0, slots: int = 1) -> list[int]:
    """`count` packed masks: each of `slots` slots of `slot` bits uniform in [0, 2^mask_bits), the bits above
    zero (a carry has room). One read of the OS's randomness for all of them."""
    size = (slot * (slots - 1) + mask_bits + 7) // 8
    raw = secrets.token_bytes(count * size)
    pattern = sum(((1 << mask_bits) - 1) << (slot * i) for i in range(slots))
    return [int.from_bytes(raw[i * size:(i + 1) * size], "little") & pattern for i in range(count)]


def _check_range(values: Sequence[int], bits: int, peer: object) -> None:
    if any(v >> bits for v in values):
        raise MpcError(f"{peer}'s reply decrypts to a value of more than {bits} bits: not a masked value of this "
                       "protocol (the parties are running different steps or sizes)")


def _low_words(values: Sequence[int], bits: int, peer: object) -> np.ndarray:
    """The decrypted masked values mod 2^64, after checking they are below 2^bits."""
    _check_range(values, bits, peer)
    return np.array([v & _WORD for v in values], dtype=np.uint64)
