"""The one credential scrub and the driver boundary that applies it."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from providers.drivers import auth, get_driver
from providers.drivers.base import Driver
from providers.drivers.config import DriverConfig, ModelInfo
from providers.drivers.errors import DriverError
from providers.drivers.scrub import REDACTED, scrub, secret_values

KEY = "sk-SECRET-unit-4f9a1c"


def config(**kw: Any) -> DriverConfig:
    return DriverConfig(
        provider_type=kw.pop("provider_type", "openai"),
        base_url="http://127.0.0.1:9",
        auth_method=kw.pop("auth_method", "bearer"),
        credentials=kw.pop("credentials", {"api_key": KEY}),
        config=kw.pop("config", {}),
    )


def test_scrub_removes_a_secret_in_every_common_encoding() -> None:
    secret = "cs/SECRET+value=="
    forms = [
        secret,
        quote_plus(secret, safe=""),
        "cs%2FSECRET%2Bvalue%3D%3D",
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(secret.encode()).decode().rstrip("="),
        '"cs/SECRET+value=="',
    ]
    for form in forms:
        assert scrub(f"before {form} after", {secret}) == (
            f"before {REDACTED} after"
            if not form.startswith('"')
            else f'before "{REDACTED}" after'
        )
    basic = "Basic " + base64.b64encode(b"user:pa55-word-x").decode()
    text = scrub("user:pa55-word-x and pa55-word-x", {basic})
    assert "pa55-word-x" not in text


def test_scrub_removes_masked_key_echoes_and_keeps_ordinary_text() -> None:
    message = "Incorrect API key provided: sk-pr***RET. See the docs."
    assert (
        scrub(message, set())
        == f"Incorrect API key provided: {REDACTED}. See the docs."
    )
    assert scrub("model gpt-4o is busy", {"abc", KEY}) == "model gpt-4o is busy"


def test_secret_values_cover_every_credential_kind() -> None:
    cfg = config(
        auth_method="custom_headers",
        credentials={"headers": {"X-Auth": "hdr-SECRET-1"}},
        config={
            "extra_headers": {"X-Extra": "extra-SECRET-2"},
            "api_token": "cfg-SECRET-3",
            "token_url": "https://auth.example/token",
            "region": "us-east-1",
        },
    )
    values = secret_values(cfg)
    assert {"hdr-SECRET-1", "extra-SECRET-2", "cfg-SECRET-3"} <= values
    assert "https://auth.example/token" not in values and "us-east-1" not in values
    aws = secret_values(
        config(
            auth_method="aws_sigv4",
            credentials={
                "access_key_id": "AKIDX",
                "secret_access_key": "aws-secret",
                "session_token": "aws-token",
            },
        )
    )
    assert {"AKIDX", "aws-secret", "aws-token", "AKIDX:aws-secret"} <= aws


def test_secret_values_include_the_oauth2_tokens_obtained() -> None:
    cfg = config(
        auth_method="oauth2",
        credentials={"client_secret": "cs-SECRET-5"},
        config={"token_url": "http://127.0.0.1:9/token", "client_id": "gw"},
    )
    auth.TOKENS.put(auth.cache_key(cfg), "tok-SECRET-6", lifetime=3600)
    try:
        assert {"cs-SECRET-5", "gw:cs-SECRET-5", "tok-SECRET-6"} <= secret_values(cfg)
    finally:
        auth.reset_tokens()


class EchoingDriver(Driver):
    """A driver that fails the way a careless vendor module could."""

    vendor = "echo"

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        kind = request["fail"]
        if kind == "driver_error":
            try:
                raise httpx.ConnectError(f"header x-api-key: {KEY}")
            except httpx.ConnectError:
                raise DriverError(f"refused: x-api-key: {KEY}", param=KEY)
        if kind == "timeout":
            raise TimeoutError
        raise ValueError(f"Authorization: Bearer {KEY}")

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        yield {"choices": [{"index": 0, "delta": {"content": "hi"}}]}
        raise DriverError(f"mid-stream: {KEY}")

    async def list_models(self) -> list[ModelInfo]:
        raise KeyError(KEY)


async def _run(driver: Driver, fail: str) -> DriverError:
    try:
        await driver.chat({"fail": fail}, "m")
    except DriverError as err:
        return err
    raise AssertionError("no error")


def test_every_error_leaving_a_driver_is_scrubbed_and_unchained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    driver = EchoingDriver(config(), httpx.AsyncClient())
    err = asyncio.run(_run(driver, "driver_error"))
    assert KEY not in err.message and KEY not in str(err) and KEY not in repr(err)
    assert err.param == REDACTED and err.__context__ is None and err.__cause__ is None
    caplog.set_level(logging.DEBUG)
    err = asyncio.run(_run(driver, "unexpected"))
    assert err.message == "echo call failed (ValueError)" and err.status == 502
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)
    with pytest.raises(TimeoutError):  # the caller's deadline passes unchanged
        asyncio.run(_run(driver, "timeout"))
    with pytest.raises(DriverError) as listed:
        asyncio.run(driver.health_check())  # the base implementation, guarded too
    assert KEY not in str(listed.value)


def test_a_stream_delivers_its_chunks_then_a_scrubbed_error() -> None:
    driver = EchoingDriver(config(), httpx.AsyncClient())

    async def consume() -> tuple[list[Any], DriverError]:
        seen = []
        try:
            async for chunk in driver.chat_stream({}, "m"):
                seen.append(chunk)
        except DriverError as err:
            return seen, err
        raise AssertionError("no error")

    seen, err = asyncio.run(consume())
    assert len(seen) == 1 and err.message == f"mid-stream: {REDACTED}"


def test_every_registered_driver_sits_behind_the_boundary() -> None:
    for provider_type in ("openai", "azure_openai", "anthropic", "bedrock"):
        driver = get_driver(config(provider_type=provider_type), httpx.AsyncClient())
        for name in ("chat", "chat_stream", "embed", "list_models", "health_check"):
            method = getattr(type(driver), name)
            assert getattr(method, "__credential_boundary__", False), (
                provider_type,
                name,
            )
    for provider_type in ("ollama", "gemini", "groq", "vllm"):
        driver = get_driver(config(provider_type=provider_type), httpx.AsyncClient())
        assert type(driver).chat.__credential_boundary__
