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
- ``rerank()`` (vendors with a rerank API) takes and returns the canonical
  rerank shapes of ``rerank.py``; others refuse it with a 400.
- Errors are raised as ``DriverError`` carrying the gateway's answer (status,
  type, code) per PROTOCOLS.md 1.9; messages never contain credentials.
- ``messages_raw()`` (vendors that speak Anthropic Messages natively, where
  ``accepts_messages_raw(model_id)``): the client's body as sent, only the model
  id and credentials replaced; a ``RawMessage`` or an opened ``RawStream``
  (``passthrough.py``). Other vendors refuse it with a 400.
- ``responses_raw()`` (OpenAI-type providers whose ``wire_api`` is
  ``responses``, where ``accepts_responses_raw(model_id)``): the client's
  Responses create body as sent, only ``model`` replaced; a ``RawResponse`` or
  an opened ``RawResponseStream`` (``openai/responses_raw.py``). Others refuse
  it with a 400.
- ``completions_raw()`` (providers that serve the legacy ``/completions``
  themselves, where ``accepts_completions_raw(model_id)``: OpenAI, Azure and
  the compatible servers): the client's body as sent, only ``model`` replaced;
  a ``RawCompletion`` or an opened ``RawCompletionStream``
  (``openai/completions_raw.py``). Others refuse it with a 400.

The credential boundary: every subclass's ``chat``, ``chat_stream`` (the
iteration included), ``embed``, ``rerank``, ``list_models`` and
``health_check`` (and the base's ``messages_raw``, ``responses_raw`` and
``completions_raw``; their
streams contain their own iteration) are wrapped when the class is defined
(``Driver.__init_subclass__``, see ``boundary.py``), so every error leaving a
driver is scrubbed of its config's credentials.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal, overload

import httpx
import orjson

from providers import http
from providers.drivers import boundary
from providers.drivers.auth import auth_headers, get_token
from providers.drivers.config import DriverConfig, ModelInfo, UpstreamRequest
from providers.drivers.errors import (
    DriverError,
    error_from_exception,
    error_from_status,
    error_message_from_body,
    invalid_request,
)
from providers.drivers.images import IMAGE_MAX_BYTES, fetch_images
from providers.drivers.openai.completions_raw import (
    RawCompletion,
    RawCompletionStream,
)
from providers.drivers.openai.responses_raw import RawResponse, RawResponseStream
from providers.drivers.passthrough import RawMessage, RawStream
from providers.drivers.structured import Native, Plan, plan
from providers.drivers.vendor import AuthMethod

__all__ = ["Driver", "DriverConfig", "DriverError", "ModelInfo", "UpstreamRequest"]


