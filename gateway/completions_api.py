"""OpenAI's legacy Completions API on the call path (``POST /v1/completions``).

``CompletionsRequest`` holds the body as the client sent it. Per candidate of
the model name (``call.split_routes``):

- a provider that serves ``/completions`` itself (``Driver.accepts_completions_raw``:
  OpenAI, Azure OpenAI, the OpenAI-compatible servers) gets the body as sent,
  only ``model`` replaced; its answer, or its chunks, come back as the vendor
  wrote them, ``model`` renamed to the name the caller used (``RawFramer``). A
  stream asks the vendor for its usage chunk whatever the caller asked
  (``stream_options.include_usage``, as chat does), and a caller that did not
  ask gets neither that chunk nor the ``usage: null`` keys;
- any other gets one canonical chat request per prompt
  (``gateway.completions.request``), sent concurrently to the same candidate;
  the chat answers come back as one ``text_completion`` whose choices are
  numbered as OpenAI numbers them and whose usage is their sum, or, streamed,
  as completion chunks (``CompletionFramer``), the prompts' streams one after
  the other. Each prompt counts as one call against the rate limits.

Either way the call runs through ``gateway.call`` (visibility, limits,
failover before the first byte, the relay's guarantees, usage under the
endpoint ``completions``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from gateway import call as call_path
from gateway import estimate
from gateway.call import Call, OpenStream, driver_for, open_raw_stream, total_timeout
from gateway.completions import request as shapes_in
from gateway.completions import response as shapes_out
from gateway.completions.stream import ChunkStream, sse
from gateway.errors import DriverError
from gateway.relay import CanonicalFramer, OpenAIEnding
from gateway.routing import Candidate
from gateway.validation import validate_chat
from providers.drivers.openai.completions_raw import DONE as RAW_DONE
from providers.drivers.openai.completions_raw import RawCompletion, canonical_usage
from providers.drivers.passthrough import RawEvent

T = TypeVar("T")


class CompletionsRequest:
    """A Completions body as sent, and its translation, made once when needed."""

    def __init__(self, body: Any) -> None:
        shapes_in.check_envelope(body)
        self.body: dict[str, Any] = body
        self.stream = bool(body.get("stream"))
        self.include_usage = shapes_in.include_usage(body)
        self._canonical: list[dict[str, Any]] | None = None
        self._refusal: DriverError | None = None

    def canonical(self) -> list[dict[str, Any]]:
        """One checked chat request per prompt; the 400 refusing them, every time."""
        if self._refusal is not None:
            raise self._refusal
        if self._canonical is None:
            try:
                requests = shapes_in.to_canonical(self.body)
                for request in requests:
                    validate_chat(request)
                self._canonical = requests
            except DriverError as err:
                self._refusal = err
                raise
        return self._canonical

    @property
    def n(self) -> int:
        return int(self.body.get("n") or 1)

    def estimate_body(self) -> dict[str, Any]:
        return shapes_in.estimate_body(self.body)


def accepts(candidate: Candidate) -> bool:
    """Whether ``candidate``'s provider serves the completions endpoint itself."""
    if candidate.driver_config is None:
        return False  # its attempt answers the misconfiguration
    return driver_for(candidate).accepts_completions_raw(candidate.model_id)


async def routes(
    call: Call, request: CompletionsRequest
) -> tuple[list[Candidate], set[int]]:
    return await call_path.split_routes(call, accepts, request.canonical)


def weight(
    request: CompletionsRequest, natives: set[int]
) -> Callable[[Candidate], int]:
    """Upstream calls per candidate: one, or one per prompt when translated."""

    def calls(candidate: Candidate) -> int:
        if id(candidate) in natives:
            return 1
        return len(request.canonical())

    return calls


async def create(call: Call, request: CompletionsRequest) -> dict[str, Any]:
    """A whole ``text_completion``: the vendor's own, or made from chat answers."""
    candidates, natives = await routes(call, request)
    call.count_as(request.estimate_body)

    async def attempt(candidate: Candidate) -> RawCompletion | list[dict[str, Any]]:
        if id(candidate) in natives:
            driver = driver_for(candidate)
            async with asyncio.timeout(total_timeout(candidate)):
                return await driver.completions_raw(request.body, candidate.model_id)
        answered: list[Any] = []

        async def spent(answer: dict[str, Any]) -> None:
            answered.append(answer.get("usage"))

        try:
            return await all_of(
                [call_path.send_chat(candidate, chat) for chat in request.canonical()],
                close=spent,
            )
        except DriverError as err:
            # The prompts answered before the failure were billed all the same.
            err.spent = shapes_out.sum_usage(answered)
            raise

    candidate, answer = await call.first_success(
        candidates, attempt, weight(request, natives)
    )
    if isinstance(answer, RawCompletion):
        answer.body["model"] = call.name
        usage_data, estimated = estimate.usage_or_estimate(
            answer.usage, call.prompt, raw_chars(answer.body.get("choices"))
        )
        call.record(candidate, 200, usage_data=usage_data, estimated=estimated)
        return answer.body
    merged = shapes_out.merge(answer, request.n)
    return shapes_out.from_canonical(
        call_path.answered(call, candidate, merged), call.name
    )


