"""A fast fake LLM upstream for benchmarks: OpenAI and Anthropic, plain and streamed.

A raw ``asyncio.Protocol`` HTTP/1.1 server (keep-alive, pipelining-safe) whose
every answer is encoded once at start-up, so it costs a few microseconds per
request and is never the bottleneck of a benchmark (``bench`` prints its direct
figures to prove it). Routes, all POST, any credentials accepted:

- ``/v1/chat/completions``: OpenAI chat completion, or with ``"stream": true`` in
  the body an SSE stream of ``CHUNKS`` content chunks, a finish chunk, a usage
  chunk and ``[DONE]``;
- ``/v1/messages``: Anthropic message, or streamed with the Anthropic event
  sequence (``CHUNKS`` text deltas);
- ``/v1/responses``: OpenAI Responses ``Response``, or streamed with its event
  sequence (``CHUNKS`` ``response.output_text.delta`` events, then
  ``response.completed``);
- ``/v1/embeddings``: one ``EMBEDDING_DIMS``-float embedding (the size of
  ``text-embedding-3-small``'s), whatever the input.

Run: ``python -m bench.fake_upstream --port 9100 [--processes N]`` (SO_REUSEPORT).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from typing import Any

CHUNKS = 20
WORD = "tok "
MODEL = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def _plain(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def _chunked(events: list[bytes]) -> list[bytes]:
    """The response head and each event as its own HTTP chunk (then the end)."""
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    parts = [head]
    for event in events:
        parts.append(f"{len(event):x}\r\n".encode() + event + b"\r\n")
    parts.append(b"0\r\n\r\n")
    return parts


def openai_completion() -> bytes:
    return _plain(
        _dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": 1700000000,
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": WORD * CHUNKS,
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 11,
                    "completion_tokens": CHUNKS,
                    "total_tokens": 11 + CHUNKS,
                },
                "system_fingerprint": "fp_bench",
            }
        )
    )


def openai_stream() -> list[bytes]:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + _dumps({**base, "choices": [choice]}) + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": WORD}) for _ in range(CHUNKS)]
    events.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 11, "completion_tokens": CHUNKS, "total_tokens": 31}
    events.append(b"data: " + _dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return _chunked(events)


def anthropic_message() -> bytes:
    return _plain(
        _dumps(
            {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": CLAUDE,
                "content": [{"type": "text", "text": WORD * CHUNKS}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 11, "output_tokens": CHUNKS},
            }
        )
    )


def anthropic_stream() -> list[bytes]:
    def event(data: dict[str, Any]) -> bytes:
        return b"event: " + data["type"].encode() + b"\ndata: " + _dumps(data) + b"\n\n"

    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 11, "output_tokens": 1},
    }
    events = [
        event({"type": "message_start", "message": message}),
        event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        ),
        event({"type": "ping"}),
    ]
    events += [
        event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": WORD},
            }
        )
        for _ in range(CHUNKS)
    ]
    events += [
        event({"type": "content_block_stop", "index": 0}),
        event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": CHUNKS},
            }
        ),
        event({"type": "message_stop"}),
    ]
    return _chunked(events)


def _response_object(status: str, output: list[Any]) -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": 64,
        "model": MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": 11,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": CHUNKS,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 11 + CHUNKS,
        }
        if done
        else None,
        "user": None,
        "metadata": {},
    }


def _message_item(text: str, status: str) -> dict[str, Any]:
    return {
        "id": "msg_bench",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]
        if text
        else [],
    }


def responses_response() -> bytes:
    item = _message_item(WORD * CHUNKS, "completed")
    return _plain(_dumps(_response_object("completed", [item])))


def responses_stream() -> list[bytes]:
    sequence = 0

    def event(kind: str, **data: Any) -> bytes:
        nonlocal sequence
        payload = {"type": kind, "sequence_number": sequence, **data}
        sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + _dumps(payload) + b"\n\n"

    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "", "annotations": []}
    text = WORD * CHUNKS
    events = [
        event("response.created", response=_response_object("in_progress", [])),
        event("response.in_progress", response=_response_object("in_progress", [])),
        event(
            "response.output_item.added",
            output_index=0,
            item=_message_item("", "in_progress"),
        ),
        event("response.content_part.added", **where, part=part),
    ]
    events += [
        event("response.output_text.delta", **where, delta=WORD) for _ in range(CHUNKS)
    ]
    item = _message_item(text, "completed")
    events += [
        event("response.output_text.done", **where, text=text),
        event("response.content_part.done", **where, part={**part, "text": text}),
        event("response.output_item.done", output_index=0, item=item),
        event("response.completed", response=_response_object("completed", [item])),
    ]
    return _chunked(events)


EMBEDDING_DIMS = 1536


def embeddings() -> bytes:
    dims = range(EMBEDDING_DIMS)
    vector = [round(((i * 7919) % 2000 - 1000) / 31623, 8) for i in dims]
    return _plain(
        _dumps(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": vector}],
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 8, "total_tokens": 8},
            }
        )
    )


NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
    b"content-length: 21\r\n\r\n"
    b'{"error":"not found"}'
)
RESPONSES: dict[tuple[bytes, bool], list[bytes]] = {
    (b"/v1/chat/completions", False): [openai_completion()],
    (b"/v1/chat/completions", True): openai_stream(),
    (b"/v1/messages", False): [anthropic_message()],
    (b"/v1/messages", True): anthropic_stream(),
    (b"/v1/responses", False): [responses_response()],
    (b"/v1/responses", True): responses_stream(),
    (b"/v1/embeddings", False): [embeddings()],
}
MAX_HEAD = 64 * 1024


def _wants_stream(body: bytes) -> bool:
    at = body.find(b'"stream"')
    if at < 0:
        return False
    rest = body[at + 8 : at + 24].lstrip(b" \t\r\n:")
    return rest.startswith(b"true")


class FakeProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive with Content-Length bodies (what every client sends)."""

    __slots__ = ("buffer", "transport")

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    self.transport.close()
                    return
                break
            head = buffer[:end]
            length = 0
            lower = head.lower()
            at = lower.find(b"\ncontent-length:")
            if at >= 0:
                stop = lower.find(b"\r", at + 16)
                length = int(lower[at + 16 : stop if stop > 0 else None].strip())
            elif b"\ntransfer-encoding: chunked" in lower:
                self.transport.close()  # not sent by any client we benchmark
                return
            total = end + 4 + length
            if len(buffer) < total:
                break
            body = buffer[end + 4 : total]
            buffer = buffer[total:]
            first = head.split(b"\r\n", 1)[0].split(b" ")
            path = first[1].split(b"?", 1)[0] if len(first) > 1 else b""
            parts = RESPONSES.get((path, _wants_stream(body)))
            if parts is None:
                self.transport.write(NOT_FOUND)
            else:
                for part in parts:
                    self.transport.write(part)
            if b"\nconnection: close" in lower:
                self.transport.close()
                return
        self.buffer = buffer


def _socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _loop_policy() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FakeProtocol, sock=_socket(host, port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def serve(host: str, port: int) -> None:
    _loop_policy()
    asyncio.run(_serve(host, port))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    if args.host != "127.0.0.1":
        parser.error("the fake upstream only listens on 127.0.0.1")
    children = []
    for _ in range(max(0, args.processes - 1)):
        pid = os.fork()
        if pid == 0:
            serve(args.host, args.port)
            os._exit(0)
        children.append(pid)
    try:
        serve(args.host, args.port)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
