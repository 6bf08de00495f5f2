"""OpenAI's Responses API on the call path (``POST /v1/responses``).

``ResponsesRequest`` holds the create body as the client sent it, and the
conversation before it: ``previous_response_id`` is always resolved here, from
the organization's stored responses (``gateway.response_store``), never by a
vendor, so a chain works across vendors and a foreign id answers like a missing
one. Per candidate of the model name (``routes``):

- a provider whose ``wire_api`` is ``responses`` (``Driver.accepts_responses_raw``)
  gets the body as sent, only ``model`` and the credentials replaced, with the
  conversation written out as input items and ``store`` false (the gateway keeps
  the state); built-in tools, reasoning items and ``include`` travel. Its
  answer, or its events, come back as the vendor wrote them, renamed to the
  gateway's response id and the caller's model name (``NativeFramer``);
- any other gets the body translated into a canonical chat request
  (``gateway.responses.request``), and its answer turned into a Response
  (``gateway.responses.response``) or, streamed, into Responses events
  (``ResponsesFramer``).

Either way the call runs through ``gateway.call`` (visibility, limits, failover,
usage under the endpoint ``responses``). With ``store`` (OpenAI's default) the
Response and its input items are kept, encrypted, before the last byte leaves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from gateway import call as call_path
from gateway import response_store
from gateway.anthropic.stream import event
from gateway.call import (
    Call,
    OpenStream,
    driver_for,
    open_raw_stream,
    total_timeout,
)
from gateway.db import run_db
from gateway.errors import DriverError, bad_request
from gateway.fields import check_depth, check_model, wrong
from gateway.native import reported
from gateway.relay import CanonicalFramer
from gateway.responses import response as shapes
from gateway.responses.ids import new_id
from gateway.responses.request import input_items, to_canonical
from gateway.responses.stream import EventStream
from gateway.routing import Candidate
from gateway.validation import validate_chat
from providers.drivers.openai.responses_raw import RawResponse, ResponsesUsage
from providers.drivers.passthrough import RawEvent

# The lifecycle events that carry the whole Response.
LIFECYCLE = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "response.queued",
    }
)
FINAL = frozenset({"response.completed", "response.incomplete"})
# Fields naming state kept in the provider's own vendor account.
VENDOR_STATE = ("conversation", "prompt")


class ResponsesRequest:
    """A Responses create body as sent, its conversation, and its translation."""

    def __init__(self, body: dict[str, Any]) -> None:
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        check_model(body.get("model"))
        check_depth(body)
        for name in ("stream", "store"):
            if body.get(name) is not None and not isinstance(body[name], bool):
                raise wrong(name, "a boolean", body[name])
        previous = body.get("previous_response_id")
        if previous is not None and not isinstance(previous, str):
            raise wrong("previous_response_id", "a string", previous)
        self.body = body
        self.stream = bool(body.get("stream"))
        self.store = body.get("store") is not False
        self.previous_id: str | None = previous or None
        self.history: list[dict[str, Any]] = []
        self.id = new_id("resp")
        self.created_at = int(time.time())
        self._canonical: dict[str, Any] | None = None
        self._refusal: DriverError | None = None

    async def load_history(self, organization_id: int) -> None:
        """The stored conversation ``previous_response_id`` continues (400 if none)."""
        if self.previous_id:
            self.history = await run_db(
                response_store.history, organization_id, self.previous_id
            )

    def canonical(self) -> dict[str, Any]:
        """The canonical chat request; the 400 refusing it, every time it is asked."""
        if self._refusal is not None:
            raise self._refusal
        if self._canonical is None:
            try:
                canonical = to_canonical(self.body, self.history)
                validate_chat(canonical)
                self._canonical = canonical
            except DriverError as err:
                self._refusal = err
                raise
        return self._canonical

    def upstream_body(self) -> dict[str, Any]:
        """The body for a provider that speaks Responses: as sent, the
        conversation written out, nothing stored upstream.

        Items keep their ids (OpenAI requires one on a reasoning or output
        message item); reasoning items without ``encrypted_content`` are left
        out, as a vendor that stored nothing cannot look them up.
        """
        body = {k: v for k, v in self.body.items() if k != "previous_response_id"}
        if self.history:
            given = body.get("input")
            current = (
                [{"role": "user", "content": given}]
                if isinstance(given, str)
                else list(given or [])
            )
            past = [
                item
                for item in self.history
                if item.get("type") != "reasoning" or item.get("encrypted_content")
            ]
            body["input"] = past + current
        body["store"] = False
        return body

    def named(self, response: dict[str, Any], model: str) -> dict[str, Any]:
        """A vendor's Response under this request's id, model name and state."""
        response["id"] = self.id
        response["model"] = model
        response["previous_response_id"] = self.previous_id
        response["store"] = self.store
        return response

    async def keep(self, call: Call, response: dict[str, Any]) -> None:
        """Store ``response`` and the input items, when the request asks to."""
        if not self.store:
            return
        key = call.key
        await run_db(
            response_store.save,
            key.organization_id,
            key.key_pk,
            key.user_id,
            response,
            self.listed_input(),
            self.previous_id,
        )

    def listed_input(self) -> list[dict[str, Any]]:
        """The input items to store. A body only the vendor checked (the
        pass-through) may hold items the listing cannot read: they are kept as
        sent, each with an id, rather than failing an answered call."""
        try:
            return input_items(self.body)
        except (DriverError, KeyError, TypeError, ValueError, AttributeError):
            given = self.body.get("input")
            items = given if isinstance(given, list) else [given]
            return [
                {"id": new_id("msg"), **item}
                if isinstance(item, dict)
                else {
                    "id": new_id("msg"),
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": str(item)}],
                }
                for item in items
            ]


def accepts(candidate: Candidate) -> bool:
    """Whether ``candidate``'s provider takes the Responses body as sent."""
    if candidate.driver_config is None:
        return False
    return driver_for(candidate).accepts_responses_raw(candidate.model_id)


