"""Unbounded input, finding by finding: each test sends what the issue reproduced.

Raw sockets show what the server read and when: a 401 or 413 that arrives while
the client has sent only part of its body proves the rest was never read.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from aiohttp import web

from gateway import intake, state
from gateway.models import ApiKey
from gateway.state import TTLCache
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.fakes.server import serve
from tests.gateway import upstreams

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
HUNDRED_MB = 100 * 1024 * 1024


def raw(gateway, head: str, first: bytes, timeout: float = 5.0) -> bytes:
    """Send the request head and the first bytes of a body; return what came back."""
    parts = urlsplit(gateway.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as s:
        s.sendall(head.encode() + b"\r\n" + first)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
                piece = s.recv(65536)
                if not piece:
                    break
                answer += piece
        except TimeoutError:
            pass
    return answer


def head(path: str, *lines: str) -> str:
    return "".join(
        [f"POST {path} HTTP/1.1\r\n", "Host: 127.0.0.1\r\n"]
        + [line + "\r\n" for line in lines]
    )


@pytest.fixture
def openai_key(gateway, world) -> Iterator[tuple[upstreams.Upstream, str]]:
    with upstreams.start("openai") as fake:
        upstreams.register(fake, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        yield fake, secret


def test_an_unauthenticated_100_mb_body_is_answered_401_before_it_is_read(gateway):
    # Only 64 KiB of the declared 100 MB are ever sent: the 401 must not wait.
    answer = raw(
        gateway,
        head(
            "/v1/chat/completions",
            f"Content-Length: {HUNDRED_MB}",
            "Content-Type: application/json",
        ),
        b"[" * 65536,
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b'"code":"invalid_api_key"' in answer


def test_an_unauthenticated_chunked_body_is_answered_401_before_it_is_read(gateway):
    answer = raw(
        gateway,
        head("/v1/embeddings", "Transfer-Encoding: chunked", "Authorization: Bearer x"),
        b"10000\r\n" + b"a" * 0x10000 + b"\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(openai_key, gateway):
    fake, secret = openai_key
    answer = raw(
        gateway,
        head(
            "/v1/chat/completions",
            f"Authorization: Bearer {secret}",
            f"Content-Length: {HUNDRED_MB}",
            "Content-Type: application/json",
        ),
        b"{",
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"type":"invalid_request_error"' in answer
    assert b'"code":"request_too_large"' in answer
    assert fake.requests == []


def test_a_chunked_body_over_the_limit_is_413_as_soon_as_it_passes(
    openai_key, gateway, settings
):
    settings.GATEWAY_MAX_EMBEDDINGS_BODY_BYTES = 100_000
    fake, secret = openai_key
    chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"  # 16 KiB; the body never ends
    answer = raw(
        gateway,
        head(
            "/v1/embeddings",
            f"Authorization: Bearer {secret}",
            "Transfer-Encoding: chunked",
            "Content-Type: application/json",
        ),
        chunk * 8,
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"100000 bytes" in answer
    assert fake.requests == []


def test_each_route_has_its_own_body_limit(openai_key, gateway, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 50_000
    settings.GATEWAY_MAX_EMBEDDINGS_BODY_BYTES = 10_000
    _, secret = openai_key
    headers = {"Authorization": f"Bearer {secret}"}
    padded = {**CHAT, "messages": [{"role": "user", "content": "x" * 20_000}]}
    chat = httpx.post(f"{gateway.v1}/chat/completions", json=padded, headers=headers)
    assert chat.status_code == 200
    embed = {"model": "text-embedding-3-small", "input": "x" * 20_000}
    too_big = httpx.post(f"{gateway.v1}/embeddings", json=embed, headers=headers)
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize(
    ("route", "setting"),
    [
        ("chat/completions", "GATEWAY_MAX_BODY_BYTES"),
        ("messages", "GATEWAY_MAX_BODY_BYTES"),
        ("messages/count_tokens", "GATEWAY_MAX_BODY_BYTES"),
        # Input items carry images and files inline, as chat messages do.
        ("responses", "GATEWAY_MAX_BODY_BYTES"),
        ("embeddings", "GATEWAY_MAX_EMBEDDINGS_BODY_BYTES"),
        ("completions", "GATEWAY_MAX_EMBEDDINGS_BODY_BYTES"),
        # Up to a thousand documents of text.
        ("rerank", "GATEWAY_MAX_EMBEDDINGS_BODY_BYTES"),
        ("v2/rerank", "GATEWAY_MAX_EMBEDDINGS_BODY_BYTES"),
        ("models", "GATEWAY_MAX_OTHER_BODY_BYTES"),
        ("responses/resp_1/input_items", "GATEWAY_MAX_OTHER_BODY_BYTES"),
    ],
)
def test_every_route_reads_up_to_the_limit_of_what_it_carries(route, setting, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 3
    settings.GATEWAY_MAX_EMBEDDINGS_BODY_BYTES = 2
    settings.GATEWAY_MAX_OTHER_BODY_BYTES = 1
    assert intake.body_limit(f"/v1/{route}") == getattr(settings, setting)


def test_a_chunked_body_without_content_length_is_parsed(openai_key, gateway):
    import orjson

    fake, secret = openai_key

    def pieces() -> Iterator[bytes]:
        data = orjson.dumps(CHAT)
        yield data[:10]
        yield data[10:]

    answer = httpx.post(
        f"{gateway.v1}/chat/completions",
        content=pieces(),
        headers={
            "Authorization": f"Bearer {secret}",
            "Content-Type": "application/json",
        },
    )
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert answer.status_code == 200, answer.text
    assert len(fake.requests) == 1


def post(gateway, secret: str, body: dict, path: str = "chat/completions"):
    return httpx.post(
        f"{gateway.v1}/{path}",
        json=body,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )


def test_a_nul_byte_in_a_model_name_is_a_400_naming_model(openai_key, gateway):
    _, secret = openai_key
    answer = post(gateway, secret, {**CHAT, "model": "gpt-4o\x00mini"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "model"


def test_json_nested_256_deep_is_a_400_not_a_500_on_the_way_out(openai_key, gateway):
    fake, secret = openai_key
    deep: list = []
    for _ in range(300):
        deep = [deep]
    answer = post(gateway, secret, {**CHAT, "extra": deep})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "nesting_too_deep"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("vendor", "field", "value", "param"),
    [
        ("bedrock", "temperature", "hot", "temperature"),
        ("bedrock", "stop", 123, "stop"),
        ("gemini", "stop", 123, "stop"),
        ("anthropic", "temperature", 5, "temperature"),
        ("anthropic", "temperature", 1.5, "temperature"),  # OpenAI's range, not theirs
        ("bedrock", "temperature", 1.5, "temperature"),
        ("gemini", "tool_calls", "x", "messages[0].tool_calls"),
        ("ollama", "top_p", 5, "top_p"),
        ("openai", "n", True, "n"),
        ("openai", "max_tokens", 2**70, "max_tokens"),
    ],
)
def test_wrong_types_and_ranges_are_400s_naming_the_field(
    gateway, world, vendor, field, value, param
):
    with upstreams.start(vendor) as fake:
        upstreams.register(fake, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        body = {
            "model": fake.chat_model,
            "messages": [{"role": "user", "content": "x"}],
        }
        if field == "tool_calls":
            body["messages"] = [{"role": "assistant", "content": "", field: value}]
        else:
            body[field] = value
        answer = post(gateway, secret, body)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["param"] == param
        assert error["type"] == "invalid_request_error"
        assert fake.requests == []


def test_a_vendor_refusal_names_the_vendor_range(gateway, world):
    with upstreams.start("anthropic") as fake:
        upstreams.register(fake, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        body = {**CHAT, "model": fake.chat_model, "temperature": 1.5}
        error = post(gateway, secret, body).json()["error"]
    assert "Anthropic accepts temperature from 0 to 1" in error["message"]


def test_megabyte_model_names_never_enter_the_route_cache(openai_key, gateway):
    _, secret = openai_key
    for i in range(20):
        name = f"{i}-" + "m" * (1024 * 1024)
        answer = post(gateway, secret, {**CHAT, "model": name})
        assert answer.status_code == 400
        assert answer.json()["error"]["param"] == "model"
    caches = state.state()
    assert caches.routes.key_bytes + caches.unknown_routes.key_bytes < 10_000


@pytest.mark.serial  # timing-bound: twelve calls within the cache's 1 s lifetime
def test_unknown_model_names_are_cached_apart_and_bounded(openai_key, gateway):
    _, secret = openai_key
    assert post(gateway, secret, CHAT).status_code == 200
    caches = state.state()
    caches.unknown_routes.max_entries = 5
    for i in range(12):
        answer = post(gateway, secret, {**CHAT, "model": f"no-such-model-{i}"})
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "model_not_found"
    assert len(caches.unknown_routes.data) == 5
    assert len(caches.routes.data) == 1  # the known route was not pushed out


def test_the_cache_is_bounded_by_key_bytes_and_evicts_the_oldest():
    cache = TTLCache(60.0, max_entries=1000, max_key_bytes=10_000)
    for i in range(100):
        cache.set(("principal", f"{i:03d}" + "x" * 997), i)
    assert cache.key_bytes <= 10_000
    assert len(cache.data) < 10
    assert cache.get(("principal", "099" + "x" * 997)) == 99
    assert cache.get(("principal", "000" + "x" * 997)) is None
    cache.clear()
    assert cache.key_bytes == 0


def register_bedrock(world, url: str, model_id: str) -> str:
    from tests.fakes import bedrock as fake

    provider = Provider(
        organization=world.acme,
        name="bedrock",
        provider_type="bedrock",
        endpoint=url,
        auth_method="aws_sigv4",
    )
    provider.seal(
        "credentials",
        {"access_key_id": fake.ACCESS_KEY, "secret_access_key": fake.SECRET_KEY},
    )
    provider.seal("provider_config", {"region": fake.REGION})
    provider.save()
    model = AIModel.objects.create(
        provider=provider,
        organization=world.acme,
        model_id=model_id,
        model_type=AIModel.ModelType.EMBEDDING,
    )
    Grant.objects.create(model=model, organization=world.acme)
    _, secret = ApiKey.issue(
        organization=world.acme, user=world.bob, name="k", requests_per_minute=30
    )
    return secret


def counting_titan_app(seen: dict) -> web.Application:
    """A Titan /invoke upstream that counts calls and the most ever in flight."""

    async def invoke(request: web.Request) -> web.Response:
        seen["calls"] += 1
        seen["now"] += 1
        seen["peak"] = max(seen["peak"], seen["now"])
        try:
            await asyncio.sleep(0.02)
        finally:
            seen["now"] -= 1
        return web.json_response({"embedding": [0.1, 0.2], "inputTextTokenCount": 1})

    app = web.Application()
    app.router.add_post("/model/{tail:.+}", invoke)
    return app


def test_embedding_fan_out_counts_every_upstream_call_and_runs_bounded(gateway, world):
    from tests.fakes import bedrock as fake

    seen = {"calls": 0, "now": 0, "peak": 0}
    with serve(counting_titan_app(seen)) as upstream:
        secret = register_bedrock(world, upstream.url, fake.TITAN_EMBED)
        body = {"model": fake.TITAN_EMBED, "input": [f"text {i}" for i in range(25)]}
        first = post(gateway, secret, body, "embeddings")
        assert first.status_code == 200, first.text
        assert seen["calls"] == 25
        assert seen["peak"] <= 8
        # 25 of the key's 30 calls a minute are spent: 25 more are refused whole.
        second = post(gateway, secret, body, "embeddings")
        assert second.status_code == 429
        assert seen["calls"] == 25


def test_more_than_2048_embedding_inputs_are_refused(openai_key, gateway):
    fake, secret = openai_key
    body = {"model": "text-embedding-3-small", "input": ["x"] * 2049}
    answer = post(gateway, secret, body, "embeddings")
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "input"
    assert fake.requests == []
