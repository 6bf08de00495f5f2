"""Hot-path guarantees: no warm queries, no buffering, cancellation, invalidation."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import httpx
import openai
import pytest
from aiohttp import web
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gateway import state, usage
from gateway.models import ApiKey
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.fakes.server import free_port, serve
from tests.gateway import upstreams


def chunk(delta: dict, finish: str | None = None) -> bytes:
    import json

    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def slow_stream_app(pause: float, events: dict) -> web.Application:
    """An OpenAI-compatible upstream that pauses mid-stream and notes cancellation."""

    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk({"role": "assistant", "content": ""}))
        await response.write(chunk({"content": "first"}))
        try:
            await asyncio.sleep(pause)
        except asyncio.CancelledError:
            events["cancelled_at"] = time.monotonic()
            raise
        await response.write(chunk({"content": " second"}))
        await response.write(chunk({}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app["requests"] = []
    return app


def register_compatible(world, url: str) -> str:
    provider = Provider(
        organization=world.acme,
        name="compat",
        provider_type="openai_compatible",
        endpoint=f"{url}/v1",
        auth_method="none",
    )
    provider.save()
    model = AIModel.objects.create(
        provider=provider, organization=world.acme, model_id="slow-model"
    )
    Grant.objects.create(model=model, organization=world.acme)
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
    return secret


def test_a_warm_gateway_call_makes_no_database_queries(world, settings):
    from config.asgi import application

    # Warm means within the cache TTL: the longest allowed, for a loaded machine.
    settings.GATEWAY_CACHE_TTL = 1.5

    with upstreams.start("openai") as fake:
        upstreams.register(fake, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")

        async def call(path: str, body: dict | None = None) -> httpx.Response:
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1"
            ) as client:
                headers = {"Authorization": f"Bearer {secret}"}
                if body is None:
                    return await client.get(path, headers=headers)
                return await client.post(path, json=body, headers=headers)

        state.reset_for_tests()
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
        with CaptureQueriesContext(connection) as cold:
            assert async_to_sync(call)("/v1/chat/completions", chat).status_code == 200
        # the capture sees the cold path's queries, so the zeros below are real
        assert len(cold.captured_queries) >= 2  # the key (with its role), the route
        # The model listing has its own cache entry: fill it too.
        assert async_to_sync(call)("/v1/models").status_code == 200
        for path, body in [
            ("/v1/chat/completions", chat),
            ("/v1/chat/completions", {**chat, "stream": True}),
            ("/v1/models", None),
        ]:
            with CaptureQueriesContext(connection) as warm:
                assert async_to_sync(call)(path, body).status_code == 200
            assert warm.captured_queries == [], path


def test_a_warm_gateway_call_never_hops_to_a_thread(world, settings, monkeypatch):
    """No ``sync_to_async`` on a warm call: a sync view or signal would add one."""
    from asgiref import sync

    from config.asgi import application

    settings.GATEWAY_CACHE_TTL = 1.5
    with upstreams.start("openai") as fake:
        upstreams.register(fake, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
        calls = [
            ("/v1/chat/completions", chat),
            ("/v1/chat/completions", {**chat, "stream": True}),
            ("/v1/models", None),
        ]

        async def send_all() -> list[int]:
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://127.0.0.1"
            ) as client:
                headers = {"Authorization": f"Bearer {secret}"}
                return [
                    (
                        await client.get(path, headers=headers)
                        if body is None
                        else await client.post(path, json=body, headers=headers)
                    ).status_code
                    for path, body in calls
                ]

        state.reset_for_tests()
        assert async_to_sync(send_all)() == [200, 200, 200]  # cold: fills caches
        hops: list[str] = []
        original = sync.SyncToAsync.__call__

        async def counted(self, *args, **kwargs):
            hops.append(getattr(self.func, "__qualname__", repr(self.func)))
            return await original(self, *args, **kwargs)

        monkeypatch.setattr(sync.SyncToAsync, "__call__", counted)
        assert async_to_sync(send_all)() == [200, 200, 200]
    usage.discard_queued()  # the records of a test without the live gateway
    assert hops == []


def test_after_the_cache_ttl_a_key_is_checked_again_with_one_query(world, settings):
    """The price of bounded revocation: one key query per key per TTL per process."""
    from config.asgi import application

    settings.GATEWAY_CACHE_TTL = 1.0
    _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")

    async def calls(n: int) -> None:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1"
        ) as client:
            headers = {"Authorization": f"Bearer {secret}"}
            for _ in range(n):
                response = await client.get("/v1/models", headers=headers)
                assert response.status_code == 200

    state.reset_for_tests()
    async_to_sync(calls)(1)
    time.sleep(1.1)
    with CaptureQueriesContext(connection) as refreshed:
        async_to_sync(calls)(10)
    key_queries = [
        q for q in refreshed.captured_queries if "gateway_apikey" in q["sql"]
    ]
    assert len(key_queries) == 1


def test_the_first_token_is_relayed_before_the_upstream_finishes(gateway, world):
    events: dict = {}
    with serve(slow_stream_app(1.5, events)) as fake:
        secret = register_compatible(world, fake.url)
        client = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        started = time.monotonic()
        first_at = None
        text = ""
        for c in client.chat.completions.create(
            model="slow-model", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            if c.choices and c.choices[0].delta.content:
                first_at = first_at or time.monotonic()
                text += c.choices[0].delta.content
        done_at = time.monotonic()
    assert text == "first second"
    assert first_at - started < 1.0 and done_at - started >= 1.5


def test_a_client_disconnect_cancels_the_upstream_request(gateway, world):
    events: dict = {}
    with serve(slow_stream_app(30, events)) as fake:
        secret = register_compatible(world, fake.url)
        body = {
            "model": "slow-model",
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        }
        with httpx.stream(
            "POST",
            f"{gateway.v1}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=10,
        ) as response:
            for line in response.iter_lines():
                if "first" in line:
                    break
            closed_at = time.monotonic()
        deadline = time.monotonic() + 5
        while "cancelled_at" not in events and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "cancelled_at" in events, "the upstream request was left running"
    assert events["cancelled_at"] - closed_at < 3


@pytest.mark.serial  # timing-bound: bin/test runs it alone, after the parallel run
@pytest.mark.skipif(
    not (settings.REDIS_URL and connection.vendor == "postgresql"),
    reason="needs a shared PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)",
)
def test_changes_reach_another_replica_within_two_seconds(transactional_db, world):
    """A second gateway process drops its caches when this one changes a key."""
    with upstreams.start("openai") as fake:
        upstreams.register(fake, world.acme)
        key, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        db = connection.settings_dict
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        }
        replica = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application",
             "--port", str(port), "--log-level", "warning",
             "--http", "config.http_protocol:HttpToolsProtocol"],
            env=env,
            cwd=settings.BASE_DIR,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/v1/models"
            headers = {"Authorization": f"Bearer {secret}"}
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(url, headers=headers).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "replica did not start"
                time.sleep(0.1)
            # warm, then revoke here and watch the replica
            assert httpx.get(url, headers=headers).status_code == 200
            key.revoked_at = timezone.now()
            key.save()
            revoked_at = time.monotonic()
            while httpx.get(url, headers=headers).status_code == 200:
                assert time.monotonic() - revoked_at < 2.0, "revocation took > 2 s"
                time.sleep(0.05)
        finally:
            replica.terminate()
            replica.wait(10)
