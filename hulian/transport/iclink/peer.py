"""Per-peer state of a link session, shared by the root link and every spawned sub-channel (as yacl's
`transport::Channel`): the seq counter, the mailbox of received messages, ACKs, FIN and the connect count.

Threads: carrier threads call `on_message`; application threads call `take`, `next_seq`, `wait_window` and the
close steps. One condition guards everything; waits always carry a deadline.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hulian.transport.iclink.errors import LinkError, LinkTimeout
from hulian.transport.iclink.keys import ACK_KEY, CONNECT_PREFIX, FIN_KEY, connect_key, split_seq, with_seq

log = logging.getLogger("hulian.iclink")
CONNECT_ANSWER = b"again"  # value of our answer to a repeated connect


class PeerChannel:
    def __init__(self, rank: int, peer: int, describe: str, post_control: Callable[[str, bytes], None]):
        """`post_control(key, value)` queues an ACK/FIN/connect push to this peer without blocking."""
        self.rank, self.peer, self.describe = rank, peer, describe
        self._post = post_control
        self._cond = threading.Condition()
        self._mailbox: dict[str, tuple[bytes, int]] = {}
        self._received: set[int] = set()  # seq ids seen from the peer
        self._acked: set[int] = set()  # our seq ids the peer acknowledged
        self._sent = 0  # last seq id we used
        self._in_flight = 0  # our pushes (messages and control) not yet finished
        self._fin: int | None = None  # the peer's sent count, once its FIN came
        self._closing = False
        self._connected = False
        self._connects_in = 0
        self.error: LinkError | None = None

    # ---- receiving (carrier threads) ----------------------------------------------------------------
    def on_message(self, key: str, value: bytes) -> None:
        """One whole message from the peer (a mono push, or reassembled chunks)."""
        if key == ACK_KEY:
            with self._cond:
                self._acked.add(int(value))
                self._cond.notify_all()
            return
        if key == FIN_KEY:
            with self._cond:
                if self._fin is None:
                    self._fin = int(value)
                    self._cond.notify_all()
            return
        msg_key, seq = split_seq(key)
        if seq == 0 and msg_key.startswith(CONNECT_PREFIX):
            self._on_connect(msg_key, value)
            return
        with self._cond:
            if seq:
                if seq in self._received:
                    log.debug("duplicate seq %d from rank %d ignored", seq, self.peer)
                    return
                self._received.add(seq)
            if self._closing:
                ack_now = seq > 0  # an asymmetric protocol: acknowledge what nobody will read (as yacl)
            elif msg_key in self._mailbox:
                raise ValueError(f"rank {self.peer} sent key {msg_key!r} twice with different seq ids; "
                                 "the two sides disagree on the message counters")
            else:
                self._mailbox[msg_key] = (value, seq)
                self._cond.notify_all()
                ack_now = False
        if ack_now:
            self._post(ACK_KEY, str(seq).encode())

    def _on_connect(self, msg_key: str, value: bytes) -> None:
        """Store the peer's connect. A repeated one (the peer ran ConnectToMesh again and waits in TestRecv
        for ours) is answered; answers carry a value, which yacl ignores, so two hulian links never answer
        each other's answers."""
        with self._cond:
            self._connects_in += 1
            self._mailbox.setdefault(msg_key, (b"", 0))
            self._cond.notify_all()
            answer = self._connected and self._connects_in > 1 and not value
        if answer:
            self._post(with_seq(connect_key(self.rank), 0), CONNECT_ANSWER)

    def mark_connected(self) -> None:
        with self._cond:
            self._connected = True

    # ---- application side ---------------------------------------------------------------------------
    def take(self, msg_key: str, timeout: float) -> bytes:
        """The message stored under `msg_key`, waiting up to `timeout` s; ACKs it (seq > 0)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_key not in self._mailbox:
                self._raise_if_failed()
                if self._closing:
                    raise LinkError(f"link to rank {self.peer} is closed; no receive after close()")
                if self._fin is not None and len(self._received) >= self._fin:
                    raise LinkError(f"rank {self.peer} ({self.describe}) closed its link after sending "
                                    f"{self._fin} messages, none under key {msg_key!r}: it stopped early "
                                    "(see its log for why)")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LinkTimeout(f"nothing from rank {self.peer} ({self.describe}) under key {msg_key!r} "
                                      f"within {timeout:g} s; check that the peer is alive and at the same step "
                                      "(both sides must send/recv in the same order on each channel)")
                self._cond.wait(left)
            value, seq = self._mailbox.pop(msg_key)
        if seq:
            self._post(ACK_KEY, str(seq).encode())
        return value

    def next_seq(self) -> int:
        with self._cond:
            self._raise_if_failed()
            if self._closing:
                raise LinkError(f"link to rank {self.peer} is closed; no send after close()")
            self._sent += 1
            return self._sent

    def wait_window(self, seq: int, window: int, timeout: float) -> None:
        """Block while `window` or more of our messages up to `seq` are un-ACKed (yacl's throttle)."""
        if window <= 0:
            return
        with self._cond:
            ok = self._cond.wait_for(lambda: self.error is not None or len(self._acked) + window > seq, timeout)
            self._raise_if_failed()
            if not ok:
                raise LinkTimeout(f"rank {self.peer} ({self.describe}) acknowledged only {len(self._acked)} of "
                                  f"{seq} messages within {timeout:g} s (window {window}); the peer is not reading")

    # ---- push bookkeeping (called by the session around every push) -----------------------------------
    def push_started(self) -> None:
        with self._cond:
            self._in_flight += 1

    def push_finished(self, error: LinkError | None = None) -> None:
        with self._cond:
            self._in_flight -= 1
            if error is not None and self.error is None:
                self.error = error
            self._cond.notify_all()

    @property
    def closed_by_peer(self) -> bool:
        """The peer sent its FIN: it may exit once we close, so its going away is no failure."""
        return self._fin is not None

    def check(self) -> None:
        """Raise LinkError if this peer failed (gone, refused a message, or the link was aborted)."""
        with self._cond:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise LinkError(str(self.error)) from self.error

    # ---- close (yacl WaitLinkTaskFinish) ------------------------------------------------------------
    def begin_close(self) -> None:
        """Stop receiving: ACK unread messages and every later one, then send FIN with our sent count."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            unread = [seq for _, seq in self._mailbox.values() if seq]
            self._mailbox.clear()
            sent = self._sent
            self._cond.notify_all()
        if unread:
            log.warning("closing link to rank %d with %d unread messages", self.peer, len(unread))
        for seq in unread:
            self._post(ACK_KEY, str(seq).encode())
        self._post(FIN_KEY, str(sent).encode())

    def finish_close(self, deadline: float) -> None:
        """Wait for the peer's FIN, all its messages, our pushes and all ACKs (by `deadline`, monotonic)."""
        steps = (
            (lambda: self._fin is not None, "sent no FIN: it has not closed its link (still working, or gone)"),
            (lambda: len(self._received) >= (self._fin or 0),  # seq ids are unique and from 1
             "announced more messages in its FIN than arrived"),
            (lambda: self._in_flight == 0, "did not take all our pushes"),
            (lambda: len(self._acked) >= self._sent, "did not acknowledge all our messages"),
        )
        with self._cond:
            for done, what in steps:
                ok = self._cond.wait_for(lambda d=done: d() or self.error is not None,
                                         max(0.0, deadline - time.monotonic()))
                self._raise_if_failed()
                if not ok:
                    raise LinkTimeout(f"closing the link: rank {self.peer} ({self.describe}) {what} "
                                      f"(sent {self._sent}, acked {len(self._acked)}, received "
                                      f"{len(self._received)}, peer FIN {self._fin})")

    def fail(self, error: LinkError) -> None:
        with self._cond:
            if self.error is None:
                self.error = error
            self._cond.notify_all()
