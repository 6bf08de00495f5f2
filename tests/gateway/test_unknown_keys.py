"""Unknown keys are cheap and throttled per client address; valid keys keep working."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.network import client_address
from gateway import state
from gateway.models import ApiKey

# Timing-bound (windows and cache lifetimes of a second or so; limits fail open
# when Redis is slow): bin/test runs the tests marked serial alone, after the
# parallel run, on a quiet machine.
pytestmark = pytest.mark.serial


def get_models(url: str, secret: str, **headers: str) -> httpx.Response:
    return httpx.get(
        f"{url}/v1/models", headers={"Authorization": f"Bearer {secret}", **headers}
    )


def unknown(n: int) -> str:
    return f"mg-unknown-key-{n:06d}-000000000000000000000000"


@pytest.fixture
def limit(settings: Any) -> int:
    settings.GATEWAY_AUTH_FAILURE_LIMIT = 5
    settings.GATEWAY_AUTH_FAILURE_WINDOW = 60
    # Failures are counted per fixed 60 s window: a test that straddled the
    # window's end would see its count start again (a 401 where the 429 is
    # due). Start it in a fresh window when less than 5 s are left.
    left = 60 - time.time() % 60
    if left < 5:
        time.sleep(left + 0.05)
    return 5


def test_an_address_past_the_failure_limit_gets_a_429_in_openai_envelope(
    gateway, world, limit
):
    for n in range(limit):
        response = get_models(gateway.url, unknown(n))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    for n in range(limit, limit + 3):
        response = get_models(gateway.url, unknown(n))
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/json"
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        error = response.json()["error"]
        assert error["type"] == "rate_limit_error"
        assert error["code"] == "rate_limit_exceeded"
        assert "invalid API keys" in error["message"]


def test_a_valid_key_from_a_throttled_address_keeps_working(
    gateway, world, limit, settings
):
    """Only failures are throttled: neighbours behind one NAT are not locked out."""
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    assert get_models(gateway.url, secret).status_code == 200
    for n in range(limit + 2):
        get_models(gateway.url, unknown(n))
    assert get_models(gateway.url, unknown(99)).status_code == 429
    # also once its cache entry has expired and must be looked up again
    time.sleep(settings.GATEWAY_CACHE_TTL + 0.1)
    assert get_models(gateway.url, secret).status_code == 200


def test_forged_forwarded_for_headers_do_not_escape_the_throttle(gateway, world, limit):
    for n in range(limit + 2):
        response = get_models(
            gateway.url, unknown(n), **{"X-Forwarded-For": f"203.0.113.{n}"}
        )
    assert response.status_code == 429


def test_a_thousand_unknown_keys_cost_at_most_the_limit_in_queries(world, settings):
    """Before the throttle every unknown key was one database query (14 ms)."""
    from config.asgi import application

    settings.GATEWAY_AUTH_FAILURE_LIMIT = 30
    state.reset_for_tests()

    async def hammer() -> list[int]:
        transport = httpx.ASGITransport(app=application, client=("198.51.100.7", 1))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1"
        ) as client:
            statuses = []
            for n in range(1000):
                response = await client.get(
                    "/v1/models", headers={"Authorization": f"Bearer {unknown(n)}"}
                )
                statuses.append(response.status_code)
            return statuses

    with CaptureQueriesContext(connection) as queries:
        statuses = async_to_sync(hammer)()
    assert statuses[:30] == [401] * 30
    assert statuses[30:] == [429] * 970
    assert 1 <= len(queries.captured_queries) <= 30


def test_a_repeated_unknown_key_is_looked_up_once_per_cache_ttl(world, settings):
    from config.asgi import application

    settings.GATEWAY_AUTH_FAILURE_LIMIT = 1_000_000
    settings.GATEWAY_CACHE_TTL = 1.5
    state.reset_for_tests()

    async def hammer() -> float:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1"
        ) as client:
            started = time.monotonic()
            for _ in range(200):
                response = await client.get(
                    "/v1/models", headers={"Authorization": f"Bearer {unknown(1)}"}
                )
                assert response.status_code == 401
            return time.monotonic() - started

    with CaptureQueriesContext(connection) as queries:
        elapsed = async_to_sync(hammer)()
    assert 1 <= len(queries.captured_queries) <= 1 + int(elapsed / 1.5)


# Whose address counts ---------------------------------------------------------


def test_the_peer_address_counts_unless_proxies_are_trusted(settings):
    meta = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.9"}
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(meta) == "10.0.0.5"
    # one load balancer appends the client's address; what the client wrote
    # further left (6.6.6.6) is ignored
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(meta) == "198.51.100.9"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(meta) == "6.6.6.6"
    # fewer entries than trusted proxies: only the peer is certain
    settings.TRUSTED_PROXY_COUNT = 3
    assert client_address(meta) == "10.0.0.5"
    assert client_address({"REMOTE_ADDR": "10.0.0.5"}) == "10.0.0.5"


def test_a_forged_forwarded_for_line_before_the_proxys_own_is_not_the_address(
    world, settings
):
    """A proxy that adds its own X-Forwarded-For line (HAProxy's ``forwardfor``)
    instead of appending: the lines are read joined, as Django joins them."""
    from config.asgi import application

    settings.TRUSTED_PROXY_COUNT = 1
    settings.GATEWAY_AUTH_FAILURE_LIMIT = 5
    state.reset_for_tests()

    async def rotate_forged_lines() -> list[int]:
        transport = httpx.ASGITransport(app=application, client=("10.0.0.2", 1))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1"
        ) as client:
            statuses = []
            for n in range(8):
                headers = [
                    ("Authorization", f"Bearer {unknown(n)}"),
                    ("X-Forwarded-For", f"203.0.113.{n}"),  # the client's own
                    ("X-Forwarded-For", "198.51.100.9"),  # the proxy's line
                ]
                response = await client.get("/v1/models", headers=headers)
                statuses.append(response.status_code)
            return statuses

    assert async_to_sync(rotate_forged_lines)() == [401] * 5 + [429] * 3
