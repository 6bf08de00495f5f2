"""The driver contract every vendor module implements.

A driver turns a canonical request (OpenAI Chat Completions / Embeddings shape,
a plain dict) into the vendor's HTTP request, and the vendor's answer back into
canonical dicts. Translation lives in pure module-level functions of each vendor
module (dict in, dict out, no I/O), tested with vectors; the ``Driver`` class is
the thin I/O layer around them. Drivers import no models and never touch the ORM:
they get a ``DriverConfig`` (decrypted values included) and a pooled client.

Canonical outputs:

- ``chat()`` returns a ``chat.completion`` dict (``id``/``created``/``model`` may
  be placeholders: the gateway rewrites them).
- ``chat_stream()`` yields ``chat.completion.chunk`` dicts following PROTOCOLS.md
  1.6: a first role chunk, content / tool-call deltas (tool-call ``index`` counts
  0, 1, 2… per choice; ``id``/``type``/``name`` sent once), a final chunk with
  ``finish_reason``, then (always, when the vendor reports usage) one chunk with
  ``choices: []`` and ``usage``. The gateway decides whether the caller gets it.
- ``embed()`` returns the OpenAI embeddings list dict.
- Errors are raised as ``DriverError`` carrying the gateway's answer (status,
  type, code) per PROTOCOLS.md 1.9; messages never contain credentials.

The credential boundary: every subclass's ``chat``, ``chat_stream`` (the
iteration included), ``embed``, ``list_models`` and ``health_check`` are wrapped
when the class is defined (``Driver.__init_subclass__``, see ``boundary.py``),
so every error leaving a driver is scrubbed of its config's credentials.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import orjson

from providers.catalog import API_KEY_HEADER_DEFAULTS, AuthMethod
from providers.http import OutboundBlocked, OutboundUnresolvable


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    first_byte: float = 60.0
    total: float = 600.0

    def httpx(self) -> httpx.Timeout:
        # Read timeout bounds the wait for the first byte and every gap after it;
        # the gateway bounds the whole call with ``total``.
        return httpx.Timeout(
            connect=self.connect,
            read=self.first_byte,
            write=self.first_byte,
            pool=self.connect,
        )


@dataclass(frozen=True)
class DriverConfig:
    """Everything a driver needs about one provider, decrypted, ORM-free."""

    provider_type: str
    base_url: str
    auth_method: str
    credentials: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    name: str = ""

    def __repr__(self) -> str:  # never print credentials
        return (
            f"DriverConfig(type={self.provider_type!r}, name={self.name!r}, "
            f"base_url={self.base_url!r}, auth={self.auth_method!r})"
        )


@dataclass(frozen=True)
class ModelInfo:
    """A model as the vendor lists it (discovery)."""

    model_id: str
    name: str = ""
    model_type: str = "inference"  # inference | embedding | rerank
    context_window: int | None = None


class DriverError(Exception):
    """A failure the gateway answers with OpenAI's error envelope.

    ``transient`` errors (timeouts, 5xx, 429, connect errors) allow a retry or a
    fail-over to the next provider when nothing was sent to the caller yet.
    ``health`` says what a health check should conclude: ``unavailable`` (could
    not reach or was refused) or ``failed`` (our configuration is wrong).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        type: str = "api_error",
        code: str | None = "upstream_error",
        param: str | None = None,
        retry_after: float | None = None,
        transient: bool = False,
        health: str | None = "unavailable",
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after
        self.transient = transient
        self.health = health
        self.should_retry = should_retry

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def __repr__(self) -> str:
        return f"DriverError({self.status}, {self.code!r}, {self.message!r})"


def invalid_request(
    message: str, param: str | None = None, code: str = "invalid_value"
) -> DriverError:
    """A caller mistake found while translating (400, never retried)."""
    return DriverError(
        message,
        status=400,
        type="invalid_request_error",
        code=code,
        param=param,
        health=None,
    )


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    return None


