"""``Driver.fetch_images``: the one remote-image fetch every vendor driver uses.

Image servers here listen on loopback, so the tests that prove a fetch works
turn on ``IMAGE_FETCH_ALLOW_LOOPBACK`` (the ``loopback_images`` fixture); the
guard tests keep it off, as every deployment does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from providers.drivers.images import REFUSED
from providers.drivers.ollama.driver import OllamaDriver
from providers.http import build_client
from tests.fakes.net import counting, fake_dns
from tests.fakes.server import serve

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def images_app(hits: list[str] | None = None) -> web.Application:
    app = web.Application()
    hits = [] if hits is None else hits

    def route(body: bytes, content_type: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            hits.append(request.path)
            return web.Response(body=body, headers={"Content-Type": content_type})

        return handler

    app.router.add_get("/cat.png", route(PNG, "image/png"))
    app.router.add_get("/blob", route(PNG, "application/octet-stream"))
    app.router.add_get("/text-blob", route(b"hello", "application/octet-stream"))
    app.router.add_get("/page", route(b"<html>", "text/html"))
    return app


def fetch(url: str, refs: list[tuple[str, str]], **options: Any) -> Any:
    async def main() -> Any:
        client = build_client()
        cfg = DriverConfig("ollama", url, "none", config=options)
        try:
            return await OllamaDriver(cfg, client).fetch_images(refs)
        finally:
            await client.aclose()

    return asyncio.run(main())


@pytest.fixture
def loopback_images(settings: Any) -> None:
    settings.IMAGE_FETCH_ALLOW_LOOPBACK = True


def test_each_url_is_fetched_once_and_generic_types_are_sniffed(
    loopback_images: None,
) -> None:
    hits: list[str] = []
    with serve(images_app(hits)) as host:
        cat, blob = f"{host.url}/cat.png", f"{host.url}/blob"
        out = fetch(host.url, [(cat, "a"), (blob, "b"), (cat, "c")])
    assert out == {cat: ("image/png", PNG), blob: ("image/png", PNG)}
    assert sorted(hits) == ["/blob", "/cat.png"]


@pytest.mark.parametrize(
    ("path", "options"),
    [
        ("/page", {}),
        ("/text-blob", {}),
        ("/missing", {}),
        ("/cat.png", {"image_max_bytes": 10}),
    ],
)
def test_unusable_images_are_400_naming_the_part(
    path: str, options: Any, loopback_images: None
) -> None:
    with serve(images_app()) as host, pytest.raises(DriverError) as err:
        fetch(
            host.url,
            [(host.url + path, "messages[0].content[1].image_url.url")],
            **options,
        )
    assert (err.value.status, err.value.code, err.value.param) == (
        400,
        "invalid_image_url",
        "messages[0].content[1].image_url.url",
    )


def test_too_many_image_urls_are_refused_before_any_fetch(
    loopback_images: None,
) -> None:
    hits: list[str] = []
    with serve(images_app(hits)) as host, pytest.raises(DriverError) as err:
        refs = [(f"{host.url}/cat.png?{i}", f"p{i}") for i in range(17)]
        fetch(host.url, refs)
    assert (err.value.status, err.value.code) == (400, "invalid_image_url")
    assert hits == []


def refusal(url: str, **options: Any) -> DriverError:
    with pytest.raises(DriverError) as err:
        fetch("http://127.0.0.1:9", [(url, "messages[0].content[1]")], **options)
    assert (err.value.status, err.value.code, err.value.param) == (
        400,
        "invalid_image_url",
        "messages[0].content[1]",
    )
    return err.value


LOOPBACK_FORMS = [
    "127.0.0.1",
    "127.1",
    "0177.0.0.1",
    "2130706433",
    "0x7f000001",
    "0x7f.1",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "localhost",
    "intranet.test",
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_image_urls_never_reach_loopback_even_when_providers_may(
    host: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = True
    fake_dns(monkeypatch, {"intranet.test": ["127.0.0.1"]})
    with counting() as listener:
        err = refusal(f"http://{host}:{listener.port}/cat.png")
    assert listener.connections == 0
    assert err.message == REFUSED


def test_every_refusal_answers_the_same_text(
    loopback_images: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.IMAGE_FETCH_TIMEOUT = 0.5
    fake_dns(monkeypatch, {})
    app = images_app()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=PNG, content_type="image/png")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/cat.png")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal details")

    app.router.add_get("/slow", slow)
    app.router.add_get("/moved", moved)
    app.router.add_get("/broken", broken)
    with serve(app) as host, counting() as closed:
        closed.stop()  # a port that refuses connections
        cases = {
            "works": (f"{host.url}/cat.png", {}),
            "not found": (f"{host.url}/missing", {}),
            "server error": (f"{host.url}/broken", {}),
            "not an image": (f"{host.url}/page", {}),
            "image-less bytes": (f"{host.url}/text-blob", {}),
            "too large": (f"{host.url}/cat.png", {"image_max_bytes": 10}),
            "redirect": (f"{host.url}/moved", {}),
            "too slow": (f"{host.url}/slow", {}),
            "refused connection": (f"http://127.0.0.1:{closed.port}/x.png", {}),
            "unknown name": ("http://no-such-host.test/x.png", {}),
            "metadata address": ("http://169.254.169.254/latest/meta-data/", {}),
            "ftp": ("ftp://127.0.0.1/x.png", {}),
        }
        works_url, _ = cases.pop("works")
        assert fetch(host.url, [(works_url, "p")])[works_url][0] == "image/png"
        messages = {
            name: refusal(url, **options).message
            for name, (url, options) in cases.items()
        }
    assert set(messages.values()) == {REFUSED}, messages


def test_the_size_and_time_settings_bound_a_larger_provider_setting(
    loopback_images: None, settings: Any
) -> None:
    settings.IMAGE_FETCH_MAX_BYTES = 10
    with serve(images_app()) as host:
        err = refusal(f"{host.url}/cat.png", image_max_bytes=10**9)
    assert err.message == REFUSED
