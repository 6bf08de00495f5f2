"""The playground's endpoint, over a real socket: the gateway's call path for a session.

A live uvicorn serves the whole app (``tests.gateway.conftest``); a fake OpenAI
on loopback serves the model. The session cookie comes from a real sign-in
(``Client.force_login`` writes the session row the server reads).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from django.test import Client

from accounts.models import Membership, Organization, User
from gateway import usage
from gateway.models import UsageRecord
from models_catalog.models import AIModel
from providers.models import Provider
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.gateway.conftest import (  # noqa: F401  (fixtures used here)
    LiveGateway,
    _uvicorn,
    gateway,
)
from tests.gateway.upstreams import Upstream, register, start

CSRF = "playgroundcsrfsecret0123456789ab"  # a well-formed CSRF cookie secret


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with start("openai") as served:
        yield served


@pytest.fixture
def acme(gateway: LiveGateway, upstream: Upstream) -> Organization:  # noqa: F811
    org = OrganizationFactory(slug="acme", name="Acme")
    register(upstream, org, name="openai-acme")
    return org


def member(org: Organization, username: str, role: str = "member") -> User:
    user = UserFactory(username=username)
    MembershipFactory(user=user, organization=org, role=role)
    return user


def session_for(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class Site:
    """A browser-like client: session cookie, CSRF cookie and header."""

    def __init__(self, url: str, session: str | None, csrf: bool = True) -> None:
        cookies = [f"csrftoken={CSRF}"] if csrf else []
        if session:
            cookies.append(f"sessionid={session}")
        self.headers = {"Cookie": "; ".join(cookies)}
        if csrf:
            self.headers["X-CSRFToken"] = CSRF
        self.client = httpx.Client(base_url=url, timeout=15)
        self.answers: list[str] = []

    def get(self, path: str) -> httpx.Response:
        response = self.client.get(path, headers=self.headers)
        self.answers.append(response.text + str(response.headers))
        return response

    def chat(self, **body: Any) -> httpx.Response:
        response = self.client.post(
            "/playground/chat",
            content=orjson.dumps(body),
            headers={**self.headers, "Content-Type": "application/json"},
        )
        self.answers.append(response.text + str(response.headers))
        return response


def events(response: httpx.Response) -> list[dict[str, Any]]:
    found = []
    for line in response.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            found.append(orjson.loads(line[6:]))
    return found


def hello(model: str = "openai-acme/gpt-4o-mini", text: str = "hi") -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": text},
        ],
        "temperature": 0.2,
        "max_tokens": 50,
    }


def recorded(**filters: Any) -> list[UsageRecord]:
    usage.flush()
    return list(UsageRecord.objects.filter(**filters))


def test_a_member_streams_a_reply_recorded_as_playground_usage(
    gateway: LiveGateway,  # noqa: F811
    acme: Organization,
    upstream: Upstream,
) -> None:
    bob = member(acme, "bob")
    site = Site(gateway.url, session_for(bob))

    page = site.get("/playground/")
    assert page.status_code == 200
    assert 'value="openai-acme/gpt-4o-mini"' in page.text
    # The embedding model is not offered in the chat playground.
    assert "text-embedding-3-small" not in page.text

    answer = site.chat(**hello(text="tell me"))
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.text.rstrip().endswith("data: [DONE]")
    chunks = events(answer)
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )
    assert text == "Hello from openai: tell me"
    assert chunks[-1]["usage"]["prompt_tokens"] == 11
    assert chunks[-1]["usage"]["completion_tokens"] == 7

    sent = upstream.requests[-1]["json"]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}

    [row] = recorded(user=bob)
    assert row.source == UsageRecord.Source.PLAYGROUND
    assert row.organization_id == acme.pk
    assert row.api_key_id is None
    assert row.stream and row.status_code == 200
    assert (row.input_tokens, row.output_tokens) == (11, 7)
    # 11 tokens at $3/M in, 7 at $15/M out: the page computes the same.
    assert float(row.cost) == pytest.approx((11 * 3 + 7 * 15) / 1e6)

    # Neither the vendor credential nor any key secret crosses to the browser.
    upstream_key = upstream.credentials["api_key"]
    assert upstream.requests[-1]["headers"]["Authorization"] == f"Bearer {upstream_key}"
    for text in site.answers:
        assert upstream_key not in text


def test_the_csrf_token_is_required(
    gateway: LiveGateway,  # noqa: F811
    acme: Organization,
    upstream: Upstream,
) -> None:
    bob = member(acme, "bob")
    site = Site(gateway.url, session_for(bob), csrf=False)
    answer = site.chat(**hello())
    assert answer.status_code == 403
    assert upstream.requests == []
    assert recorded() == []


def test_signed_out_gets_a_401_and_no_call(
    gateway: LiveGateway,  # noqa: F811
    acme: Organization,
    upstream: Upstream,
) -> None:
    site = Site(gateway.url, None)
    answer = site.chat(**hello())
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_signed_in"
    assert upstream.requests == []
    page = site.get("/playground/")
    assert page.status_code == 302
    assert "/accounts/login/" in page.headers["location"]


def test_a_user_of_no_organization_gets_a_403_and_no_call(
    gateway: LiveGateway,  # noqa: F811
    acme: Organization,
    upstream: Upstream,
) -> None:
    site = Site(gateway.url, session_for(UserFactory(username="loner")))
    answer = site.chat(**hello())
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "no_organization"
    assert site.get("/playground/").status_code == 200
    assert upstream.requests == []


def test_another_organizations_model_is_the_same_404_as_an_unknown_one(
    gateway: LiveGateway,  # noqa: F811
    acme: Organization,
    upstream: Upstream,
) -> None:
    globex = OrganizationFactory(slug="globex", name="Globex")
    with start("openai") as other:
        register(other, globex, name="openai-globex")
        carol = member(acme, "carol")
        site = Site(gateway.url, session_for(carol))
        page = site.get("/playground/")
        assert "openai-globex" not in page.text
        theirs = site.chat(**hello(model="openai-globex/gpt-4o-mini"))
        unknown = site.chat(**hello(model="nobody/gpt-4o-mini"))
        assert theirs.status_code == unknown.status_code == 404
        their_error = theirs.json()["error"]
        unknown_error = unknown.json()["error"]
        assert their_error["code"] == unknown_error["code"] == "model_not_found"
        assert their_error["message"].replace("openai-globex", "X") == unknown_error[
            "message"
        ].replace("nobody", "X")
        assert other.requests == []


def test_the_site_organization_decides_what_is_visible(
    gateway: LiveGateway,  # noqa: F811
    acme: Organization,
    upstream: Upstream,
) -> None:
    """A user of two organizations sees, in each, only that organization's models."""
    globex = OrganizationFactory(slug="globex", name="Globex")
    dave = member(acme, "dave")
    MembershipFactory(user=dave, organization=globex, role=Membership.Role.MEMBER)
    client = Client()
    client.force_login(dave)
    client.post("/organization/", {"organization": "globex"})
    site = Site(gateway.url, client.cookies["sessionid"].value)
    answer = site.chat(**hello())
    assert answer.status_code == 404
    assert upstream.requests == []


