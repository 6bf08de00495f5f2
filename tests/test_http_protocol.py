"""config.http_protocol: a response's head goes out in the same write as its body.

Over a real server started as ``bin/run`` starts it, the write system calls
the serving process makes are counted (``/proc/PID/io``): one per answer with
the project's protocol, two with uvicorn's own (the control that shows the
count can tell them apart). The transport's rules (what is held, for how long,
what closing does) are checked against a transport that records its writes.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from config.http_protocol import HeadHoldingTransport
from tests.fakes.server import free_port

ANSWERS = 40
ROOT = Path(settings.BASE_DIR)


class RecordingTransport:
    """A stream transport that records what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def writelines(self, parts: Any) -> None:
        """One write of every part (uvloop's: one ``writev``)."""
        self.write(b"".join(parts))

    def is_closing(self) -> bool:
        return self.closing or self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n"


def held(inner: RecordingTransport) -> HeadHoldingTransport:
    return HeadHoldingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]


def test_a_head_and_the_body_sent_after_it_are_one_write() -> None:
    async def run() -> None:
        inner = RecordingTransport()
        transport = held(inner)
        transport.write(HEAD)
        assert inner.writes == []
        transport.write(b'{"ok":true}')
        assert inner.writes == [HEAD + b'{"ok":true}']
        transport.write(b"more")  # later writes go straight out
        assert inner.writes[-1] == b"more"
        await asyncio.sleep(0)
        assert len(inner.writes) == 2  # nothing left to release

    asyncio.run(run())


def test_a_head_nothing_follows_goes_out_at_the_end_of_the_turn() -> None:
    async def run() -> None:
        inner = RecordingTransport()
        transport = held(inner)
        transport.write(HEAD)
        assert inner.writes == []
        await asyncio.sleep(0)
        assert inner.writes == [HEAD]
        transport.write(b"later")
        assert inner.writes == [HEAD, b"later"]

    asyncio.run(run())


def test_closing_sends_a_held_head_first_and_a_closed_connection_gets_none() -> None:
    async def run() -> None:
        inner = RecordingTransport()
        transport = held(inner)
        transport.write(HEAD)
        transport.close()
        assert inner.writes == [HEAD] and inner.closed
        await asyncio.sleep(0)
        assert inner.writes == [HEAD]

        gone = RecordingTransport()
        transport = held(gone)
        transport.write(HEAD)
        gone.closing = True  # the client went away meanwhile
        await asyncio.sleep(0)
        assert gone.writes == []

        aborted = RecordingTransport()
        transport = held(aborted)
        transport.write(HEAD)
        transport.abort()
        await asyncio.sleep(0)
        assert aborted.writes == [] and aborted.closed

    asyncio.run(run())


def test_only_a_head_is_held_and_the_rest_of_the_interface_is_the_transports() -> None:
    async def run() -> None:
        inner = RecordingTransport()
        transport = held(inner)
        transport.write(b"5\r\nhello\r\n")
        assert inner.writes == [b"5\r\nhello\r\n"]
        assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
        assert transport.is_closing() is False

    asyncio.run(run())


def _server(port: int, protocol: str | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DEBUG": "true",
        "DOTENV_PATH": "",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable, "-m", "uvicorn", "config.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        "--lifespan", "off", "--no-proxy-headers", "--log-level", "warning",
    ]  # fmt: skip
    if protocol is not None:
        command += ["--http", protocol]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def _write_calls(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    raise AssertionError("no syscw in /proc/PID/io")


def _answer(conn: socket.socket) -> bytes:
    """One whole answer to a keyless call (a chunked JSON 401)."""
    data = b""
    while not data.endswith(b"0\r\n\r\n"):
        more = conn.recv(65536)
        assert more, data
        data += more
    return data


def _writes_per_answer(protocol: str | None) -> float:
    port = free_port()
    server = _server(port, protocol)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "the server exited at start-up"
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        request = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        with conn:
            conn.sendall(request)
            first = _answer(conn)
            assert first.startswith(b"HTTP/1.1 401"), first[:200]
            assert b"transfer-encoding: chunked" in first.lower()
            before = _write_calls(server.pid)
            for _ in range(ANSWERS):
                conn.sendall(request)
                assert _answer(conn).startswith(b"HTTP/1.1 401")
            after = _write_calls(server.pid)
        return (after - before) / ANSWERS
    finally:
        server.terminate()
        server.wait(15)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/PID/io")
def test_each_answer_is_one_write_with_the_projects_protocol_and_two_without() -> None:
    ours = _writes_per_answer("config.http_protocol:HttpToolsProtocol")
    uvicorns = _writes_per_answer(None)
    assert uvicorns >= 1.9, uvicorns  # the control: head and body apart
    assert ours <= 1.1, ours
