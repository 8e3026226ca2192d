"""A TCP proxy the tests control, between the API/workers and Postgres.

Each :class:`Link` listens on its own loopback port and forwards every connection to the
target. The test can add latency to every chunk, reset every open connection (RST to both
sides), or blackhole the link for a while: connections are still accepted but nothing is
forwarded in either direction until it ends, like a network partition that TCP rides out
(bytes held, not dropped, so the protocol streams stay intact).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

CHUNK = 65536
TICK = 0.1


class _Pair:
    """One proxied connection: the client side and the upstream side."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()

    def close(self, *, reset: bool = False) -> None:
        """Close both sides. ``shutdown`` first: a plain ``close`` would neither wake the pump
        thread blocked in ``recv`` on the socket nor tell the peer, leaving it waiting forever."""
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                if reset:  # SO_LINGER 0: the final close sends RST instead of FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)
                else:
                    sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class Link:
    """One proxied port. ``port`` is where clients connect; faults apply to this link alone."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TICK)
        self.port: int = self._listener.getsockname()[1]
        self.latency = 0.0
        self._open = threading.Event()  # cleared while blackholed
        self._open.set()
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()

    # -- faults -----------------------------------------------------------------------------

    def reset_all(self) -> int:
        """Reset every open connection; returns how many there were."""
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.close(reset=True)
        return len(pairs)

    def blackhole(self) -> None:
        """Stop forwarding (new connections are accepted and held) until :meth:`restore`."""
        self._open.clear()

    def restore(self) -> None:
        self.latency = 0.0
        self._open.set()

    def close(self) -> None:
        self._stopped.set()
        self._open.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.reset_all()

    # -- forwarding -------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._wait_open()
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()  # the server is down: the client sees the connection refused/closed
            return
        upstream.settimeout(None)
        pair = _Pair(client, upstream)
        with self._lock:
            self._pairs.add(pair)
            self.connections += 1
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(pair, source, sink), daemon=True).start()

    def _wait_open(self) -> None:
        while not self._open.wait(TICK):
            if self._stopped.is_set():
                return

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not pair.closed.is_set():
                data = source.recv(CHUNK)
                if not data:
                    break
                self._wait_open()
                if self.latency:
                    time.sleep(self.latency)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            pair.close()
            with self._lock:
                self._pairs.discard(pair)
