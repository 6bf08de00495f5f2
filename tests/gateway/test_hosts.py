"""/v1 answers only for ALLOWED_HOSTS, with a 400 in OpenAI's envelope otherwise."""

from __future__ import annotations

import httpx

from gateway.hosts import is_allowed_host
from gateway.models import ApiKey


def test_a_foreign_host_gets_a_json_400_before_anything_else(gateway, world):
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    for path in ["/v1/models", "/v1/chat/completions"]:
        response = httpx.post(
            f"{gateway.url}{path}",
            headers={"Host": "evil.example", "Authorization": f"Bearer {secret}"},
            content=b"{}",
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "error": {
                "message": "Invalid Host header: this host is not served here.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_host",
            }
        }


def test_an_allowed_host_is_served(gateway, world):
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="bob")
    headers = {"Authorization": f"Bearer {secret}"}
    for host in ["localhost", "127.0.0.1:8000", "[::1]:8000"]:
        response = httpx.get(
            f"{gateway.url}/v1/models", headers={**headers, "Host": host}
        )
        assert response.status_code == 200, host


def test_the_decision_follows_allowed_hosts(settings):
    settings.ALLOWED_HOSTS = ["api.example.com", ".corp.example"]
    assert is_allowed_host(b"api.example.com")
    assert is_allowed_host(b"api.example.com:443")
    assert is_allowed_host(b"gw.corp.example")
    assert not is_allowed_host(b"localhost")
    assert not is_allowed_host(b"api.example.com.evil.example")
    assert not is_allowed_host(b"")
    assert not is_allowed_host("bücher.example".encode())
    settings.ALLOWED_HOSTS = ["localhost"]
    assert is_allowed_host(b"localhost")
    assert not is_allowed_host(b"api.example.com")
