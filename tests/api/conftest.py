"""Management API fixtures: tokens for alice, a read-only token, charlie's token,
and clients that check every answer for secrets.

``api`` wraps DRF's test client: every response it returns has been searched
for every credential and secret the test set up (``secrets``), so a secret in
any answer fails the test that caused it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework.test import APIClient

from api.models import ManagementToken
from gateway import usage
from tests.conftest import World
from tests.gateway import upstreams
from tests.gateway.conftest import (  # noqa: F401  # the live server, for these tests too
    _uvicorn,
    gateway,
)

PROVIDER_KEY = "sk-test-key"  # what the fake OpenAI server accepts


@dataclass
class Secrets:
    """Values no API answer may contain."""

    values: set[str] = field(default_factory=lambda: {PROVIDER_KEY})

    def check(self, body: bytes) -> None:
        text = body.decode("utf-8", "replace")
        for value in self.values:
            assert value not in text, "a secret appeared in an API answer"


class Api:
    """A client acting with one management token (or none)."""

    def __init__(self, secrets: Secrets, token: str | None = None) -> None:
        self.client = APIClient()
        self.secrets = secrets
        if token:
            self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def call(self, method: str, path: str, body: Any = None, **extra: Any) -> Any:
        url = path if path.startswith("/") else f"/api/v1/{path}"
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        response = getattr(self.client, method)(url, **kwargs, **extra)
        self.secrets.check(response.content)
        return response

    def get(self, path: str, **extra: Any) -> Any:
        return self.call("get", path, **extra)

    def post(self, path: str, body: Any = None, **extra: Any) -> Any:
        return self.call("post", path, {} if body is None else body, **extra)

    def put(self, path: str, body: Any, **extra: Any) -> Any:
        return self.call("put", path, body, **extra)

    def patch(self, path: str, body: Any, **extra: Any) -> Any:
        return self.call("patch", path, body, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self.call("delete", path, **extra)


@dataclass
class Clients:
    alice: Api  # acme admin token
    reader: Api  # acme read-only token (alice's)
    charlie: Api  # globex admin token
    anonymous: Api
    secrets: Secrets


@pytest.fixture(autouse=True)
def _no_queued_usage() -> Iterator[None]:
    """Usage queued by a test (model tests) is never written after it ends."""
    usage.discard_queued()
    yield
    usage.discard_queued()


@pytest.fixture
def secrets() -> Secrets:
    return Secrets()


def issue(world_org: Any, user: Any, role: str, secrets: Secrets) -> str:
    _, secret = ManagementToken.issue(world_org, user, f"t-{role}-{user}", role)
    secrets.values.add(secret)
    return secret


@pytest.fixture
def api(world: World, secrets: Secrets) -> Clients:
    admin, read = ManagementToken.Role.ADMIN, ManagementToken.Role.READ_ONLY
    return Clients(
        alice=Api(secrets, issue(world.acme, world.alice, admin, secrets)),
        reader=Api(secrets, issue(world.acme, world.alice, read, secrets)),
        charlie=Api(secrets, issue(world.globex, world.charlie, admin, secrets)),
        anonymous=Api(secrets),
        secrets=secrets,
    )


@pytest.fixture
def fake_openai() -> Iterator[upstreams.Upstream]:
    with upstreams.start("openai") as upstream:
        yield upstream


def provider_body(upstream: upstreams.Upstream, **fields: Any) -> dict[str, Any]:
    """A provider for the fake OpenAI server, with its key."""
    return {
        "provider_type": "openai",
        "endpoint": upstream.endpoint,
        "credentials": {"api_key": PROVIDER_KEY},
        **fields,
    }
