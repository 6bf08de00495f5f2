"""``http.send`` over aiohttp directly sends what httpx's request path sends.

The pooled client over aiohttp sends driver requests without building an
``httpx.Request`` (``http.DirectAiohttp``). The same calls, through it and
through the transport's own path (``direct`` off), reach a loopback server
that records them: the same method, target, headers and body; the same
answers, whole and streamed; the same errors, in httpx's classes; literals
sent to their canonical address, other schemes refused.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
from typing import Any

import httpx
import pytest
from aiohttp import web

from providers import http

TIMEOUT = httpx.Timeout(5.0, read=0.5)


class Recorder:
    """An aiohttp server on loopback that records what it receives."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            {
                "method": request.method,
                "target": request.raw_path,
                "host": request.headers.get("Host"),
                "headers": sorted(
                    (k.lower(), v) for k, v in request.headers.items() if k != "Host"
                ),
                "body": await request.read(),
            }
        )
        if request.path == "/slow":
            await asyncio.sleep(2)
        if request.path == "/gzip":
            return web.Response(
                body=gzip.compress(b'{"ok":true}'),
                headers={
                    "Content-Encoding": "gzip",
                    "Content-Type": "application/json",
                },
            )
        if request.path == "/stream":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i in range(3):
                await response.write(f"data: {i}\n\n".encode())
            await response.write_eof()
            return response
        return web.json_response(
            {"ok": True}, status=418 if request.path == "/teapot" else 200
        )


async def _served(recorder: Recorder) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


async def _call(direct: bool, url: str, **kwargs: Any) -> Any:
    async with http.build_client() as client:
        transport = client._transport
        assert isinstance(transport, http.GuardedTransport)
        assert transport.direct is not None  # the pooled kind has it
        if not direct:
            transport.direct = None
        stream = kwargs.pop("stream", False)
        response = await http.send(
            client,
            kwargs.pop("method", "POST"),
            url,
            kwargs.pop("headers", {}),
            kwargs.pop("content", b""),
            TIMEOUT,
            stream=stream,
        )
        if stream:
            chunks = [chunk async for chunk in response.aiter_bytes()]
            await response.aclose()
            return response.status_code, dict(response.headers), b"".join(chunks)
        return (
            response.status_code,
            response.headers.get("content-type"),
            response.content,
        )


def _both(settings: Any, url_of: Any, **kwargs: Any) -> tuple[list[Any], list[Any]]:
    settings.PROVIDERS_HTTP_TRANSPORT = "aiohttp"
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = True
    recorder = Recorder()

    async def main() -> list[Any]:
        runner, port = await _served(recorder)
        try:
            return [
                await _call(direct, url_of(port), **dict(kwargs))
                for direct in (True, False)
            ]
        finally:
            await runner.cleanup()

    answers = asyncio.run(main())
    return answers, recorder.seen


@pytest.mark.parametrize(
    "case",
    [
        {"path": "/v1/chat/completions?api-version=2024-10-21", "content": b'{"a":1}'},
        {"path": "/model/a.b%3A0/converse", "content": b"{}"},
        {"path": "/v1/models", "method": "GET"},
        {"path": "/teapot", "content": b"x"},
        {"path": "/gzip", "content": b"{}"},
    ],
    ids=["query", "encoded-path", "get", "error-status", "gzip"],
)
def test_the_same_request_and_answer_either_way(settings: Any, case: dict) -> None:
    path = case.pop("path")
    headers = {
        "Authorization": "Bearer sk-test",
        "content-type": "application/json",
        "ACCEPT": "application/json",  # replaces the client's default, any case
        "x-extra": "1",
    }
    answers, seen = _both(
        settings, lambda port: f"http://127.0.0.1:{port}{path}", headers=headers, **case
    )
    direct, httpx_path = answers
    assert direct == httpx_path
    assert seen[0] == seen[1]
    assert dict(seen[0]["headers"])["accept"] == "application/json"
    if path == "/gzip":
        assert direct[2] == b'{"ok":true}'


def test_a_stream_arrives_the_same_either_way(settings: Any) -> None:
    answers, seen = _both(
        settings,
        lambda port: f"http://127.0.0.1:{port}/stream",
        content=b'{"stream":true}',
        stream=True,
    )
    assert answers[0][2] == answers[1][2] == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert seen[0] == seen[1]


def test_a_literal_in_another_spelling_goes_to_its_canonical_address(
    settings: Any,
) -> None:
    # 2130706433 is 127.0.0.1: both reach the loopback server. (httpx's path
    # keeps the Host header of the spelling given; the direct one names the
    # address it connected to.)
    answers, seen = _both(
        settings, lambda port: f"http://2130706433:{port}/v1/models", method="GET"
    )
    assert (
        answers[0]
        == answers[1]
        == (200, "application/json; charset=utf-8", answers[0][2])
    )
    assert len(seen) == 2
    assert seen[0]["host"].split(":")[0] == "127.0.0.1"


def _error(settings: Any, url: str, path: str = "") -> list[type[BaseException]]:
    settings.PROVIDERS_HTTP_TRANSPORT = "aiohttp"
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = path != "private"

    async def one(direct: bool) -> type[BaseException]:
        try:
            await _call(direct, url, content=b"{}")
        except Exception as exc:
            return type(exc)
        raise AssertionError("no error")

    async def main() -> list[type[BaseException]]:
        return [await one(True), await one(False)]

    return asyncio.run(main())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_errors_are_httpxs_and_the_same_either_way(settings: Any) -> None:
    refused = _error(settings, f"http://127.0.0.1:{_closed_port()}/x")
    # httpx_aiohttp's mapping (a refused connection is its ConnectTimeout).
    assert refused[0] is refused[1]
    assert issubclass(refused[0], httpx.TransportError)

    scheme = _error(settings, "ftp://127.0.0.1/x")
    assert scheme == [http.OutboundBlocked, http.OutboundBlocked]

    private = _error(settings, "http://127.0.0.1:9/x", "private")
    assert private == [http.OutboundBlocked, http.OutboundBlocked]


def test_a_read_timeout_is_httpxs_either_way(settings: Any) -> None:
    recorder = Recorder()
    settings.PROVIDERS_HTTP_TRANSPORT = "aiohttp"
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = True

    async def main() -> list[type[BaseException]]:
        runner, port = await _served(recorder)
        kinds = []
        try:
            for direct in (True, False):
                try:
                    await _call(direct, f"http://127.0.0.1:{port}/slow", content=b"{}")
                except Exception as exc:
                    kinds.append(type(exc))
        finally:
            await runner.cleanup()
        return kinds

    kinds = asyncio.run(main())
    assert len(kinds) == 2
    assert all(issubclass(kind, httpx.TimeoutException) for kind in kinds)
