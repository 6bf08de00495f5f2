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
