"""A real browser calls /v1 from a page: allowed origins work, others are refused.

Chromium runs the whole CORS protocol (the preflight for ``Authorization`` and
JSON, then the call, then what the page may read); two pages on loopback are
two origins, one listed in ``GATEWAY_CORS_ALLOWED_ORIGINS`` and one not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from gateway.models import ApiKey
from tests.fakes.server import FakeServer, serve
from tests.gateway import upstreams

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
# What the page runs: the OpenAI SDKs' call, and what they read from the answer.
CALL = """async ([url, key, body]) => {
  try {
    const response = await fetch(url, {
      method: body === null ? "GET" : "POST",
      headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json",
                "X-Stainless-OS": "Linux"},
      body: body === null ? undefined : JSON.stringify(body),
    });
    return {status: response.status, json: await response.json()};
  } catch (error) {
    return {failed: String(error)};
  }
}"""


@pytest.fixture
def page_server() -> Iterator[FakeServer]:
    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><title>app</title>", content_type="text/html"
        )

    app = web.Application()
    app.router.add_get("/", index)
    with serve(app) as server:
        yield server


@pytest.fixture
def openai_key(gateway, world) -> Iterator[str]:
    with upstreams.start("openai") as fake:
        upstreams.register(fake, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        yield secret


def run_in_page(page_url: str, calls: list[list[Any]]) -> list[dict[str, Any]]:
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_url)
            return [page.evaluate(CALL, call) for call in calls]
        finally:
            browser.close()


def test_a_page_on_an_allowed_origin_calls_the_gateway_and_reads_its_answers(
    gateway, openai_key, page_server, settings, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.GATEWAY_CORS_ALLOWED_ORIGINS = [page_server.url]
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    answered, listed, refused = run_in_page(
        page_server.url + "/",
        [
            [f"{gateway.v1}/chat/completions", openai_key, chat],
            [f"{gateway.v1}/models", openai_key, None],
            [f"{gateway.v1}/models", "sk-wrong", None],
        ],
    )
    assert answered["status"] == 200, answered
    assert answered["json"]["choices"][0]["message"]["role"] == "assistant"
    assert listed["status"] == 200
    assert "gpt-4o-mini" in [m["id"] for m in listed["json"]["data"]]
    # An error is readable too: the SDKs raise it with its message and code.
    assert refused["status"] == 401
    assert refused["json"]["error"]["code"] == "invalid_api_key"


def test_a_page_on_another_origin_is_refused_by_the_browser(
    gateway, openai_key, page_server, settings, monkeypatch
):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.GATEWAY_CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    other_origin = page_server.url.replace("127.0.0.1", "localhost")
    for page_url in [page_server.url + "/", other_origin + "/"]:
        (outcome,) = run_in_page(page_url, [[f"{gateway.v1}/models", openai_key, None]])
        assert "failed" in outcome, outcome
        assert "TypeError" in outcome["failed"]