def error_from_status(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    vendor: str = "upstream",
) -> DriverError:
    """Map an upstream HTTP failure to the gateway's answer (PROTOCOLS.md 1.9)."""
    headers = headers or {}
    message = message.strip()[:1000] or f"{vendor} answered HTTP {status}"
    if status == 429:
        return DriverError(
            f"{vendor} rate limit: {message}",
            status=429,
            type="rate_limit_error",
            code="upstream_rate_limited",
            retry_after=parse_retry_after(headers),
            transient=True,
            health=None,
        )
    if status in (401, 403):
        return DriverError(
            f"{vendor} refused the provider's credentials: {message}",
            status=502,
            code="upstream_auth_error",
            health="unavailable",
            should_retry=False,
        )
    if status == 404:
        return DriverError(
            f"{vendor} does not know this model or route: {message}",
            status=502,
            code="upstream_model_not_found",
            should_retry=False,
        )
    if status == 413:
        return DriverError(
            message,
            status=413,
            type="invalid_request_error",
            code="request_too_large",
            health=None,
        )
    if status == 408 or status == 504:
        return DriverError(
            f"{vendor} timed out: {message}",
            status=504,
            code="upstream_timeout",
            transient=True,
        )
    if status in (503, 529):
        return DriverError(
            f"{vendor} is unavailable: {message}",
            status=503,
            code="upstream_overloaded" if status == 529 else "upstream_unavailable",
            retry_after=parse_retry_after(headers),
            transient=True,
        )
    if status >= 500:
        return DriverError(
            f"{vendor} error: {message}",
            status=502,
            code="upstream_error",
            transient=True,
        )
    if status >= 400:
        return DriverError(
            message,
            status=400,
            type="invalid_request_error",
            code="upstream_invalid_request",
            health=None,
        )
    return DriverError(f"{vendor} answered HTTP {status}", status=502)


def error_from_exception(exc: Exception, vendor: str = "upstream") -> DriverError:
    """Map a transport failure (timeout, refused connection) to the gateway's answer."""
    if isinstance(exc, DriverError):
        return exc
    if isinstance(exc, OutboundBlocked):
        # Our configuration points somewhere we may not go: a config error for
        # health, and transient so the gateway fails over to the next provider.
        return DriverError(
            str(exc),
            status=502,
            code="upstream_blocked",
            health="failed",
            transient=True,
        )
    if isinstance(exc, OutboundUnresolvable):
        return DriverError(
            f"{vendor} is unreachable: its host name does not resolve.",
            status=503,
            code="upstream_unavailable",
            transient=True,
        )
    if isinstance(exc, httpx.InvalidURL):
        return DriverError(
            f"The {vendor} endpoint URL is not valid.",
            status=502,
            code="provider_misconfigured",
            health="failed",
            transient=True,
        )
    if isinstance(exc, httpx.TimeoutException):
        # httpx-aiohttp reports a refused connection as ConnectTimeout; aiohttp's
        # real timeouts subclass TimeoutError, its connection errors do not.
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientError) and not isinstance(
            cause, TimeoutError
        ):
            return DriverError(
                f"{vendor} is unreachable ({type(cause).__name__})",
                status=503,
                code="upstream_unavailable",
                transient=True,
            )
        return DriverError(
            f"{vendor} timed out", status=504, code="upstream_timeout", transient=True
        )
    if isinstance(exc, httpx.TransportError):
        kind = type(exc).__name__
        return DriverError(
            f"{vendor} is unreachable ({kind})",
            status=503,
            code="upstream_unavailable",
            transient=True,
        )
    return DriverError(f"{vendor} call failed ({type(exc).__name__})", status=502)


