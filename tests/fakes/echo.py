"""An upstream that echoes every request back in errors, in each vendor's shapes.

Used by the secrets matrix (tests/gateway/test_secrets_matrix.py). Every request is
answered according to ``app["state"]["mode"]``:

- ``("http", status, "json")``: ``status`` with the vendor's error JSON whose
  message quotes every request header, the query string and the body;
- ``("http", status, "text")``: the same echo as plain text;
- ``("stream_error",)``: 200, one valid chunk, then an in-stream error event
  echoing the request, in the vendor's framing (SSE, NDJSON, AWS event stream);
- ``("break",)``: 200, one valid chunk, then a cut-off echo and a dropped
  connection.

With a ``token``, ``POST …/token`` answers that OAuth2 access token instead,
so the API calls carry it and may echo it.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.bedrock import event as bedrock_event
from tests.fakes.bedrock import exception_frame
from tests.fakes.openai import new_app

STATUSES = (400, 401, 403, 404, 429, 500, 502, 503)
_AWS_CODES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    502: "InternalFailure",
    503: "ServiceUnavailableException",
}


def echo_text(request: web.Request, body: bytes) -> str:
    headers = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
    return (
        f"echo {request.method} {request.path_qs} headers: {headers} "
        f"body: {body.decode('utf-8', 'replace')}"
    )


def error_json(family: str, status: int, echo: str) -> tuple[Any, dict[str, str]]:
    """The vendor's error body (and headers) carrying ``echo`` as its message."""
    if family == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": echo}}, {}
    if family == "gemini":
        return [{"error": {"code": status, "message": echo, "status": "X"}}], {}
    if family == "ollama":
        return {"error": echo}, {}
    if family == "bedrock":
        code = _AWS_CODES[status]
        return {"message": echo, "__type": code}, {"x-amzn-ErrorType": code}
    return {"error": {"message": echo, "type": "invalid_request_error"}}, {}


def first_chunk(family: str) -> bytes:
    if family == "anthropic":
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 1, "output_tokens": 0},
            },
        }
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "hi"},
        }
        return b"".join(
            f"event: {d['type']}\ndata: {json.dumps(d)}\n\n".encode()
            for d in (start, block, delta)
        )
    if family == "gemini":
        data = {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "hi"}]}, "index": 0}
            ]
        }
        return f"data: {json.dumps(data)}\r\n\r\n".encode()
    if family == "ollama":
        data = {
            "model": "m",
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": "hi"},
            "done": False,
        }
        return json.dumps(data).encode() + b"\n"
    if family == "bedrock":
        return bedrock_event("messageStart", {"role": "assistant"}) + bedrock_event(
            "contentBlockDelta", {"delta": {"text": "hi"}, "contentBlockIndex": 0}
        )
    data = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": "hi"},
                "finish_reason": None,
            }
        ],
    }
    return f"data: {json.dumps(data)}\n\n".encode()


def stream_error(family: str, echo: str) -> bytes:
    if family == "anthropic":
        data = {"type": "error", "error": {"type": "overloaded_error", "message": echo}}
        return f"event: error\ndata: {json.dumps(data)}\n\n".encode()
    if family == "gemini":
        data = {"error": {"code": 500, "message": echo, "status": "INTERNAL"}}
        return f"data: {json.dumps(data)}\r\n\r\n".encode()
    if family == "ollama":
        return json.dumps({"error": echo}).encode() + b"\n"
    if family == "bedrock":
        return exception_frame("throttlingException", echo)
    data = {"error": {"message": echo, "type": "server_error", "code": None}}
    return f"data: {json.dumps(data)}\n\n".encode()


def make_app(family: str, token: str | None = None) -> web.Application:
    """The echoing upstream for one vendor family (see the module docstring)."""
    # A mutable dict: the test switches modes while the app runs.
    state: dict[str, Any] = {"mode": ("http", 500, "json"), "requests": 0}
    app = new_app(state=state)

    async def answer(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        state["requests"] += 1
        if token and request.path.endswith("/token"):
            return web.json_response({"access_token": token, "expires_in": 3600})
        echo = echo_text(request, body)
        mode = state["mode"]
        if mode[0] == "http":
            _, status, shape = mode
            if shape == "text":
                return web.Response(status=status, text=echo)
            data, headers = error_json(family, status, echo)
            return web.json_response(data, status=status, headers=headers)
        kind = {
            "ollama": "application/x-ndjson",
            "bedrock": "application/vnd.amazon.eventstream",
        }.get(family, "text/event-stream")
        response = web.StreamResponse(status=200, headers={"Content-Type": kind})
        await response.prepare(request)
        await response.write(first_chunk(family))
        if mode[0] == "stream_error":
            await response.write(stream_error(family, echo))
            await response.write_eof()
            return response
        # A stream that breaks mid-way: half an event, then the connection drops.
        await response.write(stream_error(family, echo)[: len(echo) // 2])
        assert request.transport is not None
        request.transport.close()
        return response

    app.router.add_route("*", "/{tail:.*}", answer)
    return app