async def routes(
    call: Call, request: ResponsesRequest
) -> tuple[list[Candidate], set[int]]:
    """The candidates that can serve ``request``, and which take it as sent
    (as ``gateway.messages.routes``: a refused translation leaves out only the
    candidates that need it).

    A request naming vendor-side state (``VENDOR_STATE``: a conversation
    object, a stored prompt) is sent as is only to a provider of the caller's
    own organization: on a shared provider that state lives in the owner's
    vendor account, where any tenant knowing an id could read or extend it.
    """
    own = call.key.organization_id
    shared_state = any(request.body.get(name) is not None for name in VENDOR_STATE)

    def takes_as_sent(candidate: Candidate) -> bool:
        if shared_state and candidate.provider_organization_id != own:
            return False
        return accepts(candidate)

    return await call_path.split_routes(call, takes_as_sent, request.canonical)


async def create(call: Call, request: ResponsesRequest) -> dict[str, Any]:
    """A whole Response: the vendor's own, or made from the canonical answer."""
    await request.load_history(call.key.organization_id)
    candidates, natives = await routes(call, request)
    call.count_as(request.canonical)

    async def attempt(candidate: Candidate) -> RawResponse | dict[str, Any]:
        if id(candidate) in natives:
            driver = driver_for(candidate)
            async with asyncio.timeout(total_timeout(candidate)):
                return await driver.responses_raw(
                    request.upstream_body(), candidate.model_id
                )
        return await call_path.send_chat(candidate, request.canonical())

    candidate, answer = await call.first_success(candidates, attempt)
    if isinstance(answer, RawResponse):
        response = request.named(answer.body, call.name)
        call.record(candidate, 200, usage_data=reported(answer.usage))
    else:
        completion = call_path.answered(call, candidate, answer)
        response = shapes.from_canonical(
            completion,
            request.body,
            response_id=request.id,
            created_at=request.created_at,
            model=call.name,
            completed_at=int(time.time()),
        )
        response["previous_response_id"] = request.previous_id
    await request.keep(call, response)
    return response


