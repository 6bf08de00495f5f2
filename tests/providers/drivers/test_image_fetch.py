"""``Driver.fetch_images``: the one remote-image fetch every vendor driver uses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from providers.drivers.base import DriverConfig, DriverError
from providers.drivers.ollama import OllamaDriver
from providers.http import build_client
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


def test_each_url_is_fetched_once_and_generic_types_are_sniffed() -> None:
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
def test_unusable_images_are_400_naming_the_part(path: str, options: Any) -> None:
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


def test_too_many_image_urls_are_refused_before_any_fetch() -> None:
    hits: list[str] = []
    with serve(images_app(hits)) as host, pytest.raises(DriverError) as err:
        refs = [(f"{host.url}/cat.png?{i}", f"p{i}") for i in range(17)]
        fetch(host.url, refs)
    assert (err.value.status, err.value.code) == (400, "invalid_image_url")
    assert hits == []