def error_message_from_body(body: bytes | str) -> str:
    """The human message inside a vendor error body, whatever its shape."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "Message", "detail"):
                if isinstance(err.get(key), str):
                    return str(err[key])
        if isinstance(err, str):
            return err
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return text.strip()[:500]


def auth_headers(cfg: DriverConfig, bearer_token: str | None = None) -> dict[str, str]:
    """Headers that authenticate a request for every method except SigV4.

    ``bearer_token`` is the OAuth2 access token when the method is ``oauth2``.
    """
    creds = cfg.credentials
    method = cfg.auth_method
    headers: dict[str, str] = {}
    if method == AuthMethod.BEARER:
        headers["Authorization"] = f"Bearer {creds.get('api_key', '')}"
    elif method == AuthMethod.X_API_KEY:
        headers["x-api-key"] = str(creds.get("api_key", ""))
    elif method == AuthMethod.API_KEY:
        default_name, default_prefix = API_KEY_HEADER_DEFAULTS.get(
            cfg.provider_type, ("", "")
        )
        name = str(cfg.config.get("auth_header") or default_name)
        prefix = str(cfg.config.get("auth_prefix", default_prefix) or "")
        headers[name] = f"{prefix}{creds.get('api_key', '')}"
    elif method == AuthMethod.CUSTOM_HEADERS:
        headers.update(
            {str(k): str(v) for k, v in (creds.get("headers") or {}).items()}
        )
    elif method == AuthMethod.OAUTH2 and bearer_token:
        headers["Authorization"] = f"Bearer {bearer_token}"
    for name, value in (cfg.config.get("extra_headers") or {}).items():
        headers.setdefault(str(name), str(value))
    return headers


@dataclass
class UpstreamRequest:
    """One HTTP request to the vendor, fully built (and signed, when needed)."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any = None
    content: bytes | None = None

    def body_bytes(self) -> bytes:
        if self.content is not None:
            return self.content
        if self.json is None:
            return b""
        return orjson.dumps(self.json)


IMAGE_MAX_BYTES = 20 * 1024 * 1024
IMAGE_MAX_URLS = 16
# A generic content type says nothing; such bodies count when their bytes do.
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})


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


def new_completion_id() -> str:
    import secrets

    return "chatcmpl-" + secrets.token_hex(12)


def now() -> int:
    return int(time.time())


