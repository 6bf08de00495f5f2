"""The HTTP protocol the server speaks: uvicorn's httptools one, a response's
head sent in the same write as its body.

uvicorn writes a response's head (status line and headers) as soon as the
application sends ``http.response.start``, and its body with the next
``http.response.body``: two writes, two system calls and two TCP segments
for every answer, though the body follows at once (Django's handler sends it
right after the head, a stream's first events included). Each write is a
system call uvloop makes on the spot; on this project's 2-core machine the
head's alone was 5 % of a gateway worker's samples on plain chat.

``HttpToolsProtocol`` is uvicorn's, with the connection's transport wrapped in
a ``HeadHoldingTransport``: a head is held until the next write, which takes
it along (one write), or until the end of the loop's turn when nothing
follows in it (an answer whose body is still being made). Nothing else
changes: later writes go straight through, in order; closing the connection
sends a held head first. Served with ``--http
config.http_protocol:HttpToolsProtocol`` (``bin/run``, the bench, the test
gateway).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http import httptools_impl

#: How every response head uvicorn writes begins.
HEAD = b"HTTP/1.1 "


class HeadHoldingTransport:
    """``transport``, holding a response's head back for the write that follows.

    Only a write that begins like a head is held, and never past the end of
    the loop's turn; any other write goes out at once, with a held head in
    front of it.
    """

    __slots__ = ("_head", "_loop", "_transport")

    def __init__(
        self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.writelines((head, data))  # one system call, no copy
        elif data.startswith(HEAD):
            self._head = bytes(data)
            self._loop.call_soon(self._release)
        else:
            self._transport.write(data)

    def _release(self) -> None:
        """Send a head nothing followed in its turn (unless the connection ended)."""
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self._release()
        self._transport.close()

    def abort(self) -> None:
        self._head = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def __getattr__(self, name: str) -> Any:
        # The rest of the transport's interface (set_protocol on an upgrade...).
        return getattr(self._transport, name)


class HttpToolsProtocol(httptools_impl.HttpToolsProtocol):
    """uvicorn's httptools protocol over a ``HeadHoldingTransport``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        held: Any = HeadHoldingTransport(transport, self.loop)  # type: ignore[arg-type]  # a stream transport, always
        super().connection_made(held)
