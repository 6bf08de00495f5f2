"""A vendor's cookies are never kept: nothing one answer sets rides along on
the next call, whoever makes it (the pooled client is shared by every tenant
of the process). Real gateway, real aiohttp upstream on a loopback name."""

from __future__ import annotations

import openai
from aiohttp import web

from gateway.models import ApiKey
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.fakes.server import serve

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "cookie-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def cookie_app(seen: list[str | None]) -> web.Application:
    """Answers every chat call, setting a cookie; notes the Cookie header sent."""

    async def chat(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response(ANSWER)
        response.set_cookie("vendor_session", f"for-call-{len(seen)}", path="/")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def key_for(organization, url: str) -> str:
    provider = Provider.objects.create(
        organization=organization,
        name=f"cookies-{organization.slug}",
        provider_type="openai_compatible",
        endpoint=f"{url}/v1",
        auth_method="none",
    )
    model = AIModel.objects.create(
        provider=provider, organization=organization, model_id="cookie-model"
    )
    Grant.objects.create(model=model, organization=organization)
    _, secret = ApiKey.issue(organization=organization, user=None, name="k")
    return secret


def test_a_cookie_a_vendor_sets_is_never_sent_back(gateway, world):
    seen: list[str | None] = []
    with serve(cookie_app(seen)) as fake:
        # A name, not an address: cookie jars keep no cookie for an IP.
        url = fake.url.replace("127.0.0.1", "localhost")
        callers = [key_for(world.acme, url), key_for(world.globex, url)]
        for secret in [*callers, *callers]:
            client = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
            answer = client.chat.completions.create(
                model="cookie-model", messages=[{"role": "user", "content": "x"}]
            )
            assert answer.choices[0].message.content == "hi"
    assert seen == [None, None, None, None]


def test_the_guarded_client_keeps_no_cookie_on_any_path():
    """The same through the client's own request path (model discovery,
    health checks, OAuth tokens, image fetches), which drivers bypass."""
    import asyncio

    from providers.http import build_client

    seen: list[str | None] = []
    with serve(cookie_app(seen)) as fake:
        url = fake.url.replace("127.0.0.1", "localhost") + "/v1/chat/completions"

        async def twice() -> None:
            async with build_client() as client:
                for _ in range(2):
                    answer = await client.post(url, json={})
                    assert answer.status_code == 200
                    assert "vendor_session" in answer.headers["set-cookie"]

        asyncio.run(twice())
    assert seen == [None, None]
