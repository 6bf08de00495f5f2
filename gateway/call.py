"""The gateway's call path: one /v1 call from its model name to its usage record.

A view parses and validates the body, then hands a ``Call`` to one of the entry
points here and answers with what comes back:

- ``chat(call)``: a whole chat completion (a dict in OpenAI's shape);
- ``chat_stream(call)``: the server-sent events of a streamed one;
- ``embeddings(call)``: an embeddings answer;
- ``rerank(call, request)``: a rerank-type model's scores (``gateway.rerank``
  builds the request and the caller's answer).

Their parts (``send_chat``/``answered``, ``open_chat_stream``/``relayed``)
serve the other inbound protocols too (Anthropic's Messages API, OpenAI's
Responses and legacy Completions APIs), which pick per candidate between them
and the vendor's own body (``split_routes``; ``gateway.native``).

Each runs the same steps, in order: ``Call.resolve`` turns the model name into
the candidates visible to the key's principal (cached; no query when warm);
``Call.first_success`` admits each candidate against the key's, model's and
provider's limits and tries them in order, failing over to the next one only
on a transient failure before the caller has received a byte; the answer is
relayed (``gateway.relay`` for streams); ``Call.record`` journals the usage
record of every attempt before the answer's last byte leaves. Nothing here
blocks the event loop: database reads happen only on a cache miss, through
``gateway.db.run_db``.

Failures are raised as ``DriverError`` (``GatewayError`` for refusals of our
own); the view turns them into OpenAI's envelope (``gateway.errors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone

from gateway import errors, estimate, limits, ratelimit_headers, request_ids, usage
from gateway.auth import KeyInfo
from gateway.budgets.applicable import applying, nanos
from gateway.db import run_db
from gateway.errors import DriverError
from gateway.relay import Framer, OpenAIFramer, StreamEnd, relay
from gateway.routing import Candidate, candidates_for
from gateway.state import state
from providers.drivers import get_driver
from providers.drivers.base import Driver
from providers.drivers.canonical import new_completion_id, now
from providers.drivers.passthrough import RelayedStream
from providers.http import get_client

logger = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S", bound=RelayedStream)

# Endpoints that write no output tokens: their estimate is their input alone.
NO_OUTPUT = frozenset({"embeddings", "rerank"})


class Call:
    """One call through the gateway: who, what, and when it started.

    ``endpoint`` is the usage record's (``chat``, ``messages``, ``responses``,
    ``completions`` or ``embeddings``);
    ``name`` is the model name as the caller wrote it (answers carry it back);
    ``body`` is the validated (canonical) request body, passed to the driver as
    it is; ``source`` is
    the usage record's (``api``, or ``playground`` for the site's playground).
    ``model_pk`` pins the call to that one model: of the name's candidates only
    it is called, so nothing fails over (an admin's Test of one model).
    """

    __slots__ = (
        "body",
        "endpoint",
        "hold",
        "key",
        "model_pk",
        "name",
        "source",
        "started",
        "stream",
        "translated",
    )

    def __init__(
        self,
        key: KeyInfo,
        endpoint: str,
        body: dict[str, Any],
        *,
        started: float | None = None,
        stream: bool = False,
        source: str = "api",
        model_pk: int | None = None,
    ) -> None:
        self.key = key
        self.model_pk = model_pk
        self.source = source
        self.endpoint = endpoint
        self.body = body
        self.translated: Callable[[], dict[str, Any]] | None = None
        self.name: str = body["model"]
        self.started = time.monotonic() if started is None else started
        self.stream = stream
        # The current attempt's admission, settled by its usage record.
        self.hold: limits.Hold | None = None

    def count_as(self, canonical: Callable[[], dict[str, Any]]) -> None:
        """Estimate usage (``gateway.estimate``) from ``canonical()``, a
        translated body whose messages hold the whole prompt (system blocks,
        instructions, stored history), called only if an estimate is needed;
        ``body`` as sent when it does not translate."""
        self.translated = canonical

    def prompt(self) -> dict[str, Any]:
        """The body a usage estimate counts (``count_as``)."""
        if self.translated is not None:
            with contextlib.suppress(DriverError):
                return self.translated()
        return self.body

    async def resolve(self, model_type: str) -> list[Candidate]:
        """The candidates for the name, best first, that this key may call.

        A name that is not visible is answered exactly as one that does not
        exist (404); a visible one outside the key's allow-list is a 403; a
        visible one of the wrong type (an embedding model for chat) is a 400.
        """
        key, name = self.key, self.name
        cached = state()
        cache_key = (key.principal_key, name)
        if cached.unknown_routes.get(cache_key):
            raise errors.model_not_found(name)
        found: list[Candidate] = await cached.routes.get_or_load(
            cache_key, lambda: run_db(candidates_for, key.principal, name), keep=bool
        )
        if not found:
            # Unknown names have their own smaller cache: a flood of them cannot
            # push the known routes out.
            cached.unknown_routes.set(cache_key, True)
            raise errors.model_not_found(name)
        if self.model_pk is not None:
            found = [c for c in found if c.model_pk == self.model_pk]
            if not found:
                raise errors.model_not_found(name)
        if key.allowed_models:
            found = [c for c in found if c.names() & key.allowed_models]
            if not found:
                raise errors.model_not_allowed(name)
        typed = [c for c in found if c.model_type == model_type]
        if not typed:
            raise errors.wrong_model_type(name, model_type)
        return typed

    async def admit(self, candidate: Candidate, weight: int = 1) -> None:
        """Count the call against the key's, model's and provider's requests and
        tokens per minute, and reserve its estimated cost against every budget
        that applies (``gateway.limits``), or 429."""
        # A call without a key (the playground) has no key bucket: its cap is None.
        key = self.key
        ask = limits.Ask(
            requests=[
                (f"key:{key.key_pk}", key.requests_per_minute),
                (f"model:{candidate.model_pk}", candidate.model_rpm),
                (f"provider:{candidate.provider_pk}", candidate.provider_rpm),
            ],
            tokens=[
                (f"key:{key.key_pk}", key.tokens_per_minute),
                (f"model:{candidate.model_pk}", candidate.model_tpm),
                (f"provider:{candidate.provider_pk}", candidate.provider_tpm),
            ],
            budgets=await applying(
                key.organization_id,
                key.user_id,
                key.key_pk,
                candidate.model_pk,
                candidate.provider_pk,
            ),
            weight=weight,
        )
        if ask.budgets or any(cap for _, cap in ask.tokens):
            self._estimate(ask, candidate)
        self.hold, headroom = await limits.check(ask)
        ratelimit_headers.note(headroom)

    def _estimate(self, ask: limits.Ask, candidate: Candidate) -> None:
        """What the call may use, estimated high: its whole body as input
        (``estimate.request_tokens``), and its output cap (or
        ``GATEWAY_BUDGET_OUTPUT_TOKENS``) times ``n`` for generations."""
        tokens_in = estimate.request_tokens(self.body)
        tokens_out = 0
        if self.endpoint not in NO_OUTPUT:
            tokens_out = estimate.output_tokens(
                self.body, settings.GATEWAY_BUDGET_OUTPUT_TOKENS
            )
        ask.tokens_estimate = tokens_in + tokens_out
        if candidate.driver_config is not None:
            ask.ttl = total_timeout(candidate) + 60
        if ask.budgets:
            # Cache writes can cost more than plain input (Anthropic's 1.25x):
            # the prompt is priced at the dearer of the two.
            input_price = max(
                candidate.input_cost, candidate.cache_write_cost or Decimal(0)
            )
            ask.nanos_estimate = nanos(
                usage.cost(
                    tokens_in,
                    tokens_out,
                    input_price,
                    candidate.output_cost,
                    search_units=1 if self.endpoint == "rerank" else 0,
                    search_price=candidate.search_cost,
                )
            )

    def release(self) -> None:
        """Give back an attempt's reservations: it ended without a record."""
        limits.settle(self.hold, 0, 0, timezone.now())
        self.hold = None

    async def first_success(
        self,
        candidates: list[Candidate],
        attempt: Callable[[Candidate], Awaitable[T]],
        weight: Callable[[Candidate], int] | None = None,
    ) -> tuple[Candidate, T]:
        """Try the candidates in order until one answers; raise the last failure.

        Each candidate is admitted first (a 429 ends the call: limits are not
        failed over). Only transient failures (timeouts, 5xx, 429, unreachable)
        move on to the next candidate; every failed attempt is recorded.
        ``weight`` counts a call that fans out into several upstream calls as
        that many against the limits.
        """
        last: DriverError | None = None
        for candidate in candidates:
            await self.admit(candidate, weight(candidate) if weight else 1)
            try:
                return candidate, await attempt(candidate)
            except TimeoutError:
                last = errors.upstream_timeout()
            except DriverError as err:
                last = err
            except asyncio.CancelledError:
                # The caller left while the vendor worked on the request: it
                # bills the prompt at least, so the attempt is recorded (499)
                # with the prompt's estimate, and its reservation settles to it.
                self.record(
                    candidate,
                    499,
                    usage_data={"prompt_tokens": estimate.request_tokens(self.body)},
                    error_type="client_disconnected",
                    estimated=True,
                )
                raise
            except BaseException:
                # A bug: nothing was recorded.
                self.release()
                raise
            self.record(
                candidate,
                last.status,
                usage_data=last.spent,
                error_type=last.code or last.type,
            )
            log_upstream_failure(candidate, last)
            if not last.transient:
                break
        if last is None:  # resolve() never returns an empty list
            raise errors.internal_error()
        if candidate.provider_organization_id != self.key.organization_id:
            # Shared with us (a grant, instance-wide): its owner's configuration
            # (hosts, addresses, key ids) is theirs to see, not ours.
            raise errors.for_another_organization(last)
        raise last

    def record(
        self,
        candidate: Candidate | None,
        status: int,
        *,
        usage_data: dict[str, Any] | None = None,
        error_type: str = "",
        ttfb: float | None = None,
        estimated: bool = False,
    ) -> None:
        """Journal one attempt's usage record (``usage.record``), durably.

        Called before the answer's last byte is sent, so a worker killed after
        answering has journaled what it answered.
        """
        usage_data = usage_data or {}
        tokens_in = usage.bounded(usage_data.get("prompt_tokens"))
        searches = usage.bounded(usage_data.get("search_units"))
        tokens_out = usage.bounded(usage_data.get("completion_tokens"))
        cache_read, cache_write = usage.cache_tokens(usage_data, tokens_in)
        key = self.key
        spent = (
            usage.cost(
                tokens_in,
                tokens_out,
                candidate.input_cost,
                candidate.output_cost,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
                cache_read_price=candidate.cache_read_cost,
                cache_write_price=candidate.cache_write_cost,
                search_units=searches,
                search_price=candidate.search_cost,
            )
            if candidate
            else Decimal(0)
        )
        created_at = timezone.now()
        limits.settle(self.hold, tokens_in + tokens_out, nanos(spent), created_at)
        self.hold = None
        usage.record(
            created_at=created_at,
            organization_id=key.organization_id,
            user_id=key.user_id,
            api_key_id=key.key_pk,
            provider_id=candidate.provider_pk if candidate else None,
            provider_organization_id=(
                candidate.provider_organization_id if candidate else None
            ),
            model_id=candidate.model_pk if candidate else None,
            endpoint=self.endpoint,
            source=self.source,
            model_name=self.name[:255],
            stream=self.stream,
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            cache_read_tokens=cache_read,
            cache_creation_tokens=cache_write,
            search_units=searches,
            cost=spent,
            latency_ms=int((time.monotonic() - self.started) * 1000),
            ttfb_ms=int((ttfb - self.started) * 1000) if ttfb else None,
            status_code=status,
            error_type=error_type[:64],
            usage_estimated=estimated,
            request_id=request_ids.current.get(),
        )


def log_upstream_failure(candidate: Candidate, err: DriverError) -> None:
    """One WARNING line for vendor trouble (no traceback: not our bug).

    A refusal the vendor blames on the request (a 4xx other than 429) is the
    caller's, answered to them and not logged. The message is the one the
    caller receives, already scrubbed of credentials.
    """
    if err.status < 500 and not err.transient:
        return
    message = " ".join(err.message.split())[:200]
    logger.warning(
        "upstream %s/%s failed: %s %s: %s",
        candidate.provider_name,
        candidate.model_id,
        err.status,
        err.code or err.type,
        message,
    )


@dataclass(frozen=True)
class OpenStream:
    """A stream that has produced its first item, and the loop time it must end by.

    The items are canonical chunks, or a vendor's own events (``gateway.native``).
    """

    first: Any
    chunks: AsyncIterator[Any]
    deadline: float


def driver_for(candidate: Candidate) -> Driver:
    """The candidate's driver on the shared pooled client (502 if misconfigured)."""
    if candidate.driver_config is None:
        raise errors.provider_misconfigured(
            candidate.provider_name, candidate.config_error
        )
    return get_driver(candidate.driver_config, get_client())


def total_timeout(candidate: Candidate) -> float:
    """Seconds the whole upstream call may take (``driver_for`` has refused a
    candidate without a configuration already)."""
    assert candidate.driver_config is not None
    return float(candidate.driver_config.timeouts.total)


async def chat(call: Call) -> dict[str, Any]:
    """A whole chat completion, named as the caller named the model, recorded."""
    candidates = await call.resolve("inference")

    async def attempt(candidate: Candidate) -> dict[str, Any]:
        return await send_chat(candidate, call.body)

    candidate, answer = await call.first_success(candidates, attempt)
    return answered(call, candidate, answer)


async def send_chat(candidate: Candidate, body: dict[str, Any]) -> dict[str, Any]:
    """One candidate's whole answer to the canonical chat ``body``."""
    driver = driver_for(candidate)
    async with asyncio.timeout(total_timeout(candidate)):
        return await driver.chat(body, candidate.model_id)


def answered(
    call: Call, candidate: Candidate, answer: dict[str, Any]
) -> dict[str, Any]:
    """A candidate's chat completion, named as the caller named the model, recorded."""
    answer["model"] = call.name
    answer.setdefault("id", new_completion_id())
    answer.setdefault("object", "chat.completion")
    answer.setdefault("created", now())
    usage_data, estimated = estimate.usage_or_estimate(
        answer.get("usage"), call.prompt, estimate.answer_chars(answer)
    )
    call.record(candidate, 200, usage_data=usage_data, estimated=estimated)
    return answer


async def chat_stream(call: Call) -> AsyncIterator[bytes]:
    """The server-sent events of a streamed chat completion (OpenAI's).

    Returns once a candidate has produced its first chunk: a provider that
    fails before sending anything is answered with a real HTTP error (and the
    next candidate gets its turn) instead of a broken 200 stream. The events
    record the stream's outcome before their last one (``gateway.relay``).
    """
    candidates = await call.resolve("inference")
    options = call.body.get("stream_options") or {}
    include_usage = bool(isinstance(options, dict) and options.get("include_usage"))

    async def attempt(candidate: Candidate) -> OpenStream:
        return await open_chat_stream(candidate, call.body)

    candidate, opened = await call.first_success(candidates, attempt)
    return relayed(call, candidate, opened, OpenAIFramer(call.name, include_usage))


async def open_chat_stream(candidate: Candidate, body: dict[str, Any]) -> OpenStream:
    """One candidate's stream for the canonical chat ``body``, at its first chunk."""
    driver = driver_for(candidate)
    deadline = asyncio.get_running_loop().time() + total_timeout(candidate)
    chunks = driver.chat_stream(body, candidate.model_id)
    try:
        async with asyncio.timeout_at(deadline):
            first = await anext(chunks)
    except StopAsyncIteration:
        raise errors.empty_stream() from None
    return OpenStream(first, chunks, deadline)


async def open_raw_stream(
    candidate: Candidate, opener: Callable[[Driver], Awaitable[S]]
) -> tuple[OpenStream, S]:
    """A vendor's own event stream (``opener(driver)``), at its first event.

    An error event in place of the first one is raised here, like an HTTP
    error, so the next candidate can still be tried; the stream is closed on
    any failure before it is handed over.
    """
    driver = driver_for(candidate)
    deadline = asyncio.get_running_loop().time() + total_timeout(candidate)
    async with asyncio.timeout_at(deadline):
        stream = await opener(driver)
    events = aiter(stream)
    try:
        async with asyncio.timeout_at(deadline):
            first = await anext(events)
    except StopAsyncIteration:
        raise errors.empty_stream() from None
    except BaseException:
        await stream.aclose()
        raise
    return OpenStream(first, events, deadline), stream


def relayed(
    call: Call, candidate: Candidate, opened: OpenStream, framer: Framer
) -> AsyncIterator[bytes]:
    """``opened`` relayed through ``framer``, its outcome recorded before the end."""

    def finish(end: StreamEnd) -> None:
        usage_data, estimated = estimate.usage_or_estimate(
            end.usage, call.prompt, end.delivered_chars
        )
        call.record(
            candidate,
            end.status,
            usage_data=usage_data,
            error_type=end.error_type,
            ttfb=end.ttfb,
            estimated=estimated,
        )

    return relay(
        opened.first,
        opened.chunks,
        opened.deadline,
        framer=framer,
        finish=finish,
    )


async def split_routes(
    call: Call,
    accepts: Callable[[Candidate], bool],
    translate: Callable[[], object],
) -> tuple[list[Candidate], set[int]]:
    """The inference candidates that can serve a request, and (by ``id``) which
    of them take it as sent (``accepts``).

    Those always can. The others need ``translate()`` (the request as a
    canonical chat request): when it refuses the request they are left out,
    and with no candidate left the refusal is the answer.
    """
    candidates = await call.resolve("inference")
    natives = {id(c) for c in candidates if accepts(c)}
    if len(natives) < len(candidates):
        try:
            translate()
        except DriverError:
            if not natives:
                raise
            candidates = [c for c in candidates if id(c) in natives]
    return candidates, natives


async def embeddings(call: Call) -> dict[str, Any]:
    """An embeddings answer, named as the caller named the model, recorded."""
    candidates = await call.resolve("embedding")

    async def attempt(candidate: Candidate) -> dict[str, Any]:
        driver = driver_for(candidate)
        async with asyncio.timeout(total_timeout(candidate)):
            return await driver.embed(call.body, candidate.model_id)

    def upstream_calls(candidate: Candidate) -> int:
        # Each upstream call counts: 1,000 inputs on a one-text-per-call vendor
        # are 1,000 calls against the limits, not one.
        if candidate.driver_config is None:
            return 1
        return int(driver_for(candidate).embed_calls(call.body, candidate.model_id))

    candidate, answer = await call.first_success(candidates, attempt, upstream_calls)
    answer["model"] = call.name
    call.record(candidate, 200, usage_data=answer.get("usage"))
    return answer


async def rerank(call: Call, request: dict[str, Any]) -> dict[str, Any]:
    """A rerank model's canonical answer to ``request`` (``drivers/rerank.py``),
    recorded: the tokens as input tokens, the search units as billed."""
    candidates = await call.resolve("rerank")

    async def attempt(candidate: Candidate) -> dict[str, Any]:
        driver = driver_for(candidate)
        async with asyncio.timeout(total_timeout(candidate)):
            return await driver.rerank(request, candidate.model_id)

    candidate, answer = await call.first_success(candidates, attempt)
    used = answer["usage"]
    call.record(
        candidate,
        200,
        usage_data={
            "prompt_tokens": used["total_tokens"],
            "search_units": used["search_units"],
        },
        estimated=bool(answer.get("usage_estimated")),
    )
    return answer
