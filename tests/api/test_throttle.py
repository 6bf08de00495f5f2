"""Unknown management tokens are throttled per client address (the gateway's
failed-key throttle): past the limit, 429 with Retry-After before any lookup,
while the gateway's own counter for that address is untouched."""

from __future__ import annotations

import pytest

from gateway import throttle
from gateway.state import RedisBreaker
from tests.api.conftest import Api


@pytest.fixture
def limit_of_three(settings, _fresh_auth_failure_counts):
    settings.GATEWAY_AUTH_FAILURE_LIMIT = 3
    settings.GATEWAY_AUTH_FAILURE_WINDOW = 60


def test_an_address_guessing_tokens_gets_429_with_retry_after(limit_of_three, api):
    assert api.alice.get("organizations/").status_code == 200
    guesser = Api(api.secrets, "mgmt_" + "x" * 40)
    answers = [guesser.get("organizations/").status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    refused = guesser.get("organizations/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "invalid management tokens" in refused.json()["detail"]
    # A gateway key counts too: it is not a management token.
    assert Api(api.secrets, "mg-abc").get("organizations/").status_code == 429
    # A token seen valid before keeps working from the throttled address.
    assert api.alice.get("organizations/").status_code == 200
    # The gateway's counter for this address is its own.
    assert throttle.check_now("127.0.0.1") is None


def test_valid_tokens_and_anonymous_calls_are_not_counted(limit_of_three, api):
    for _ in range(5):
        assert api.alice.get("organizations/").status_code == 200
    anonymous = Api(api.secrets)
    for _ in range(5):
        assert anonymous.get("organizations/").status_code == 401


@pytest.fixture
def hung_redis(settings, monkeypatch):
    """A loopback "Redis" that accepts connections and never answers."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    port = server.getsockname()[1]
    real_redis = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/12"
    settings.GATEWAY_REDIS_TIMEOUT = 0.2
    settings.GATEWAY_REDIS_BREAKER_SECONDS = 30
    monkeypatch.setattr(throttle, "_sync_client", None)
    monkeypatch.setattr(throttle, "_sync_breaker", RedisBreaker())
    yield
    settings.REDIS_URL = real_redis  # the autouse counter cleanup runs after this
    server.close()


def test_a_hung_redis_costs_one_timeout_not_one_per_request(hung_redis):
    """Fails open, and like the async pair skips Redis for a while after a
    failure: without that, each unknown token (check + record) waits two socket
    timeouts in the server's one thread for sync views."""
    import time

    started = time.monotonic()
    for _ in range(10):
        assert throttle.check_now("mgmt:127.0.0.1") is None
        assert throttle.record_now("mgmt:127.0.0.1") is None
    assert time.monotonic() - started < 1.0
