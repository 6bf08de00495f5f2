"""Request ids: on every /v1 answer, kept or made, on the usage record and log lines.

Driven through the live gateway with the official SDKs (``_request_id``,
``with_raw_response``, their errors' ``request_id``) and plain httpx for the
answers no SDK call makes (refusals, preflights, unknown routes).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from django.test import Client

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from tests.conftest import World
from tests.factories import ProviderFactory
from tests.gateway import upstreams

GENERATED = re.compile(r"req_[0-9a-f]{32}")
ORIGIN = "http://app.test"
LIST = "/admin/gateway/usagerecord/"
EXPORT = f"{LIST}export.csv"


@pytest.fixture
def keys(gateway: Any, world: World) -> Iterator[dict[str, Any]]:
    with upstreams.start("openai") as openai_fake, upstreams.start("anthropic") as ant:
        upstreams.register(openai_fake, world.acme)
        upstreams.register(ant, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        _, capped = ApiKey.issue(
            organization=world.acme, user=None, name="capped", requests_per_minute=1
        )
        yield {"secret": secret, "capped": capped, "openai": openai_fake}


def test_every_v1_answer_carries_a_fresh_request_id(
    gateway: Any, keys: dict[str, Any], settings: Any
) -> None:
    settings.GATEWAY_CORS_ALLOWED_ORIGINS = [ORIGIN]
    settings.GATEWAY_MAX_BODY_BYTES = 4096
    secret = keys["secret"]
    sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
    ant = anthropic.Anthropic(base_url=gateway.url, api_key=secret, max_retries=0)
    hi = [{"role": "user", "content": "hi"}]
    ids: dict[str, str] = {}

    chat = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=hi
    )
    ids["chat"] = chat.headers["x-request-id"]
    assert chat.parse()._request_id == ids["chat"]
    stream = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=hi, stream=True
    )
    ids["chat stream"] = stream.headers["x-request-id"]
    assert [c for c in stream.parse()]
    ids["embeddings"] = sdk.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="hi"
    ).headers["x-request-id"]
    ids["responses"] = sdk.responses.with_raw_response.create(
        model="gpt-4o-mini", input="hi"
    ).headers["x-request-id"]
    ids["models"] = sdk.models.with_raw_response.list().headers["x-request-id"]
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="no-such-model", messages=hi)
    ids["unknown model"] = str(missing.value.request_id)

    for stream_it in (False, True):
        raw = ant.messages.with_raw_response.create(
            model="claude-sonnet-4-5-20250929",
            max_tokens=20,
            messages=[{"role": "user", "content": "hi"}],
            stream=stream_it,
        )
        # The anthropic SDK reads request-id, the openai SDK x-request-id.
        assert raw.headers["request-id"] == raw.headers["x-request-id"]
        ids[f"messages stream={stream_it}"] = raw.headers["request-id"]
        if not stream_it:
            assert raw.parse()._request_id == raw.headers["request-id"]
    with pytest.raises(anthropic.NotFoundError) as ant_missing:
        ant.messages.create(
            model="no-such-model",
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
        )
    ids["messages unknown model"] = str(ant_missing.value.request_id)

    bearer = {"Authorization": f"Bearer {secret}", "Origin": ORIGIN}
    plain: dict[str, httpx.Response] = {
        "unknown route": httpx.get(f"{gateway.v1}/no-such-route", headers=bearer),
        "bad key": httpx.get(
            f"{gateway.v1}/models", headers={"Authorization": "Bearer mg-wrong"}
        ),
        "wrong method": httpx.delete(f"{gateway.v1}/models", headers=bearer),
        "too large": httpx.post(
            f"{gateway.v1}/chat/completions", headers=bearer, content=b"x" * 8192
        ),
        "preflight": httpx.options(
            f"{gateway.v1}/chat/completions",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        ),
    }
    for _ in range(2):
        plain["over limit"] = httpx.post(
            f"{gateway.v1}/chat/completions",
            headers={"Authorization": f"Bearer {keys['capped']}"},
            json={"model": "gpt-4o-mini", "messages": hi},
        )
    assert [(label, r.status_code) for label, r in plain.items()] == [
        ("unknown route", 404),
        ("bad key", 401),
        ("wrong method", 405),
        ("too large", 413),
        ("preflight", 204),
        ("over limit", 429),
    ]
    for label, answer in plain.items():
        ids[label] = answer.headers["x-request-id"]
    # A browser's page may read both ids.
    exposed = plain["unknown route"].headers["access-control-expose-headers"]
    assert {"x-request-id", "request-id"} <= set(exposed.split(", "))

    assert all(GENERATED.fullmatch(value) for value in ids.values()), ids
    assert len(set(ids.values())) == len(ids)


def test_a_sane_client_id_is_kept_and_any_other_replaced(
    gateway: Any, keys: dict[str, Any]
) -> None:
    url, auth = f"{gateway.v1}/models", ("Authorization", f"Bearer {keys['secret']}")
    for sane in ("a", "trace-1.2:3_X", "x" * 128):
        answer = httpx.get(url, headers=[auth, ("x-request-id", sane)])
        assert answer.headers["x-request-id"] == sane
    for insane in ("", "x" * 129, "has space", "<script>", "a,b", "é", "a\tb"):
        sent = [auth, ("x-request-id", insane.encode("latin-1"))]
        answer = httpx.get(url, headers=sent)
        assert GENERATED.fullmatch(answer.headers["x-request-id"]), insane
    twice = [auth, ("x-request-id", "one"), ("x-request-id", "two")]
    answer = httpx.get(url, headers=twice)
    assert GENERATED.fullmatch(answer.headers["x-request-id"])


def test_the_usage_record_and_every_log_line_of_a_call_carry_its_id(
    gateway: Any, keys: dict[str, Any], console: io.StringIO
) -> None:
    sdk = openai.OpenAI(base_url=gateway.v1, api_key=keys["secret"], max_retries=0)
    answer = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "client-trace-7"},
    )
    assert answer._request_id == "client-trace-7"
    # Not forwarded: the client's id may say what it meant for the gateway alone.
    (upstream,) = keys["openai"].requests
    assert "client-trace-7" not in str(upstream["headers"])
    made = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    ).headers["x-request-id"]
    # The anthropic driver logs the vendor's refusal; the call path logs the
    # failure; Django logs the 502: all while the call runs.
    with pytest.raises(openai.InternalServerError) as failed:
        sdk.chat.completions.create(
            model="claude-sonnet-4-5-20250929",
            messages=[{"role": "user", "content": "FAIL 500"}],
            extra_headers={"x-request-id": "failing-call-9"},
        )
    assert failed.value.request_id == "failing-call-9"
    usage.flush()

    stored = dict(UsageRecord.objects.values_list("request_id", "status_code"))
    assert stored == {"client-trace-7": 200, made: 200, "failing-call-9": 502}
    lines = [
        line
        for line in console.getvalue().splitlines()
        if " providers." in line or " gateway." in line or " django.request" in line
    ]
    loggers = {line.split()[3] for line in lines}
    assert {
        "providers.drivers.anthropic.driver",
        "gateway.call",
        "django.request",
    } <= loggers, lines
    assert all("[failing-call-9]" in line for line in lines), lines
    # Between calls a line says it belongs to none.
    logging.getLogger("gateway.test").warning("outside any call")
    assert "gateway.test [-] outside any call" in console.getvalue()


def _usage(**fields: Any) -> UsageRecord:
    return UsageRecord.objects.create(
        endpoint="chat", model_name="gpt-4o-mini", status_code=200, **fields
    )


@pytest.mark.django_db
def test_the_usage_admin_shows_exports_and_finds_a_call_by_its_id(
    world: World,
) -> None:
    """alice (acme's admin) finds her call by its id; globex's ids never show.

    globex called acme's provider (acme sees that row, without its caller's
    names or request id) and its own provider (acme sees nothing of it).
    """
    provider = ProviderFactory(organization=world.acme, name="acme-openai")
    key, _ = ApiKey.issue(world.acme, world.alice, "alice-laptop")
    ours = "req_" + "0123456789abcdef" * 2
    mine = [
        _usage(
            organization=world.acme,
            user=world.alice,
            api_key=key,
            provider=provider,
            provider_organization=world.acme,
            request_id=request_id,
        )
        for request_id in (ours, "trace-two")
    ]
    served = _usage(
        organization=world.globex, provider=provider,
        provider_organization=world.acme, request_id="globex-served-trace",
    )  # fmt: skip
    _usage(organization=world.globex, request_id="globex-private-trace")
    alice = Client()
    alice.force_login(world.alice)

    listing = alice.get(LIST).content.decode()
    assert ours in listing and "trace-two" in listing
    assert "globex-served-trace" not in listing and "Globex" in listing
    for query in (ours, f'"{ours}"'):
        found = alice.get(LIST, {"q": query}).content.decode()
        assert ours in found and "trace-two" not in found and "Globex" not in found
    for theirs in ("globex-served-trace", "globex-private-trace"):
        assert "0 results" in alice.get(LIST, {"q": theirs}).content.decode()
    assert ours in alice.get(f"{LIST}{mine[0].pk}/change/").content.decode()
    detail = alice.get(f"{LIST}{served.pk}/change/").content.decode()
    assert "Request id" not in detail and "globex-served-trace" not in detail
    export = b"".join(alice.get(EXPORT).streaming_content).decode()  # type: ignore[attr-defined]
    table = list(csv.DictReader(io.StringIO(export)))
    assert sorted(r["request_id"] for r in table) == ["", ours, "trace-two"]
