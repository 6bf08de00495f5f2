"""Fetching caller-supplied image URLs: the one path where a caller picks the host.

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
import logging

import httpx
from django.conf import settings

from providers.drivers.base import (
    _GENERIC_TYPES,
    DriverError,
    invalid_request,
    sniff_image_type,
)
from providers.http import build_client, image_policy

log = logging.getLogger(__name__)

REFUSED = (
    "The image URL could not be used: it must be a public http(s) URL that "
    "answers with an image within the size and time limits."
)


class _Refused(Exception):
    """Why one fetch was refused (logged, never answered)."""


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
