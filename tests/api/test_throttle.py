"""Unknown management tokens are throttled per client address (the gateway's
failed-key throttle): past the limit, 429 with Retry-After before any lookup,
while the gateway's own counter for that address is untouched."""

from __future__ import annotations

import pytest

from gateway import throttle
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
def hung_redis(settings):
    """A loopback "Redis" that accepts connections and never answers; yields
    the list of connections it accepted."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:  # closed
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    real_redis = settings.REDIS_URL
    settings.REDIS_URL = f"redis://127.0.0.1:{server.getsockname()[1]}/12"
    settings.GATEWAY_REDIS_TIMEOUT = 0.2
    settings.GATEWAY_REDIS_BREAKER_SECONDS = 30
    throttle.reset_for_tests()
    yield accepted
    settings.REDIS_URL = real_redis  # the autouse counter cleanup runs after this
    throttle.reset_for_tests()
    server.close()
    thread.join(5)
    for conn in accepted:
        conn.close()


def test_a_hung_redis_is_asked_once_not_once_per_request(hung_redis):
    """Fails open, and like the async pair skips Redis for a while after a
    failure: without that, each unknown token (check + record) waits two socket
    timeouts in the server's one thread for sync views."""
    for _ in range(10):
        assert throttle.check_now("mgmt:127.0.0.1") is None
        assert throttle.record_now("mgmt:127.0.0.1") is None
    # The first check timed out; the breaker kept the other 19 calls away.
    assert len(hung_redis) == 1
