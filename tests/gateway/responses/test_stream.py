"""Canonical chunks as Responses SSE events, checked by openai-python (pure)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from gateway.responses.response import skeleton
from gateway.responses.stream import EventStream

BODY = {"model": "gpt-x", "input": "Hi"}
ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, usage: Any = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"object": "chat.completion.chunk", "choices": []}
    if delta is not None or finish is not None:
        out["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    if usage is not None:
        out["usage"] = usage
    return out


def tool(
    k: int, call_id: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": k, "function": {"arguments": args}}
    if call_id:
        call.update(id=call_id, type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


TEXT = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Hel"}),
    chunk({"content": "lo"}),
    chunk(finish="stop"),
    chunk(usage=USAGE),
]
TOOLS = [
    chunk({"content": "Checking."}),
    chunk(tool(0, "call_a", "get_weather")),
    chunk(tool(0, args='{"city":')),
    chunk(tool(0, args='"Paris"}')),
    chunk(tool(1, "call_b", "get_time", "{}")),
    chunk(finish="tool_calls"),
    chunk(usage=USAGE),
]


def run(
    chunks: list[dict[str, Any]], *, error: tuple[str, str] | None = None
) -> tuple[EventStream, bytes]:
    stream = EventStream(
        skeleton(
            BODY,
            response_id="resp_" + "b" * 48,
            created_at=1700000000,
            model="my-model",
        )
    )
    out = stream.start()
    for c in chunks:
        out.extend(stream.feed(c))
    out.extend(stream.error(*error) if error else stream.finish(1700000001))
    return stream, b"".join(out)


def events(raw: bytes) -> list[dict[str, Any]]:
    """Parse the SSE bytes; every event's name is its data's type, and it validates."""
    out = []
    for block in raw.decode().split("\n\n")[:-1]:
        name, data = block.split("\n")
        payload = json.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        ADAPTER.validate_python(payload)
        out.append(payload)
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    return out


def test_a_text_answer_in_openai_order() -> None:
    stream, raw = run(TEXT)
    got = events(raw)
    assert [e["type"] for e in got] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert (
        got[0]["response"]["status"] == "in_progress"
        and got[0]["response"]["output"] == []
    )
    item_id = got[2]["item"]["id"]
    assert got[2] == {
        "type": "response.output_item.added",
        "sequence_number": 2,
        "output_index": 0,
        "item": {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "content": [],
            "role": "assistant",
        },
    }
    assert got[3] == {
        "type": "response.content_part.added",
        "sequence_number": 3,
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
    }
    assert got[4] == {
        "type": "response.output_text.delta",
        "sequence_number": 4,
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
        "logprobs": [],
    }
    assert got[6]["text"] == "Hello"
    assert got[8]["item"]["status"] == "completed"
    final = got[-1]["response"]
    assert final == stream.response
    assert final["status"] == "completed" and final["completed_at"] == 1700000001
    assert final["usage"]["total_tokens"] == 8
    assert Response.model_validate(final).output_text == "Hello"


# The order OpenAI documents for text, then two function calls.
TOOL_ORDER = [
    ("response.created", None),
    ("response.in_progress", None),
    ("response.output_item.added", 0),
    ("response.content_part.added", 0),
    ("response.output_text.delta", 0),
    ("response.output_text.done", 0),
    ("response.content_part.done", 0),
    ("response.output_item.done", 0),
    ("response.output_item.added", 1),
    ("response.function_call_arguments.delta", 1),
    ("response.function_call_arguments.delta", 1),
    ("response.function_call_arguments.done", 1),
    ("response.output_item.done", 1),
    ("response.output_item.added", 2),
    ("response.function_call_arguments.delta", 2),
    ("response.function_call_arguments.done", 2),
    ("response.output_item.done", 2),
    ("response.completed", None),
]


def test_text_then_two_function_calls_in_openai_order() -> None:
    stream, raw = run(TOOLS)
    got = events(raw)
    assert [(e["type"], e.get("output_index")) for e in got] == TOOL_ORDER
    added = got[8]["item"]
    assert added["type"] == "function_call" and added["status"] == "in_progress"
    assert (added["call_id"], added["name"], added["arguments"]) == (
        "call_a",
        "get_weather",
        "",
    )
    assert got[11]["arguments"] == '{"city":"Paris"}'
    assert got[11]["item_id"] == added["id"]
    done = got[12]["item"]
    assert done == {**added, "status": "completed", "arguments": '{"city":"Paris"}'}
    calls = [
        item for item in stream.response["output"] if item["type"] == "function_call"
    ]
    assert [(c["call_id"], c["arguments"]) for c in calls] == [
        ("call_a", '{"city":"Paris"}'),
        ("call_b", "{}"),
    ]


def test_reasoning_and_refusal_parts() -> None:
    _, raw = run(
        [
            chunk({"reasoning_content": "Hmm"}),
            chunk({"content": "A"}),
            chunk({"refusal": "No"}),
            chunk(finish="stop"),
        ]
    )
    got = events(raw)
    assert [e["type"] for e in got][2:-1] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.content_part.added",
        "response.refusal.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.refusal.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    assert got[2]["item"]["type"] == "reasoning"
    assert got[-2]["item"]["content"] == [
        {"type": "output_text", "annotations": [], "logprobs": [], "text": "A"},
        {"type": "refusal", "refusal": "No"},
    ]


def test_a_cut_answer_ends_incomplete_and_an_empty_one_completes() -> None:
    stream, raw = run([chunk({"content": "Par"}), chunk(finish="length")])
    got = events(raw)
    assert got[-1]["type"] == "response.incomplete"
    assert stream.response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert got[-2]["item"]["status"] == "incomplete"
    stream, raw = run([chunk(usage=USAGE)])
    assert [e["type"] for e in events(raw)] == [
        "response.created",
        "response.in_progress",
        "response.completed",
    ]
    assert (
        stream.response["output"] == []
        and stream.response["usage"]["input_tokens"] == 5
    )


def test_a_broken_stream_ends_failed_then_error() -> None:
    stream, raw = run(
        [chunk({"content": "Hel"})], error=("upstream_error", "The provider broke.")
    )
    got = events(raw)
    assert [e["type"] for e in got][-2:] == ["response.failed", "error"]
    failed = got[-2]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "The provider broke."}
    assert failed["output"][0]["status"] == "incomplete"
    assert (
        got[-1]["code"] == "upstream_error"
        and got[-1]["message"] == "The provider broke."
    )
    assert stream.response == failed
    assert stream.feed(chunk({"content": "late"})) == [] and stream.finish() == []
    _, raw = run([], error=("rate_limit_exceeded", "Slow down."))
    assert events(raw)[-2]["response"]["error"]["code"] == "rate_limit_exceeded"


def sdk(raw: bytes) -> openai.OpenAI:
    """openai-python reading ``raw`` as the body of POST /v1/responses.

    The transport only serves the bytes; the parsing is the SDK's own (it is
    built on httpx2).
    """

    def answer(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/responses"
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, content=raw
        )

    transport = httpx2.MockTransport(answer)
    return openai.OpenAI(
        api_key="k",
        base_url="http://gateway.test/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )


def test_the_sdk_accumulates_text_and_function_calls() -> None:
    _, raw = run(TOOLS)
    client = sdk(raw)
    with client.responses.stream(model="my-model", input="Hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Checking."]
    assert final.output_text == "Checking."
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("call_a", "get_weather", '{"city":"Paris"}'),
        ("call_b", "get_time", "{}"),
    ]
    assert final.usage is not None and final.usage.total_tokens == 8


def test_the_sdk_raises_on_a_broken_stream() -> None:
    _, raw = run(
        [chunk({"content": "Hel"})], error=("upstream_error", "The provider broke.")
    )
    seen = []
    with (
        pytest.raises(openai.APIError, match=r"The provider broke\."),
        sdk(raw).responses.stream(model="m", input="Hi") as stream,
    ):
        for event in stream:
            seen.append(event.type)
    assert seen[-1] == "response.failed"