class Driver(ABC):
    """The I/O layer around a vendor's pure translation functions.

    Subclasses implement the contract; ``__init_subclass__`` puts each of their
    ``BOUNDARY_METHODS`` behind the credential boundary (see the module docstring).
    """

    vendor = "upstream"
    #: Per-image cap of ``fetch_images`` when the config sets no ``image_max_bytes``.
    default_image_max_bytes = IMAGE_MAX_BYTES

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in boundary.BOUNDARY_METHODS:
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "__isabstractmethod__", False):
                setattr(cls, name, boundary.guarded(name, fn))

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

    async def rerank(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        """Scores for the canonical rerank ``request`` (``drivers/rerank.py``)."""
        raise invalid_request(
            f"{self.vendor} providers do not serve rerank here.", "model"
        )

    @abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """The models the vendor offers this account (discovery)."""

    async def health_check(self) -> None:
        """A cheap authenticated call; raises DriverError when it fails."""
        await self.list_models()

    # -- Anthropic Messages pass-through (``passthrough.py``) ---------------------

    def accepts_messages_raw(self, model_id: str) -> bool:
        """Whether ``messages_raw`` can send an Anthropic Messages body to this
        model as the client sent it (the vendor speaks it natively)."""
        return False

    @overload
    async def messages_raw(
        self,
        body: dict[str, Any],
        model_id: str,
        *,
        stream: Literal[False] = False,
        betas: Sequence[str] = (),
    ) -> RawMessage: ...

    @overload
    async def messages_raw(
        self,
        body: dict[str, Any],
        model_id: str,
        *,
        stream: Literal[True],
        betas: Sequence[str] = (),
    ) -> RawStream: ...

    async def messages_raw(
        self,
        body: dict[str, Any],
        model_id: str,
        *,
        stream: bool = False,
        betas: Sequence[str] = (),
    ) -> RawMessage | RawStream:
        """Send a client's Anthropic Messages ``body`` as sent, only ``model``
        replaced by ``model_id`` and credentials set; ``betas`` are the client's
        ``anthropic-beta`` values. Not streamed: the vendor's ``Message``;
        streamed: the opened stream (HTTP errors raised here, before the first
        event; the caller iterates or ``aclose()``s it)."""
        if not self.accepts_messages_raw(model_id):
            raise invalid_request(
                f"{self.vendor} providers do not take Anthropic Messages bodies "
                "as sent.",
                "model",
            )
        if stream:
            return await self.open_messages_raw(body, model_id, tuple(betas))
        return await self.send_messages_raw(body, model_id, tuple(betas))

    async def send_messages_raw(
        self, body: dict[str, Any], model_id: str, betas: tuple[str, ...]
    ) -> RawMessage:
        """``messages_raw``'s non-streamed call (vendors that accept it)."""
        raise NotImplementedError

    async def open_messages_raw(
        self, body: dict[str, Any], model_id: str, betas: tuple[str, ...]
    ) -> RawStream:
        """``messages_raw``'s streamed call (vendors that accept it)."""
        raise NotImplementedError

    async def count_tokens_raw(
        self, body: dict[str, Any], model_id: str, betas: Sequence[str] = ()
    ) -> int | None:
        """The vendor's own input-token count for a client's count_tokens
        ``body`` (Anthropic's shape, as sent, only ``model`` replaced), or None
        when the vendor cannot count for this model (the gateway estimates)."""
        return None

    # -- OpenAI Responses pass-through (``openai/responses_raw.py``) --------------

    def accepts_responses_raw(self, model_id: str) -> bool:
        """Whether ``responses_raw`` can send a Responses create body to this
        model as the client sent it (the provider speaks Responses upstream)."""
        return False

    @overload
    async def responses_raw(
        self, body: dict[str, Any], model_id: str, *, stream: Literal[False] = False
    ) -> RawResponse: ...

    @overload
    async def responses_raw(
        self, body: dict[str, Any], model_id: str, *, stream: Literal[True]
    ) -> RawResponseStream: ...

    async def responses_raw(
        self, body: dict[str, Any], model_id: str, *, stream: bool = False
    ) -> RawResponse | RawResponseStream:
        """Send a client's Responses create ``body`` as sent, only ``model``
        replaced and credentials set. Not streamed: the vendor's ``Response``;
        streamed: the opened stream (HTTP errors raised here, before the first
        event; the caller iterates or ``aclose()``s it)."""
        if not self.accepts_responses_raw(model_id):
            raise invalid_request(
                f"This {self.vendor} provider does not speak the Responses API "
                "upstream (its wire_api is not 'responses').",
                "model",
            )
        if stream:
            return await self.open_responses_raw(body, model_id)
        return await self.send_responses_raw(body, model_id)

    async def send_responses_raw(
        self, body: dict[str, Any], model_id: str
    ) -> RawResponse:
        """``responses_raw``'s non-streamed call (drivers that accept it)."""
        raise NotImplementedError

    async def open_responses_raw(
        self, body: dict[str, Any], model_id: str
    ) -> RawResponseStream:
        """``responses_raw``'s streamed call (drivers that accept it)."""
        raise NotImplementedError

    # -- OpenAI legacy Completions pass-through (``openai/completions_raw.py``) --

    def accepts_completions_raw(self, model_id: str) -> bool:
        """Whether ``completions_raw`` can send a legacy Completions body to
        this model as the client sent it (the provider serves ``/completions``)."""
        return False

    @overload
    async def completions_raw(
        self, body: dict[str, Any], model_id: str, *, stream: Literal[False] = False
    ) -> RawCompletion: ...

    @overload
    async def completions_raw(
        self, body: dict[str, Any], model_id: str, *, stream: Literal[True]
    ) -> RawCompletionStream: ...

    async def completions_raw(
        self, body: dict[str, Any], model_id: str, *, stream: bool = False
    ) -> RawCompletion | RawCompletionStream:
        """Send a client's Completions ``body`` as sent, only ``model`` replaced
        and credentials set. Not streamed: the vendor's ``text_completion``;
        streamed: the opened stream (HTTP errors raised here, before the first
        event; the caller iterates or ``aclose()``s it)."""
        if not self.accepts_completions_raw(model_id):
            raise invalid_request(
                f"{self.vendor} providers do not serve the legacy completions "
                "endpoint.",
                "model",
            )
        if stream:
            return await self.open_completions_raw(body, model_id)
        return await self.send_completions_raw(body, model_id)

    async def send_completions_raw(
        self, body: dict[str, Any], model_id: str
    ) -> RawCompletion:
        """``completions_raw``'s non-streamed call (drivers that accept it)."""
        raise NotImplementedError

    async def open_completions_raw(
        self, body: dict[str, Any], model_id: str
    ) -> RawCompletionStream:
        """``completions_raw``'s streamed call (drivers that accept it)."""
        raise NotImplementedError

    # -- structured output and forced tool choice (``structured.py``) -----------

    def native_output(self, model_id: str) -> Native:
        """What the vendor does itself for this model: JSON modes, forced tool
        choice. The rest is emulated (``structured.plan``)."""
        return Native()

    def structured_plan(self, request: dict[str, Any], model_id: str) -> Plan:
        """The request rewritten for what the vendor lacks, and the way back."""
        return plan(request, self.native_output(model_id), self.vendor)

    # -- helpers for subclasses -------------------------------------------------

    async def fetch_images(
        self, refs: list[tuple[str, str]]
    ) -> dict[str, tuple[str, bytes]]:
        """Remote images to inline (``images.fetch_images`` with this config)."""
        return await fetch_images(refs, self.config, self.image_max_bytes())

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
            token = await get_token(self.config, self.client)
        return auth_headers(self.config, token)

    async def send(self, req: UpstreamRequest) -> httpx.Response:
        """Send a request and read the whole answer; raise DriverError on failure."""
        try:
            response = await http.send(
                self.client,
                req.method,
                req.url,
                req.headers,
                req.body_bytes(),
                self.config.timeouts.httpx(),
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
            response = await http.send(
                self.client,
                req.method,
                req.url,
                req.headers,
                req.body_bytes(),
                self.config.timeouts.httpx(),
                stream=True,
            )
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


def _guard_base_methods() -> None:
    # The base class's own implementations sit behind the boundary too.
    for name in (
        "embed",
        "rerank",
        "health_check",
        "messages_raw",
        "responses_raw",
        "completions_raw",
    ):
        setattr(Driver, name, boundary.guarded(name, Driver.__dict__[name]))


_guard_base_methods()
