"""OpenAI's Responses API inbound, driven by the official ``openai`` SDK.

The SDK talks to the live gateway (uvicorn on loopback); every vendor's strict
fake serves the model behind it. Most vendors are reached through the
canonical format; a provider set to ``wire_api: responses`` (OpenAI, Azure)
gets the body as sent. Covered per vendor: text with instructions,
multi-turn by items and by ``previous_response_id``, images, function tools
with call and output round trips (plain and streamed), structured output,
errors as the SDK's exceptions, a broken stream ending in an error; then the
stored responses' isolation, ``store: false``, and the OpenAI Agents SDK's
default Responses model running a tool loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from contextlib import contextmanager

import openai
import pytest

from gateway import usage
from gateway.models import ApiKey, StoredResponse, UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.gateway import upstreams

VENDORS = [
    "openai",
    "azure",
    "anthropic",
    "bedrock",
    "bedrock-nova",
    "ollama",
    "gemini",
    "openai-responses",
    "azure-responses",
]
# Providers that take the Responses body as sent (wire_api: responses).
NATIVE = ("openai-responses", "azure-responses")
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()


def hello(text: str) -> re.Pattern[str]:
    """The fakes' answer to ``text`` ("Hello from <vendor>: <text>")."""
    return re.compile(rf"Hello from \w+: {re.escape(text)}")


@contextmanager
def serving(vendor_name, gateway, world):
    with upstreams.start(vendor_name) as upstream:
        upstreams.register(upstream, world.acme)
        name = f"key for {vendor_name}"
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name=name)
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        yield upstream, sdk


@pytest.fixture(params=VENDORS)
def vendor(request, gateway, world):
    with serving(request.param, gateway, world) as served:
        yield served


def sent_upstream(upstream) -> str:
    return json.dumps(upstream.requests[-1]["json"])


def test_text_with_instructions_is_stored_and_listed(vendor, world):
    upstream, sdk = vendor
    answer = sdk.responses.create(
        model=upstream.chat_model, instructions="Be brief.", input="hi"
    )
    assert answer.id.startswith("resp_") and answer.object == "response"
    assert answer.status == "completed" and answer.model == upstream.chat_model
    assert hello("hi").fullmatch(answer.output_text)
    assert answer.usage.input_tokens >= 1 and answer.usage.output_tokens >= 1
    assert "Be brief." in sent_upstream(upstream)
    again = sdk.responses.retrieve(answer.id)
    assert again.model_dump() == answer.model_dump()
    (item,) = sdk.responses.input_items.list(answer.id).data
    assert item.type == "message" and item.role == "user"
    assert item.content[0].text == "hi"
    usage.flush()
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.status_code) == ("responses", 200)
    row = StoredResponse.objects.get(pk=answer.id)
    assert row.organization_id == world.acme.id


def test_multi_turn_by_items_and_by_previous_response_id(vendor):
    upstream, sdk = vendor
    by_items = sdk.responses.create(
        model=upstream.chat_model,
        input=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
        ],
    )
    assert hello("second").fullmatch(by_items.output_text)
    first = sdk.responses.create(model=upstream.chat_model, input="first")
    second = sdk.responses.create(
        model=upstream.chat_model, input="second", previous_response_id=first.id
    )
    assert hello("second").fullmatch(second.output_text)
    assert second.previous_response_id == first.id
    # The conversation went upstream written out: the first turn and its answer.
    sent = sent_upstream(upstream)
    assert "first" in sent and first.output_text in sent
    assert first.id not in sent  # the vendor never sees the gateway's ids


def test_an_image_reaches_the_vendor(vendor):
    upstream, sdk = vendor
    answer = sdk.responses.create(
        model=upstream.chat_model,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this"},
                    {
                        "type": "input_image",
                        "image_url": f"data:image/png;base64,{PNG}",
                    },
                ],
            }
        ],
    )
    assert hello("what is this").fullmatch(answer.output_text)
    assert PNG[:40] in sent_upstream(upstream)


def test_function_tools_round_trip_by_previous_response_id(vendor):
    upstream, sdk = vendor
    first = sdk.responses.create(
        model=upstream.chat_model, input="weather in Paris?", tools=[WEATHER]
    )
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {
        "city": "Paris"
    }
    assert call.call_id and call.id.startswith("fc")
    second = sdk.responses.create(
        model=upstream.chat_model,
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        ],
    )
    assert second.output_text == "The tool said: sunny"
    assert call.call_id in sent_upstream(upstream) or upstream.vendor == "gemini"


