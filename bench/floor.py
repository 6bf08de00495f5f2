"""The floor: the thinnest Python proxy on Modelgate's stack, for comparison.

uvicorn (uvloop, httptools, as ``bin/run`` starts Modelgate) forwarding each
request to ``FLOOR_UPSTREAM`` with one shared aiohttp session, and the answer
back as it arrives. No key, no parsing, no limits, no usage: what any Python
gateway on this stack pays before doing its own work. Run it beside the fake
upstream and drive it with the load generator::

    .venv/bin/python -m bench.fake_upstream --port 18901 &
    FLOOR_UPSTREAM=http://127.0.0.1:18901 .venv/bin/python -m uvicorn \\
        bench.floor:app --port 18902 --no-access-log --no-proxy-headers \\
        --http config.http_protocol:HttpToolsProtocol &
    .venv/bin/python -m bench.loadgen --base http://127.0.0.1:18902 \\
        --scenario chat -c 16 -d 3 --key x
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

UPSTREAM = os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:18901").rstrip("/")
_session: aiohttp.ClientSession | None = None


async def _lifespan(receive: Any, send: Any) -> None:
    global _session
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), auto_decompress=False
            )
            await send({"type": "lifespan.startup.complete"})
        else:
            if _session is not None:
                await _session.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    assert _session is not None
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    async with _session.request(
        scope["method"],
        UPSTREAM + scope["path"],
        data=body,
        headers={"content-type": "application/json", "authorization": "Bearer x"},
    ) as answer:
        kind = answer.headers.get("content-type", "application/json").encode()
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [(b"content-type", kind)],
            }
        )
        async for chunk in answer.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
