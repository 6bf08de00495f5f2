"""Images in requests: finding them, data URLs, and fetching remote ones.

``image_refs`` lists the http(s) images of a request, ``image_data_url`` decodes
a data URL (pure); ``fetch_images`` fetches remote ones to inline, which is the
one path where a caller picks the host.

Its own guard, stricter than the providers': ``image_policy()`` never reaches a
private, loopback, link-local or metadata address, whatever
``PROVIDERS_ALLOW_PRIVATE_IPS`` says (``IMAGE_FETCH_ALLOW_LOOPBACK`` admits
loopback, for tests only). Only http and https, no redirects, a size cap
(``IMAGE_FETCH_MAX_BYTES``) and a time cap (``IMAGE_FETCH_TIMEOUT``) for the
whole fetch, DNS included. Every refusal (blocked address, DNS failure, refused
connection, non-2xx, not an image, too large, too slow) is the same 400 with the
same text, so the answer never tells whether something listens at an address.
The real reason goes to the log only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings

from providers.drivers.errors import DriverError, invalid_request
from providers.http import build_client, image_policy

if TYPE_CHECKING:
    from providers.drivers.config import DriverConfig

log = logging.getLogger(__name__)

IMAGE_MAX_BYTES = 20 * 1024 * 1024
IMAGE_MAX_URLS = 16
# A generic content type says nothing; such bodies count when their bytes do.
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_IMAGE_DATA_URL = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.+)$", re.DOTALL)

REFUSED = (
    "The image URL could not be used: it must be a public http(s) URL that "
    "answers with an image within the size and time limits."
)


class _Refused(Exception):
    """Why one fetch was refused (logged, never answered)."""


def sniff_image_type(data: bytes) -> str | None:
    """``image/png`` / ``jpeg`` / ``gif`` / ``webp`` from the magic bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


# -- image parts in requests ----------------------------------------------------


def image_url_of(part: Mapping[str, Any]) -> str:
    """The URL of an ``image_url`` part (an object with ``url``, or a bare string)."""
    image = part.get("image_url")
    if isinstance(image, str):
        return image
    if isinstance(image, dict):
        return str(image.get("url") or "")
    return ""


def image_refs(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(url, param)`` for every http(s) image in a user message, in order.

    These are the images a driver fetches and inlines (``Driver.fetch_images``);
    ``param`` names the content part for a 400.
    """
    found: list[tuple[str, str]] = []
    for i, msg in enumerate(request.get("messages") or []):
        if not isinstance(msg, dict) or msg.get("role") != "user":
            continue
        content = msg.get("content")
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = image_url_of(part)
                if url.startswith(("http://", "https://")):
                    found.append((url, f"messages[{i}].content[{j}].image_url.url"))
    return found


def image_data_url(url: str, param: str) -> tuple[str, str] | None:
    """``(mime, base64)`` of a ``data:image/…;base64,`` URL, or None for another URL.

    Whitespace inside the payload is removed; a payload that is not base64 is a 400
    naming ``param``, so a broken image never costs an upstream call.
    """
    match = _IMAGE_DATA_URL.match(url)
    if not match:
        return None
    payload = re.sub(r"\s+", "", match.group(2))
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_request(
            "The image data URL does not hold valid base64.", param
        ) from None
    return match.group(1), payload


async def fetch_images(
    refs: list[tuple[str, str]], cfg: DriverConfig, max_bytes: int
) -> dict[str, tuple[str, bytes]]:
    """Fetch remote images to inline: ``(url, param)`` → ``{url: (mime, bytes)}``.

    Each distinct URL is fetched once, all concurrently, through the image guard
    (never a private address; one error text for every refusal: a 400
    ``invalid_image_url`` naming its content part). Provider config may lower the
    time limit: ``image_fetch_timeout`` seconds; ``max_bytes`` per image (the
    driver's ``image_max_bytes()``); ``IMAGE_FETCH_MAX_BYTES`` and
    ``IMAGE_FETCH_TIMEOUT`` bound both. At most 16 distinct URLs per request.
    """
    wanted: dict[str, str] = {}
    for url, param in refs:
        wanted.setdefault(url, param)
    if not wanted:
        return {}
    if len(wanted) > IMAGE_MAX_URLS:
        raise invalid_request(
            f"At most {IMAGE_MAX_URLS} image URLs per request.",
            "messages",
            code="invalid_image_url",
        )
    timeout = cfg.config.get("image_fetch_timeout")
    fetched = await fetch_all(wanted, max_bytes, float(timeout) if timeout else None)
    return dict(zip(wanted, fetched, strict=True))


def limits(max_bytes: int, timeout: float | None) -> tuple[int, float]:
    """The driver's caps, bounded by the instance-wide settings."""
    cap = min(int(max_bytes), int(settings.IMAGE_FETCH_MAX_BYTES))
    ceiling = float(settings.IMAGE_FETCH_TIMEOUT)
    return cap, min(float(timeout or ceiling), ceiling)


async def fetch_all(
    wanted: dict[str, str], max_bytes: int, timeout: float | None
) -> list[tuple[str, bytes]]:
    """``(mime, bytes)`` for each URL of ``wanted`` (url → param), concurrently.

    Raises the one 400 ``invalid_image_url`` naming the first refused part.
    """
    cap, limit = limits(max_bytes, timeout)
    async with build_client(image_policy()) as client:
        tasks = [
            asyncio.ensure_future(_fetch(client, url, param, cap, limit))
            for url, param in wanted.items()
        ]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise


async def _fetch(
    client: httpx.AsyncClient, url: str, param: str, cap: int, limit: float
) -> tuple[str, bytes]:
    try:
        async with asyncio.timeout(limit):
            return await _download(client, url, cap, limit)
    except Exception as exc:  # whatever went wrong, the caller learns nothing more
        log.info("image URL refused for %s: %s: %s", param, type(exc).__name__, exc)
        raise refused(param) from None


def refused(param: str) -> DriverError:
    return invalid_request(REFUSED, param, code="invalid_image_url")


async def _download(
    client: httpx.AsyncClient, url: str, cap: int, limit: float
) -> tuple[str, bytes]:
    timeout = httpx.Timeout(limit)
    async with client.stream("GET", url, timeout=timeout) as response:
        if not 200 <= response.status_code < 300:
            raise _Refused(f"HTTP {response.status_code}")
        mime = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if mime not in _GENERIC_TYPES and not mime.startswith("image/"):
            raise _Refused(f"content type {mime}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _Refused(f"declared {declared} bytes, over {cap}")
        data = bytearray()
        async for piece in response.aiter_bytes():
            data.extend(piece)
            if len(data) > cap:
                raise _Refused(f"over {cap} bytes")
    if mime in _GENERIC_TYPES:
        # A generic type (S3 often serves octet-stream) counts when the bytes
        # are a png, jpeg, gif or webp.
        sniffed = sniff_image_type(bytes(data))
        if sniffed is None:
            raise _Refused("generic content type, not image bytes")
        mime = sniffed
    return mime, bytes(data)
