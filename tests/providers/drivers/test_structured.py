"""structured: the JSON-mode and forced-tool emulation, pure vectors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from providers.drivers.canonical import (
    assistant_message,
    chat_completion,
    choice,
    chunk,
    role_chunk,
    tool_call,
    tool_call_arguments,
    tool_call_start,
    usage_chunk,
)
from providers.drivers.errors import DriverError
from providers.drivers.structured import PERMISSIVE_OBJECT, Native, Plan, plan
from tests.providers.drivers.vectors import TIME_TOOL, WEATHER_TOOL, user

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}
JSON_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "City", "schema": SCHEMA, "strict": True},
}
NO_JSON = Native(json_object=False, json_schema=False)
NOTHING = Native(json_object=False, json_schema=False, tool_any=False, tool_named=False)
ONLY_JSON = Native(tool_any=False, tool_named=False)
USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


def request(**extra: Any) -> dict[str, Any]:
    return {"messages": [user("hi")], **extra}


def named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def answer(text: str = "", *calls: tuple[str, str], finish: str = "stop") -> Any:
    tool_calls = [
        tool_call(f"call_{n}", name, args) for n, (name, args) in enumerate(calls)
    ]
    message = assistant_message(text, tool_calls)
    return chat_completion([choice(message, finish)], USAGE, "m")


def run(p: Plan, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async def source() -> AsyncIterator[dict[str, Any]]:
        for item in chunks:
            yield item

    async def collect() -> list[dict[str, Any]]:
        return [c async for c in p.stream(source())]

    return asyncio.run(collect())


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )


def finish_of(chunks: list[dict[str, Any]]) -> str | None:
    reasons = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    return [r for r in reasons if r][-1]


def calls_of(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        entry
        for c in chunks
        if c["choices"]
        for entry in c["choices"][0]["delta"].get("tool_calls") or []
    ]


# -- the request rewrite -------------------------------------------------------------


def test_native_vendors_get_the_request_unchanged() -> None:
    sent = request(response_format=JSON_SCHEMA, tools=[WEATHER_TOOL])
    p = plan(sent, Native(), "v")
    assert p.request == sent and not p.active
    done = answer('{"name": "x"}')
    assert p.answer(done) is done


def test_json_schema_becomes_a_forced_synthetic_tool() -> None:
    p = plan(request(response_format=JSON_SCHEMA), NO_JSON, "v")
    assert "response_format" not in p.request
    (tool,) = p.request["tools"]
    assert tool["function"]["name"] == "City"
    assert tool["function"]["parameters"] == SCHEMA
    assert tool["function"]["strict"] is True
    assert p.request["tool_choice"] == named("City")


def test_json_object_gets_a_permissive_object_schema() -> None:
    p = plan(request(response_format={"type": "json_object"}), NO_JSON, "v")
    (tool,) = p.request["tools"]
    assert tool["function"]["name"] == "json_response"
    assert tool["function"]["parameters"] == PERMISSIVE_OBJECT


def test_the_callers_tools_stay_callable_beside_the_synthetic_one() -> None:
    sent = request(response_format=JSON_SCHEMA, tools=[WEATHER_TOOL])
    p = plan(sent, NO_JSON, "v")
    names = [t["function"]["name"] for t in p.request["tools"]]
    assert names == ["get_weather", "City"]
    assert p.request["tool_choice"] == "required"
    # tool_choice none: the caller's tools stay declared but only ours is forced.
    p = plan({**sent, "tool_choice": "none"}, NO_JSON, "v")
    assert p.request["tool_choice"] == named("City")
    assert sent["tools"] == [WEATHER_TOOL]  # the caller's request is not mutated


def test_a_forced_call_makes_the_json_mode_moot() -> None:
    sent = request(
        response_format=JSON_SCHEMA, tools=[WEATHER_TOOL], tool_choice="required"
    )
    p = plan(sent, NO_JSON, "v")
    assert "response_format" not in p.request
    assert p.request["tools"] == [WEATHER_TOOL] and not p.active


def test_the_synthetic_name_never_collides_with_a_callers_tool() -> None:
    tool = {"type": "function", "function": {"name": "City", "parameters": {}}}
    p = plan(request(response_format=JSON_SCHEMA, tools=[tool]), NO_JSON, "v")
    assert [t["function"]["name"] for t in p.request["tools"]] == ["City", "City_"]


def test_a_named_choice_is_required_over_that_tool_alone_where_any_exists() -> None:
    sent = request(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=named("get_time"))
    p = plan(sent, Native(tool_named=False), "v")
    assert [t["function"]["name"] for t in p.request["tools"]] == ["get_time"]
    assert p.request["tool_choice"] == "required"


def test_a_forced_choice_becomes_a_call_object_format_where_json_is_native() -> None:
    sent = request(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required")
    p = plan(sent, ONLY_JSON, "v")
    fmt = p.request["response_format"]["json_schema"]["schema"]
    assert [o["properties"]["name"] for o in fmt["anyOf"]] == [
        {"const": "get_weather"},
        {"const": "get_time"},
    ]
    assert (
        fmt["anyOf"][0]["properties"]["arguments"]
        == WEATHER_TOOL["function"]["parameters"]
    )
    assert p.request["tool_choice"] == "auto"
    assert p.request["messages"][0]["role"] == "system"


def test_a_forced_choice_elsewhere_is_an_instruction_and_a_check() -> None:
    sent = request(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=named("get_time"))
    p = plan(sent, NOTHING, "v")
    assert [t["function"]["name"] for t in p.request["tools"]] == ["get_time"]
    assert p.request["tool_choice"] == "auto"
    assert "get_time" in p.request["messages"][0]["content"]


def test_a_choice_naming_no_offered_tool_is_a_400() -> None:
    with pytest.raises(DriverError) as refused:
        plan(request(tools=[WEATHER_TOOL], tool_choice=named("nope")), NOTHING, "v")
    assert refused.value.status == 400 and refused.value.param == "tool_choice"


# -- whole answers ---------------------------------------------------------------


def test_the_synthetic_call_becomes_the_content() -> None:
    p = plan(request(response_format=JSON_SCHEMA), NO_JSON, "v")
    done = p.answer(answer("Sure.", ("City", '{"name": "Paris"}'), finish="tool_calls"))
    item = done["choices"][0]
    assert item["message"]["content"] == '{"name": "Paris"}'
    assert "tool_calls" not in item["message"]
    assert item["finish_reason"] == "stop"


def test_a_real_call_beside_json_mode_stays_a_tool_call() -> None:
    p = plan(request(response_format=JSON_SCHEMA, tools=[WEATHER_TOOL]), NO_JSON, "v")
    done = p.answer(answer("", ("get_weather", '{"city": "P"}'), finish="tool_calls"))
    item = done["choices"][0]
    assert [c["function"]["name"] for c in item["message"]["tool_calls"]] == [
        "get_weather"
    ]
    assert item["finish_reason"] == "tool_calls"


def test_json_mode_without_the_call_is_a_502() -> None:
    p = plan(request(response_format=JSON_SCHEMA), NO_JSON, "acme")
    with pytest.raises(DriverError) as failed:
        p.answer(answer("no JSON here"))
    assert failed.value.status == 502
    assert failed.value.message.startswith("acme did not comply")


def test_a_call_object_becomes_the_tool_call() -> None:
    p = plan(
        request(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required"), ONLY_JSON, "v"
    )
    text = json.dumps({"name": "get_time", "arguments": {"zone": "UTC"}})
    item = p.answer(answer(text))["choices"][0]
    (call,) = item["message"]["tool_calls"]
    assert call["function"] == {"name": "get_time", "arguments": '{"zone": "UTC"}'}
    assert item["message"]["content"] is None
    assert item["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    "text",
    ["not json", '{"name": "get_weather", "arguments": {}}', '{"name": "get_time"}'],
)
def test_a_call_object_that_is_not_a_call_to_an_allowed_tool_is_a_502(
    text: str,
) -> None:
    sent = request(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=named("get_time"))
    p = plan(sent, ONLY_JSON, "v")
    with pytest.raises(DriverError) as failed:
        p.answer(answer(text))
    assert failed.value.status == 502


def test_an_instructed_forced_call_is_checked() -> None:
    sent = request(tools=[WEATHER_TOOL], tool_choice="required")
    p = plan(sent, NOTHING, "v")
    item = p.answer(answer("Ok.", ("get_weather", "{}")))["choices"][0]
    assert item["finish_reason"] == "tool_calls"
    with pytest.raises(DriverError):
        plan(sent, NOTHING, "v").answer(answer("I'd rather chat."))


def test_json_mode_on_a_vendor_without_any_forcing_stacks_both() -> None:
    p = plan(request(response_format=JSON_SCHEMA), NOTHING, "v")
    assert p.request["tool_choice"] == "auto" and p.json_tool == "City"
    item = p.answer(answer("Hm.", ("City", '{"name": "P"}')))["choices"][0]
    assert item["message"]["content"] == '{"name": "P"}'
    assert item["finish_reason"] == "stop"


# -- streams ---------------------------------------------------------------------


def tool_stream(
    name: str, fragments: list[str], text: str = ""
) -> list[dict[str, Any]]:
    out = [role_chunk()]
    if text:
        out.append(chunk({"content": text}))
    out.append(chunk({"tool_calls": [tool_call_start(0, "call_1", name)]}))
    out += [chunk({"tool_calls": [tool_call_arguments(0, f)]}) for f in fragments]
    return [*out, chunk({}, "tool_calls"), usage_chunk(USAGE)]


def text_stream(*pieces: str, finish: str = "stop") -> list[dict[str, Any]]:
    body = [chunk({"content": p}) for p in pieces]
    return [role_chunk(), *body, chunk({}, finish), usage_chunk(USAGE)]


def test_streamed_synthetic_arguments_become_content_deltas() -> None:
    p = plan(request(response_format=JSON_SCHEMA), NO_JSON, "v")
    out = run(p, tool_stream("City", ['{"name": ', '"Paris"}'], text="Sure. "))
    assert content_of(out) == '{"name": "Paris"}'
    assert not calls_of(out)
    assert finish_of(out) == "stop"
    assert out[-1] == usage_chunk(USAGE)
    assert out[0]["choices"][0]["delta"]["role"] == "assistant"


def test_a_streamed_real_call_beside_json_mode_passes() -> None:
    p = plan(request(response_format=JSON_SCHEMA, tools=[WEATHER_TOOL]), NO_JSON, "v")
    out = run(p, tool_stream("get_weather", ['{"city": "P"}']))
    assert [c["function"].get("name") for c in calls_of(out)] == ["get_weather", None]
    assert finish_of(out) == "tool_calls"


def test_a_streamed_json_mode_without_the_call_is_a_502_before_any_text() -> None:
    p = plan(request(response_format=JSON_SCHEMA), NO_JSON, "v")
    seen: list[dict[str, Any]] = []

    async def go() -> None:
        async def source() -> AsyncIterator[dict[str, Any]]:
            for item in text_stream("plain ", "text"):
                yield item

        async for item in p.stream(source()):
            seen.append(item)

    with pytest.raises(DriverError) as failed:
        asyncio.run(go())
    assert failed.value.status == 502
    assert content_of(seen) == ""


def test_a_streamed_json_mode_cut_by_length_keeps_its_text() -> None:
    p = plan(request(response_format=JSON_SCHEMA), NO_JSON, "v")
    out = run(p, text_stream('{"na', finish="length"))
    assert content_of(out) == '{"na' and finish_of(out) == "length"


def test_a_streamed_call_object_becomes_a_tool_call() -> None:
    p = plan(
        request(tools=[WEATHER_TOOL, TIME_TOOL], tool_choice="required"), ONLY_JSON, "v"
    )
    out = run(p, text_stream('{"name": "get_time", ', '"arguments": {"zone": "UTC"}}'))
    calls = calls_of(out)
    assert calls[0]["function"]["name"] == "get_time"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {
        "zone": "UTC"
    }
    assert content_of(out) == ""
    assert finish_of(out) == "tool_calls"


def test_streamed_text_before_an_instructed_call_is_released_with_it() -> None:
    p = plan(request(tools=[WEATHER_TOOL], tool_choice="required"), NOTHING, "v")
    out = run(p, tool_stream("get_weather", ["{}"], text="Let me check. "))
    assert content_of(out) == "Let me check. "
    assert finish_of(out) == "tool_calls"
    with pytest.raises(DriverError):
        run(
            plan(request(tools=[WEATHER_TOOL], tool_choice="required"), NOTHING, "v"),
            text_stream("no call"),
        )


def test_streamed_json_mode_without_any_forcing_stacks_both() -> None:
    p = plan(request(response_format={"type": "json_object"}), NOTHING, "v")
    out = run(p, tool_stream("json_response", ['{"a": 1}'], text="Hm. "))
    assert content_of(out) == '{"a": 1}' and not calls_of(out)
    assert finish_of(out) == "stop"


def test_a_streamed_502_closes_the_vendors_stream() -> None:
    p = plan(request(response_format=JSON_SCHEMA), NO_JSON, "v")
    closed: list[bool] = []

    async def source() -> AsyncIterator[dict[str, Any]]:
        try:
            for item in text_stream("no JSON"):
                yield item
            await asyncio.sleep(3600)  # a vendor that would keep the stream open
        finally:
            closed.append(True)

    async def go() -> None:
        async for _ in p.stream(source()):
            pass

    with pytest.raises(DriverError):
        asyncio.run(go())
    assert closed == [True]
