"""A real ASGI server (uvicorn, in a thread) serving Modelgate for gateway tests."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from config.http_protocol import HttpToolsProtocol
from config.logfilters import ClientErrorsWithoutTraceback
from gateway import limits, state, usage
from tests.conftest import clear_redis_counters
from tests.fakes.server import free_port
from tests.gateway import upstreams
from tests.gateway.deployment import RedisServer


@dataclass
class LiveGateway:
    url: str

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # running in a thread
        pass


@pytest.fixture(scope="session")
def _uvicorn() -> Iterator[LiveGateway]:
    from config.asgi import application

    port = free_port()
    # As bin/run: the client's address is the peer's unless TRUSTED_PROXY_COUNT
    # says otherwise (uvicorn would trust X-Forwarded-For from loopback).
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        proxy_headers=False,
        http=HttpToolsProtocol,  # as bin/run: config.http_protocol's
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield LiveGateway(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def gateway(_uvicorn: LiveGateway, transactional_db: None) -> Iterator[LiveGateway]:
    """The live gateway with fresh caches and limit counters for this test."""
    state.reset_for_tests()
    limits.reset_for_tests()
    clear_redis_counters()
    usage.discard_queued()  # records queued by tests that ran without this fixture
    yield _uvicorn
    state.reset_for_tests()
    usage.discard_queued()


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the console handler of ``settings.LOGGING`` prints, meanwhile."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, ClientErrorsWithoutTraceback) for f in h.filters)
    )
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    previous = handler.setStream(out)
    try:
        yield out
    finally:
        handler.setStream(previous)


@pytest.fixture
def openai_fake() -> Iterator[upstreams.Upstream]:
    """The strict OpenAI fake, quiet: one access-log line per call would bury
    the figures the fault and replica tests print."""
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    with upstreams.start("openai") as upstream:
        yield upstream


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server a test may kill and restart (never the shared one)."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
