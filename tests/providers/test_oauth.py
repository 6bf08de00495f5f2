"""OAuth2 client credentials (providers/drivers/auth.py) through the OpenAI driver.

The fake OpenAI server issues tokens at POST /oauth/token and accepts them on
its API routes until they expire; it counts token requests.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from providers.drivers.auth import TokenCache, get_token
from providers.drivers.config import DriverConfig, Timeouts
from providers.drivers.errors import DriverError
from providers.drivers.openai.driver import OpenAIDriver
from providers.http import build_client
from tests.fakes import openai as fake
from tests.fakes.server import serve

SECRET = "client-secret-DO-NOT-LEAK"


def oauth_cfg(server_url: str, client_id: str, secret: str = SECRET, **extra: Any):
    return DriverConfig(
        provider_type="openai_compatible",
        base_url=server_url + "/v1",
        auth_method="oauth2",
        credentials={"client_secret": secret},
        config={
            "token_url": server_url + "/oauth/token",
            "client_id": client_id,
            **extra,
        },
        timeouts=Timeouts(connect=2, first_byte=10, total=30),
    )


def unique_client() -> str:
    # The token cache is process-wide: a fresh client id keeps tests apart.
    return "client-" + uuid.uuid4().hex[:8]


def oauth_app(client_id: str, expires_in: int = 3600) -> Any:
    return fake.make_app(
        api_key=None,
        oauth={
            "client_id": client_id,
            "client_secret": SECRET,
            "expires_in": expires_in,
        },
    )


def ask(text: str = "hi") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def run(coro_fn: Any) -> Any:
    async def main() -> Any:
        client = build_client()
        try:
            return await coro_fn(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_token_is_fetched_once_and_reused() -> None:
    client_id = unique_client()
    app = oauth_app(client_id)
    with serve(app) as server:
        config = oauth_cfg(server.url, client_id)

        async def go(client: httpx.AsyncClient) -> list[dict[str, Any]]:
            driver = OpenAIDriver(config, client)
            answers = [await driver.chat(ask(), "gpt-4o-mini") for _ in range(3)]
            await driver.list_models()
            return answers

        answers = run(go)
    assert len(app["token_requests"]) == 1
    form = app["token_requests"][0]
    assert form == {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": SECRET,
    }
    assert answers[0]["choices"][0]["message"]["content"] == "Hello from openai: hi"
    bearers = {r["headers"]["Authorization"] for r in app["requests"]}
    assert len(bearers) == 1 and bearers.pop().startswith("Bearer tok-")


def test_concurrent_calls_share_one_token_request() -> None:
    client_id = unique_client()
    app = oauth_app(client_id)
    with serve(app) as server:
        config = oauth_cfg(server.url, client_id)

        async def go(client: httpx.AsyncClient) -> list[dict[str, Any]]:
            driver = OpenAIDriver(config, client)
            return await asyncio.gather(
                *(driver.chat(ask(str(n)), "gpt-4o-mini") for n in range(5))
            )

        answers = run(go)
    assert len(answers) == 5
    assert len(app["token_requests"]) == 1


def test_token_is_refreshed_after_expiry() -> None:
    client_id = unique_client()
    # 31 s lifetime minus the 30 s refresh skew: the token is reused for 1 s.
    app = oauth_app(client_id, expires_in=31)
    clock = [1000.0]
    cache = TokenCache(clock=lambda: clock[0])
    with serve(app) as server:
        config = oauth_cfg(server.url, client_id)

        async def go(client: httpx.AsyncClient) -> list[str]:
            tokens = [await get_token(config, client, cache) for _ in range(2)]
            clock[0] += 0.9
            tokens.append(await get_token(config, client, cache))
            clock[0] += 0.2
            tokens.append(await get_token(config, client, cache))
            return tokens

        tokens = run(go)
    assert len(app["token_requests"]) == 2
    assert tokens[0] == tokens[1] == tokens[2] != tokens[3]


def test_refused_credentials_do_not_leak_the_secret() -> None:
    client_id = unique_client()
    app = oauth_app(client_id)
    wrong = "wrong-secret-VALUE-123"
    with serve(app) as server:
        config = oauth_cfg(server.url, client_id, secret=wrong)

        async def go(client: httpx.AsyncClient) -> DriverError:
            driver = OpenAIDriver(config, client)
            try:
                await driver.chat(ask(), "gpt-4o-mini")
            except DriverError as exc:
                return exc
            raise AssertionError("no DriverError")

        err = run(go)
    assert (err.status, err.code) == (502, "upstream_auth_error")
    assert wrong not in err.message and SECRET not in err.message
    assert wrong not in repr(err) and wrong not in repr(config)
    assert app["requests"] == []  # the API itself was never called


def test_health_check_uses_the_token() -> None:
    client_id = unique_client()
    app = oauth_app(client_id)
    with serve(app) as server:
        config = oauth_cfg(server.url, client_id, scope="api://models/.default")

        async def go(client: httpx.AsyncClient) -> None:
            await OpenAIDriver(config, client).health_check()

        run(go)
    assert app["token_requests"][0]["scope"] == "api://models/.default"
    assert app["requests"][0]["path"] == "/v1/models"


def test_unreachable_token_endpoint_is_transient() -> None:
    config = DriverConfig(
        provider_type="openai_compatible",
        base_url="http://127.0.0.1:9/v1",
        auth_method="oauth2",
        credentials={"client_secret": SECRET},
        config={"token_url": "http://127.0.0.1:9/oauth/token", "client_id": "x"},
        timeouts=Timeouts(connect=1, first_byte=2, total=5),
    )

    async def go(client: httpx.AsyncClient) -> DriverError:
        try:
            await get_token(config, client)
        except DriverError as exc:
            return exc
        raise AssertionError("no DriverError")

    err = run(go)
    assert err.status == 503 and err.transient
    assert SECRET not in err.message
