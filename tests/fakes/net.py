"""Loopback-only network helpers for the SSRF tests.

``ConnectionCounter`` listens on one port of 127.0.0.1 and ::1 and counts every
TCP connection it accepts (answering a minimal HTTP 200 image, so a connection
that slipped through would also "succeed"). ``fake_dns`` replaces
``socket.getaddrinfo`` and uvloop's ``getaddrinfo`` with a table: names in it
answer loopback addresses only, IP literals and ``localhost`` go to the real
function (no packet leaves the machine for them), and every other name fails as
unknown. No test using these can send a packet off this machine.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64
_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: "
    + str(len(PNG)).encode()
    + b"\r\nConnection: close\r\n\r\n"
    + PNG
)


class ConnectionCounter:
    """Counts TCP connections to one port on 127.0.0.1 (and ::1 when available).

    ``port`` 0 picks a free one; the other addresses share it.
    """

    def __init__(
        self, addresses: tuple[str, ...] = ("127.0.0.1", "::1"), port: int = 0
    ) -> None:
        self.connections = 0
        self.peers: list[str] = []
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        first.bind((addresses[0], port))
        self.port = int(first.getsockname()[1])
        self._sockets.append(first)
        for address in addresses[1:]:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.bind((address, self.port))
            except OSError:  # no IPv6 loopback here: IPv4 alone still counts
                sock.close()
                continue
            self._sockets.append(sock)
        self._threads: list[threading.Thread] = []

    def start(self) -> ConnectionCounter:
        for sock in self._sockets:
            sock.listen(64)
            thread = threading.Thread(target=self._accept, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self.peers.append(str(peer[0]))
            try:
                conn.settimeout(2)
                conn.recv(65536)
                conn.sendall(_ANSWER)
            except OSError:
                pass
            finally:
                conn.close()

    def stop(self) -> None:
        for sock in self._sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(5)


@contextmanager
def counting(
    addresses: tuple[str, ...] = ("127.0.0.1", "::1"),
) -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter(addresses).start()
    try:
        yield counter
    finally:
        counter.stop()


Answer = list[str] | Callable[[], list[str]]


def fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, Answer]) -> list[str]:
    """Serve ``table`` (name → loopback addresses, or a function giving them).

    Returns the list of names looked up, in order (one entry per lookup).
    """
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in table:
            lookups.append(name)
            answer = table[name]
            addresses = answer() if callable(answer) else answer
            assert all(a.startswith("127.") or a == "::1" for a in addresses)
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, int(port or 0), 0, 0) if ":" in a else (a, int(port or 0)),
                )
                for a in addresses
            ]
        if name is None or name == "localhost" or _is_literal(name):
            return real(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async def loop_getaddrinfo(
        self: Any, host: Any, port: Any, *args: Any, **kwargs: Any
    ) -> Any:
        return getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # uvloop (the live gateway's loop) resolves in libuv, not through the
    # socket module: route it through the table too, so no lookup of any code
    # version (the one before the fix included) can reach a real DNS server.
    import uvloop

    monkeypatch.setattr(uvloop.Loop, "getaddrinfo", loop_getaddrinfo)
    return lookups


def _is_literal(name: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
    except OSError:
        return False
    return True