async def create_stream(call: Call, request: ResponsesRequest) -> AsyncIterator[bytes]:
    """Responses events: the vendor's own, or made from the canonical chunks."""
    await request.load_history(call.key.organization_id)
    candidates, natives = await routes(call, request)
    call.count_as(request.canonical)

    async def attempt(candidate: Candidate) -> tuple[OpenStream, ResponsesUsage | None]:
        if id(candidate) in natives:
            return await open_native(candidate, request.upstream_body())
        opened = await call_path.open_chat_stream(candidate, request.canonical())
        return opened, None

    candidate, (opened, usage) = await call.first_success(candidates, attempt)
    framer: ResponsesFramer | NativeFramer
    if usage is None:
        skeleton = shapes.skeleton(
            request.body,
            response_id=request.id,
            created_at=request.created_at,
            model=call.name,
        )
        skeleton["previous_response_id"] = request.previous_id
        framer = ResponsesFramer(EventStream(skeleton))
    else:
        framer = NativeFramer(request, call.name, usage)
    return kept(
        call_path.relayed(call, candidate, opened, framer), framer, call, request
    )


async def open_native(
    candidate: Candidate, body: dict[str, Any]
) -> tuple[OpenStream, ResponsesUsage]:
    """The provider's Responses stream for ``body``, at its first event."""
    opened, stream = await open_raw_stream(
        candidate,
        lambda driver: driver.responses_raw(body, candidate.model_id, stream=True),
    )
    return opened, stream.usage


async def kept(
    events: AsyncIterator[bytes],
    framer: ResponsesFramer | NativeFramer,
    call: Call,
    request: ResponsesRequest,
) -> AsyncIterator[bytes]:
    """``events``, the final Response stored before the event that carries it
    leaves (a client that continues the conversation at once finds it)."""
    stored = False
    async for chunk in events:
        if not stored and framer.final is not None:
            stored = True
            await request.keep(call, framer.final)
        yield chunk


class ResponsesFramer(CanonicalFramer):
    """Frames canonical chunks as Responses events (``gateway.relay``)."""

    def __init__(self, events: EventStream) -> None:
        super().__init__()
        self.events = events
        self.final: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        self.account(chunk)
        return self.events.feed(chunk)

    def done(self) -> list[bytes]:
        out = self.events.finish(int(time.time()))
        self.final = self.events.response
        return out

    def error(self, err: DriverError) -> bytes:
        return b"".join(self.events.error(err.code or err.type, err.message))

    def ping(self) -> bytes:
        return b": keep-alive\n\n"


class NativeFramer:
    """Relays a provider's Responses events as they came (``gateway.relay``).

    The lifecycle events (which carry the whole Response) are re-encoded under
    the gateway's response id and the caller's model name; every other event is
    the vendor's JSON text, byte for byte.
    """

    ping_interval: float | None = None

    def __init__(
        self, request: ResponsesRequest, model: str, usage: ResponsesUsage
    ) -> None:
        self.request = request
        self.model = model
        self.raw_usage = usage
        self.usage: dict[str, Any] | None = None
        self.delivered = 0
        self.sequence = -1
        self.final: dict[str, Any] | None = None
        self.closing: list[bytes] = []

    def feed(self, item: RawEvent) -> list[bytes]:
        data = item.data
        kind = str(data.get("type") or item.event)
        number = data.get("sequence_number")
        if isinstance(number, int):
            self.sequence = max(self.sequence, number)
        if kind.endswith(".delta") and isinstance(data.get("delta"), str):
            self.delivered += len(data["delta"])
        if kind in LIFECYCLE and isinstance(data.get("response"), dict):
            response = self.request.named(dict(data["response"]), self.model)
            framed = event(item.event, {**data, "response": response})
            if kind in FINAL:
                # Held back for done(): the call is recorded (and the
                # response stored) before the event carrying it leaves.
                self.usage = reported(self.raw_usage)
                self.final = response
                self.closing.append(framed)
                return []
            return [framed]
        return [item.sse()]

    def done(self) -> list[bytes]:
        return self.closing

    def error(self, err: DriverError) -> bytes:
        self.sequence += 1
        code = err.code or err.type
        body = {"type": err.type, "code": code, "message": err.message, "param": None}
        return event(
            "error",
            {
                "type": "error",
                "sequence_number": self.sequence,
                "code": code,
                "message": err.message,
                "param": None,
                "error": body,
            },
        )

    def ping(self) -> bytes:
        return b": keep-alive\n\n"