async def create_stream(
    call: Call, request: CompletionsRequest
) -> AsyncIterator[bytes]:
    """Completion chunks: the vendor's own, or made from the chat chunks."""
    candidates, natives = await routes(call, request)
    call.count_as(request.estimate_body)

    async def attempt(candidate: Candidate) -> tuple[OpenStream, bool]:
        if id(candidate) in natives:
            opened, _ = await open_raw_stream(
                candidate,
                lambda driver: driver.completions_raw(
                    request.body, candidate.model_id, stream=True
                ),
            )
            return opened, True
        streams = await all_of(
            [
                call_path.open_chat_stream(candidate, chat)
                for chat in request.canonical()
            ],
            close=close_stream,
        )
        return one_after_another(streams, request.n), False

    candidate, (opened, raw) = await call.first_success(
        candidates, attempt, weight(request, natives)
    )
    framer: RawFramer | CompletionFramer = (
        RawFramer(call.name, request.include_usage)
        if raw
        else CompletionFramer(call.name, request.include_usage)
    )
    return call_path.relayed(call, candidate, opened, framer)


async def all_of(
    calls: list[Awaitable[T]], close: Callable[[T], Awaitable[None]] | None = None
) -> list[T]:
    """Every call's result, run concurrently. When one fails, the others are
    let finish (the vendor has them and bills them: ``close`` sees each that
    succeeded, to count or close it) and the first failure is raised; when the
    caller goes away, they are cancelled."""
    if len(calls) == 1:
        return [await calls[0]]
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        await asyncio.wait(tasks)
        for task in tasks:
            error = task.exception() if task.done() and not task.cancelled() else None
            if error is not None:
                raise error
        return [task.result() for task in tasks]
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if close is not None:
            for task in tasks:
                if not task.cancelled() and task.exception() is None:
                    await close(task.result())
        raise


async def close_stream(opened: OpenStream) -> None:
    aclose = getattr(opened.chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def one_after_another(streams: list[OpenStream], n: int) -> OpenStream:
    """The prompts' opened chat streams as one: each relayed in turn, choices
    renumbered (prompt ``i``'s choice ``j`` is ``i * n + j``), their usage
    chunks summed into one at the end."""
    if len(streams) == 1:
        return streams[0]

    def numbered(chunk: dict[str, Any], i: int) -> dict[str, Any]:
        choices = [
            {**c, "index": i * n + int(c.get("index") or 0)}
            for c in chunk.get("choices") or ()
            if isinstance(c, dict)
        ]
        return {**chunk, "choices": choices}

    async def chunks() -> AsyncIterator[dict[str, Any]]:
        usages: list[Any] = []
        try:
            for i, opened in enumerate(streams):
                async for chunk in _whole(opened):
                    if chunk.get("usage") and not chunk.get("choices"):
                        usages.append(chunk["usage"])
                        continue
                    yield numbered(chunk, i)
            usage = shapes_out.sum_usage(usages)
            if usage is not None:
                yield {"choices": [], "usage": usage}
        finally:
            for opened in streams:
                await close_stream(opened)

    # The relay starts from a first item: here one that frames to nothing.
    return OpenStream(
        {"choices": []}, chunks(), min(opened.deadline for opened in streams)
    )


async def _whole(opened: OpenStream) -> AsyncIterator[dict[str, Any]]:
    yield opened.first
    async for chunk in opened.chunks:
        yield chunk


def raw_chars(choices: Any) -> int:
    """Characters of the text a vendor's completion choices deliver."""
    return sum(
        len(choice["text"])
        for choice in (choices if isinstance(choices, list) else ())
        if isinstance(choice, dict) and isinstance(choice.get("text"), str)
    )


class RawFramer(OpenAIEnding):
    """Relays a vendor's completion chunks (``gateway.relay``), ``model`` renamed.

    The usage chunk the gateway asked for, and the ``usage`` keys of the
    others, reach only a caller that asked for them itself.
    """

    ping_interval: float | None = None

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.usage: dict[str, Any] | None = None
        self.delivered = 0

    def feed(self, event: RawEvent) -> list[bytes]:
        if event is RAW_DONE:
            return []  # done() sends it, once the call is recorded
        data = dict(event.data)
        self.delivered += raw_chars(data.get("choices"))
        usage = canonical_usage(data.get("usage"))
        if usage is not None:
            self.usage = usage
            if not data.get("choices") and not self.include_usage:
                return []
        if not self.include_usage:
            data.pop("usage", None)
        data["model"] = self.model
        return [sse(data)]


class CompletionFramer(OpenAIEnding, CanonicalFramer):
    """Frames canonical chat chunks as completion chunks (``gateway.relay``)."""

    def __init__(self, model: str, include_usage: bool) -> None:
        super().__init__()
        self.chunks = ChunkStream(model, include_usage)

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        self.account(chunk)
        return self.chunks.feed(chunk)