class Driver(ABC):
    """The I/O layer around a vendor's pure translation functions.

    Subclasses implement the contract; ``__init_subclass__`` puts each of their
    ``BOUNDARY_METHODS`` behind the credential boundary (see the module docstring).
    """

    vendor = "upstream"
    #: Per-image cap of ``fetch_images`` when the config sets no ``image_max_bytes``.
    default_image_max_bytes = IMAGE_MAX_BYTES

    def __init_subclass__(cls, **kwargs: Any) -> None:
        from providers.drivers.boundary import BOUNDARY_METHODS, guarded

        super().__init_subclass__(**kwargs)
        for name in BOUNDARY_METHODS:
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "__isabstractmethod__", False):
                setattr(cls, name, guarded(name, fn))

    def __init__(self, config: DriverConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client

    @abstractmethod
    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        """A non-streaming chat completion, canonical in and out."""

    @abstractmethod
    def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Canonical chunks as the vendor streams them (an async generator)."""

    def embed_calls(self, request: Mapping[str, Any], model_id: str) -> int:
        """Upstream calls ``embed`` makes for this request: the gateway counts
        each against the rate limits. One, unless the vendor fans out."""
        return 1

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        raise invalid_request(
            f"{self.vendor} providers do not serve embeddings here.", "model"
        )

    @abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """The models the vendor offers this account (discovery)."""

    async def health_check(self) -> None:
        """A cheap authenticated call; raises DriverError when it fails."""
        await self.list_models()

    # -- helpers for subclasses -------------------------------------------------

    async def fetch_images(
        self, refs: list[tuple[str, str]]
    ) -> dict[str, tuple[str, bytes]]:
        """Fetch remote images to inline: ``(url, param)`` → ``{url: (mime, bytes)}``.

        Each distinct URL is fetched once, all concurrently, through the image
        guard of ``providers/drivers/images.py`` (never a private address; one
        error text for every refusal: a 400 ``invalid_image_url`` naming its
        content part). Provider config may lower the limits: ``image_max_bytes``
        per image (default ``default_image_max_bytes``), ``image_fetch_timeout``
        seconds; ``IMAGE_FETCH_MAX_BYTES`` and ``IMAGE_FETCH_TIMEOUT`` bound both.
        At most 16 distinct URLs per request.
        """
        from providers.drivers.images import fetch_all

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
        timeout = self.config.config.get("image_fetch_timeout")
        fetched = await fetch_all(
            wanted, self.image_max_bytes(), float(timeout) if timeout else None
        )
        return dict(zip(wanted, fetched, strict=True))

    def image_max_bytes(self) -> int:
        configured = self.config.config.get("image_max_bytes")
        return int(configured or self.default_image_max_bytes)

    def read_json(self, response: httpx.Response) -> Any:
        """The JSON body of a vendor answer; a body that is not JSON is a 502."""
        try:
            return orjson.loads(response.content)
        except ValueError:
            raise DriverError(
                f"{self.vendor} returned a body that is not JSON.", status=502
            ) from None

    async def auth(self) -> dict[str, str]:
        """Authentication headers for this provider (OAuth2 tokens fetched and cached).

        SigV4 is the exception: the Bedrock driver signs each request itself.
        """
        token = None
        if self.config.auth_method == AuthMethod.OAUTH2:
            from providers.oauth import get_token

            token = await get_token(self.config, self.client)
        return auth_headers(self.config, token)

    async def send(self, req: UpstreamRequest) -> httpx.Response:
        """Send a request and read the whole answer; raise DriverError on failure."""
        try:
            response = await self.client.request(
                req.method,
                req.url,
                headers=req.headers,
                content=req.body_bytes(),
                timeout=self.config.timeouts.httpx(),
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise error_from_exception(exc, self.vendor) from None
        if response.status_code >= 400:
            raise self.error_from_response(
                response.status_code, response.content, response.headers
            )
        return response

    async def open_stream(self, req: UpstreamRequest) -> httpx.Response:
        """Start a streaming request; the caller must ``aclose()`` the response."""
        try:
            request = self.client.build_request(
                req.method,
                req.url,
                headers=req.headers,
                content=req.body_bytes(),
                timeout=self.config.timeouts.httpx(),
            )
            response = await self.client.send(request, stream=True)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise error_from_exception(exc, self.vendor) from None
        if response.status_code >= 400:
            try:
                body = await response.aread()
            except httpx.HTTPError:
                body = b""
            finally:
                await response.aclose()
            raise self.error_from_response(response.status_code, body, response.headers)
        return response

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        """Vendor-specific error mapping hook; the default reads common shapes."""
        return error_from_status(
            status, error_message_from_body(body), headers, self.vendor
        )


async def iter_sse(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(event, data)`` pairs from a text/event-stream body.

    Comment lines are skipped; multi-line data is joined with newlines; an event
    without ``event:`` is reported as ``message``.
    """
    event, data_lines = "", []
    async for line in response.aiter_lines():
        if line == "":
            if data_lines:
                yield event or "message", "\n".join(data_lines)
            event, data_lines = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event = value
        elif name == "data":
            data_lines.append(value)
    if data_lines:
        yield event or "message", "\n".join(data_lines)


def malformed_stream(vendor: str, what: str) -> DriverError:
    """An event the stream parser cannot read: the stream ends with this error.

    Skipping it would answer 200 with part of the answer missing.
    """
    return DriverError(
        f"{vendor} sent a malformed stream event ({what}).",
        status=502,
        code="upstream_malformed",
        transient=True,  # before the first byte, the next provider may do better
    )


def stream_error(exc: Exception, vendor: str) -> DriverError:
    """A failure after the stream began: reported as an in-band error event."""
    err = error_from_exception(exc, vendor)
    if err.code == "upstream_error" and not isinstance(exc, DriverError):
        err.message = f"{vendor} stream broke off ({type(exc).__name__})"
    return err


def _guard_base_methods() -> None:
    # The base class's own implementations sit behind the boundary too.
    from providers.drivers.boundary import guarded

    for name in ("embed", "health_check"):
        setattr(Driver, name, guarded(name, Driver.__dict__[name]))


_guard_base_methods()