def test_bad_input_is_a_clear_400_and_calls_nothing(
    gateway: LiveGateway,  # noqa: F811
    acme: Organization,
    upstream: Upstream,
) -> None:
    site = Site(gateway.url, session_for(member(acme, "bob")))
    hot = site.chat(**{**hello(), "temperature": 7})
    assert hot.status_code == 400
    assert "temperature" in hot.json()["error"]["message"]
    extra = site.chat(**{**hello(), "tools": []})
    assert extra.status_code == 400
    assert extra.json()["error"]["param"] == "tools"
    empty = site.chat(model="openai-acme/gpt-4o-mini", messages=[])
    assert empty.status_code == 400
    assert upstream.requests == []
    assert recorded() == []


def test_vendor_errors_and_limits_come_back_readably(
    gateway: LiveGateway,  # noqa: F811
    acme: Organization,
    upstream: Upstream,
) -> None:
    bob = member(acme, "bob")
    site = Site(gateway.url, session_for(bob))
    failed = site.chat(**hello(text="FAIL 400"))
    assert failed.status_code == 400
    assert failed.json()["error"]["message"]

    Provider.objects.filter(name="openai-acme").update(requests_per_minute=1)
    AIModel.objects.filter(model_id="gpt-4o-mini").update(requests_per_minute=1)
    from gateway import state

    state.reset_for_tests()
    assert site.chat(**hello()).status_code == 200
    limited = site.chat(**hello())
    assert limited.status_code == 429
    assert limited.headers["Retry-After"]
    rows = recorded(user=bob)
    assert {r.source for r in rows} == {UsageRecord.Source.PLAYGROUND}


def test_csrf_token_in_page_and_no_secret_in_it(
    gateway: LiveGateway,  # noqa: F811
    acme: Organization,
    upstream: Upstream,
) -> None:
    site = Site(gateway.url, session_for(member(acme, "bob", role="admin")))
    page = site.get("/playground/")
    assert re.search(r'name="csrfmiddlewaretoken" value="\w+"', page.text)
    assert upstream.credentials["api_key"] not in page.text