def test_streamed_function_call_and_output_round_trip(vendor):
    upstream, sdk = vendor
    with sdk.responses.stream(
        model=upstream.chat_model, input="weather?", tools=[WEATHER]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.function_call_arguments.delta" in kinds
    (call,) = [item for item in final.output if item.type == "function_call"]
    assert json.loads(call.arguments) == {"city": "Paris"}
    with sdk.responses.stream(
        model=upstream.chat_model,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "weather?"},
            *[item.model_dump(exclude_none=True) for item in final.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": "rain"},
        ],
    ) as stream:
        text = "".join(
            event.delta
            for event in stream
            if event.type == "response.output_text.delta"
        )
        done = stream.get_final_response()
    assert text == "The tool said: rain" and done.output_text == text


def test_structured_output_reaches_the_vendor(vendor):
    upstream, sdk = vendor
    schema = {
        "type": "object",
        "properties": {"answer_field": {"type": "string"}},
        "required": ["answer_field"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "name": "reply", "schema": schema, "strict": True}
    # Native where the vendor has it; Converse by the forced-tool emulation.
    answer = sdk.responses.create(
        model=upstream.chat_model, input="json please", text={"format": fmt}
    )
    assert answer.text.format.type == "json_schema"
    assert "answer_field" in sent_upstream(upstream)
    assert set(json.loads(answer.output_text)) == {"answer_field"}


def test_upstream_errors_are_the_sdks_exceptions(vendor):
    upstream, sdk = vendor
    with pytest.raises(openai.RateLimitError):
        sdk.responses.create(model=upstream.chat_model, input="FAIL 429")
    with pytest.raises(openai.InternalServerError):
        sdk.responses.create(model=upstream.chat_model, input="FAIL 500")


def test_a_broken_stream_ends_in_an_error(vendor):
    upstream, sdk = vendor
    seen = []
    with (
        pytest.raises(openai.APIError),
        sdk.responses.stream(model=upstream.chat_model, input="BREAK") as stream,
    ):
        seen.extend(event.type for event in stream)
    assert seen[0] == "response.created"
    usage.flush()
    record = UsageRecord.objects.get()
    assert record.endpoint == "responses" and record.status_code >= 500


def test_store_false_keeps_nothing(gateway, world):
    with serving("openai", gateway, world) as (upstream, sdk):
        answer = sdk.responses.create(
            model=upstream.chat_model, input="hi", store=False
        )
        assert answer.store is False
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(answer.id)
    assert not StoredResponse.objects.exists()


def test_another_organizations_response_is_missing_everywhere(gateway, world):
    with serving("openai", gateway, world) as (upstream, sdk):
        mine = sdk.responses.create(model=upstream.chat_model, input="secret plan")
        upstreams.register(upstream, world.globex, name="globex-openai")
        _, theirs = ApiKey.issue(
            organization=world.globex, user=world.charlie, name="g"
        )
        other = openai.OpenAI(base_url=sdk.base_url, api_key=theirs, max_retries=0)
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.input_items.list(mine.id)
        calls = len(upstream.requests)
        with pytest.raises(openai.BadRequestError) as refused:
            other.responses.create(
                model=upstream.chat_model, input="more", previous_response_id=mine.id
            )
        assert refused.value.code == "previous_response_not_found"
        assert len(upstream.requests) == calls  # nothing of it went anywhere
        # Their own previous_response_id works for them alone.
        own = other.responses.create(model=upstream.chat_model, input="hello")
        follow = other.responses.create(
            model=upstream.chat_model, input="again", previous_response_id=own.id
        )
        assert hello("again").fullmatch(follow.output_text)


def test_a_built_in_tool_is_refused_unless_the_provider_speaks_responses(
    gateway, world
):
    search = [{"type": "web_search"}]
    with serving("openai", gateway, world) as (upstream, sdk):
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.responses.create(model=upstream.chat_model, input="news", tools=search)
        assert refused.value.param == "tools[0].type"
        assert upstream.requests == []
    with serving("openai-responses", gateway, world) as (upstream, sdk):
        answer = sdk.responses.create(
            model=upstream.chat_model, input="news", tools=search
        )
        assert "web_search_call" in [item.type for item in answer.output]
        assert upstream.requests[-1]["json"]["tools"] == search


def test_reasoning_items_travel_back_on_the_pass_through(gateway, world):
    with serving("openai-responses", gateway, world) as (upstream, sdk):
        provider = Provider.objects.get(name="openai-responses-fake")
        model = AIModel.objects.create(
            provider=provider, organization=world.acme, model_id="o3-mini"
        )
        Grant.objects.create(model=model, organization=world.acme)
        include = ["reasoning.encrypted_content"]
        first = sdk.responses.create(
            model="o3-mini", input="think", reasoning={"effort": "low"}, include=include
        )
        (reasoning,) = [item for item in first.output if item.type == "reasoning"]
        assert reasoning.encrypted_content
        sdk.responses.create(
            model="o3-mini",
            input="more",
            previous_response_id=first.id,
            include=include,
        )
        sent = upstream.requests[-1]["json"]
    assert sent["store"] is False and "previous_response_id" not in sent
    (kept,) = [item for item in sent["input"] if item.get("type") == "reasoning"]
    assert kept["encrypted_content"] == reasoning.encrypted_content


def test_the_agents_sdk_runs_a_tool_loop_through_the_gateway(
    gateway, world, monkeypatch
):
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    from agents import (
        Agent,
        OpenAIResponsesModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )

    set_tracing_disabled(True)
    asked: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        asked.append(city)
        return "sunny"

    with serving("openai", gateway, world) as (upstream, sdk):
        client = openai.AsyncOpenAI(
            base_url=str(sdk.base_url), api_key=sdk.api_key, max_retries=0
        )
        agent = Agent(
            name="forecaster",
            instructions="Answer with the weather.",
            tools=[get_weather],
            model=OpenAIResponsesModel(model=upstream.chat_model, openai_client=client),
        )
        result = asyncio.run(Runner.run(agent, "weather in Paris?"))
    assert asked == ["Paris"]
    assert result.final_output == "The tool said: sunny"


def test_a_cut_stream_is_billed_an_estimate_of_the_whole_prompt(gateway, world):
    # The Anthropic fake reports its usage only at the end: a cut stream is
    # estimated, and the prompt is the instructions, the input and the history.
    with serving("anthropic", gateway, world) as (upstream, sdk):
        first = sdk.responses.create(
            model=upstream.chat_model, input="a" * 400, instructions="b" * 400
        )
        with (
            pytest.raises(openai.APIError),
            sdk.responses.stream(
                model=upstream.chat_model,
                instructions="c" * 400,
                input="BREAK",
                previous_response_id=first.id,
            ) as stream,
        ):
            list(stream)
    usage.flush()
    record = UsageRecord.objects.filter(status_code__gte=500).get()
    assert record.usage_estimated
    # 400 characters of instructions and 400 of the earlier turn: 200 tokens.
    assert record.input_tokens >= 200


def test_vendor_side_state_is_never_sent_through_a_shared_provider(gateway, world):
    with upstreams.start("openai-responses") as upstream:
        upstreams.register(upstream, world.acme)
        shared = upstreams.register(
            upstream, world.acme, name="shared-responses", grant_to=world.globex
        )
        _, theirs = ApiKey.issue(
            organization=world.globex, user=world.charlie, name="g"
        )
        other = openai.OpenAI(base_url=gateway.v1, api_key=theirs, max_retries=0)
        model = f"{shared.name}/{upstream.chat_model}"
        for field, value in (
            ("conversation", "conv_owner_123"),
            ("prompt", {"id": "pmpt_1"}),
        ):
            with pytest.raises(openai.BadRequestError) as refused:
                other.responses.create(
                    model=model, input="hi", extra_body={field: value}
                )
            assert refused.value.param == field
        # A conversation in the owner's vendor account is theirs: nothing went.
        assert upstream.requests == []
        _, mine = ApiKey.issue(organization=world.acme, user=world.bob, name="b")
        own = openai.OpenAI(base_url=gateway.v1, api_key=mine, max_retries=0)
        # The owner's own provider: its conversation travels as sent.
        with contextlib.suppress(openai.APIStatusError):
            own.responses.create(
                model=upstream.chat_model,
                input="hi",
                extra_body={"conversation": "conv_owner_123"},
            )
        assert upstream.requests[-1]["json"]["conversation"] == "conv_owner_123"


def test_input_the_listing_cannot_read_is_stored_as_sent():
    from gateway.responses_api import ResponsesRequest

    odd = {"type": "function_call", "name": "f"}  # no call_id: only a vendor judged it
    request = ResponsesRequest({"model": "m", "input": [odd, "loose text"]})
    first, second = request.listed_input()
    assert first["type"] == "function_call" and first["id"].startswith("msg_")
    assert second["content"][0]["text"] == "loose text"
