"""Run an aiohttp application on a loopback port in a background thread.

Fake vendor servers build an ``aiohttp.web.Application`` and hand it to
``FakeServer``; tests get its ``url`` and the list of requests it received.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeServer:
    """An aiohttp app served on 127.0.0.1 from its own thread and event loop."""

    def __init__(
        self, app: web.Application, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.app = app
        self.port = free_port()
        self.ssl_context = ssl_context
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            # Like a real vendor, stop work when the client goes away.
            self._runner = web.AppRunner(
                self.app, handle_signals=False, handler_cancellation=True
            )
            await self._runner.setup()
            site = web.TCPSite(
                self._runner, "127.0.0.1", self.port, ssl_context=self.ssl_context
            )
            await site.start()
            self._started.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def start(self) -> FakeServer:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        fut = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextmanager
def serve(app: web.Application) -> Iterator[FakeServer]:
    server = FakeServer(app).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def serve_tls(app: web.Application, ssl_context: ssl.SSLContext) -> Iterator[int]:
    """Serve ``app`` over TLS on loopback; yields the port."""
    server = FakeServer(app, ssl_context).start()
    try:
        yield server.port
    finally:
        server.stop()


def json_error(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)
