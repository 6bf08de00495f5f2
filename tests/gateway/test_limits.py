"""Requests-per-minute caps: a sliding window, weighted, with an exact Retry-After.

Run through the live gateway (in-process limiter when embedded, the Redis script
when ``REDIS_URL`` is set), with the window shortened by the setting tests use.
"""

from __future__ import annotations

import time

import httpx
import pytest
from asgiref.sync import async_to_sync

from gateway import state
from gateway.limits import admit
from gateway.models import ApiKey
from tests.gateway import upstreams

# Timing-bound (windows and cache lifetimes of a second or so; limits fail open
# when Redis is slow): bin/test runs the tests marked serial alone, after the
# parallel run, on a quiet machine.
pytestmark = pytest.mark.serial


@pytest.fixture
def capped(gateway, world, settings):
    """A key capped at 3 calls per 1.5 s window, on the OpenAI fake."""
    settings.GATEWAY_LIMIT_WINDOW_SECONDS = 1.5
    with upstreams.start("openai") as upstream:
        upstreams.register(upstream, world.acme)
        _, secret = ApiKey.issue(
            organization=world.acme, user=world.bob, name="k", requests_per_minute=3
        )
        with httpx.Client(
            base_url=gateway.v1, headers={"Authorization": f"Bearer {secret}"}
        ) as client:
            yield client


def ask(client: httpx.Client) -> httpx.Response:
    return client.post(
        "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )


def test_a_key_over_its_cap_is_refused_until_the_time_retry_after_names(capped):
    assert [ask(capped).status_code for _ in range(3)] == [200, 200, 200]
    refused = ask(capped)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    wait_ms = int(refused.headers["retry-after-ms"])
    assert 0 < wait_ms <= 1500
    assert refused.headers["Retry-After"] == str(max(1, -(-wait_ms // 1000)))
    time.sleep(wait_ms / 1000)
    assert ask(capped).status_code == 200


def test_refused_calls_do_not_use_up_the_next_window(capped):
    for _ in range(3):
        ask(capped)
    refusals = [ask(capped) for _ in range(10)]
    assert {r.status_code for r in refusals} == {429}
    wait_ms = max(int(r.headers["retry-after-ms"]) for r in refusals[-1:])
    time.sleep(1.5)
    assert wait_ms <= 1500
    # Every admission of the first window has aged out; the refusals never counted.
    assert [ask(capped).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_a_weighted_request_counts_its_weight_everywhere_or_nowhere(gateway, settings):
    settings.GATEWAY_LIMIT_WINDOW_SECONDS = 60

    async def scenario() -> list:
        return [
            await admit([("key:w", 5), ("model:w", 100)], 3),
            await admit([("key:w", 5), ("model:w", 100)], 3),
            await admit([("model:w", 5)], 2),
            await admit([("model:w", 5)], 1),
            await admit([("other:w", 5)], 6),
            await admit([("other:w", 5)], 5),
        ]

    state.reset_for_tests()  # a Redis client for this test's event loop
    first, refused, model_rest, model_over, too_heavy, whole = async_to_sync(scenario)()
    assert first is None
    assert refused is not None and refused[0] == "key:w"
    assert 0 < refused[1] <= 60
    # The refused weight counted nowhere: the model bucket holds 3 of 5.
    assert model_rest is None and model_over is not None
    # A weight above the cap can never be admitted; the cap itself can.
    assert too_heavy is not None and too_heavy[1] == 60
    assert whole is None
