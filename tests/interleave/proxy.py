"""A TCP proxy in front of Postgres that swallows the reply to one committed statement.

Every connection is forwarded both ways. Once :meth:`ReplyDropper.arm` was given a fragment of
a statement's text, the first connection whose client sends that fragment (in its Parse or
Query message) has everything the server answers from then on held back until the server
says ReadyForQuery, which it sends only after the statement's implicit transaction committed;
then both sides are reset. The client thus sees its connection die with the statement's
outcome unknown, while the server committed it: a lost reply.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType

CHUNK = 65536
#: ReadyForQuery, transaction status idle: the last message of an autocommit statement's reply.
READY_IDLE = b"Z\x00\x00\x00\x05I"


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.swallowing = False
        self.closed = threading.Event()

    def reset(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD)
            with contextlib.suppress(OSError):
                sock.close()


class ReplyDropper:
    """Listens on ``port`` (loopback) and forwards to ``target_port``.

    With ``then_refuse``, the swallowed reply also cuts every other connection and refuses
    new ones (closed at once) until :meth:`accept_again`: the database stays out of reach
    after the lost reply, so the client cannot look up what that statement did.
    """

    def __init__(
        self, target_port: int, target_host: str = "127.0.0.1", *, then_refuse: bool = False
    ) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._fragment: bytes | None = None
        self._pairs: set[_Pair] = set()
        self._stopped = threading.Event()
        self.dropped = threading.Event()  # set once a committed reply was swallowed
        self._then_refuse = then_refuse
        self.refusing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, fragment: bytes) -> None:
        """Swallow the reply to the next statement whose text contains ``fragment``."""
        with self._lock:
            self._fragment = fragment

    def accept_again(self) -> None:
        """Forward new connections again (after ``then_refuse`` refused them)."""
        with self._lock:
            self.refusing = False

    def close(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.reset()

    def __enter__(self) -> ReplyDropper:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                refusing = self.refusing
            if refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pair = _Pair(client, upstream)
            with self._lock:
                self._pairs.add(pair)
            threading.Thread(target=self._requests, args=(pair,), daemon=True).start()
            threading.Thread(target=self._replies, args=(pair,), daemon=True).start()

    def _requests(self, pair: _Pair) -> None:
        try:
            while data := pair.client.recv(CHUNK):
                with self._lock:
                    if self._fragment is not None and self._fragment in data:
                        self._fragment = None
                        pair.swallowing = True
                pair.upstream.sendall(data)
        except OSError:
            pass
        finally:
            pair.reset()

    def _replies(self, pair: _Pair) -> None:
        held = b""
        try:
            while data := pair.upstream.recv(CHUNK):
                if not pair.swallowing:
                    pair.client.sendall(data)
                    continue
                held = (held + data)[-len(READY_IDLE) :]
                if held.endswith(READY_IDLE):  # committed: the client never hears of it
                    if self._then_refuse:
                        self._refuse_all()
                    self.dropped.set()
                    break
        except OSError:
            pass
        finally:
            pair.reset()

    def _refuse_all(self) -> None:
        with self._lock:
            self.refusing = True
            pairs = list(self._pairs)
        for pair in pairs:
            pair.reset()
