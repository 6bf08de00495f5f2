"""A real ASGI server (uvicorn, in a thread) serving Modelgate for gateway tests."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from config.logfilters import ClientErrorsWithoutTraceback
from gateway import limits, state, throttle, usage
from tests.fakes.server import free_port


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


@pytest.fixture(autouse=True)
def _fresh_auth_failure_counts() -> Iterator[None]:
    """Failed-key counts per address (127.0.0.1 in every test) start at zero.

    Tests that fail on purpose would otherwise push later tests, in this
    process or in Redis, over the throttle's limit.
    """
    throttle.reset_for_tests()
    _clear_redis_counters("modelgate:authfail:*")
    yield
    throttle.reset_for_tests()
    _clear_redis_counters("modelgate:authfail:*")


@pytest.fixture
def gateway(_uvicorn: LiveGateway, transactional_db: None) -> Iterator[LiveGateway]:
    """The live gateway with fresh caches and limit counters for this test."""
    state.reset_for_tests()
    limits.reset_for_tests()
    _clear_redis_counters()
    usage.discard_queued()  # records queued by tests that ran without this fixture
    yield _uvicorn
    state.reset_for_tests()
    usage.discard_queued()


def _clear_redis_counters(*patterns: str) -> None:
    """Counters outlive a test in Redis; ids restart in a new test DB."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        for pattern in patterns or ("modelgate:rl:*", "modelgate:authfail:*"):
            for key in client.scan_iter(pattern):
                client.delete(key)
    finally:
        client.close()


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
