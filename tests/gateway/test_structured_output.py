"""Structured output and forced tool choice on every provider setup, end to end.

The official openai SDK drives the live gateway; each vendor's strict fake
checks what it receives (schemas valid, toolChoice only where the model family
has it, output_config only on Claude models with structured outputs) and
answers from the schema or tool it was given. Native setups pass the request
through; the others go through the emulation (``providers/drivers/structured``).
A fake that does not comply (``NOCALL``) yields the gateway's 502.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import openai
import pytest
from pydantic import BaseModel

from gateway.models import ApiKey
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.fakes import bedrock as bedrock_fake
from tests.gateway import upstreams


class City(BaseModel):
    name: str
    population: int
    tags: list[str]


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Local time in a timezone",
            "parameters": {
                "type": "object",
                "properties": {
                    "zone": {"type": "string"},
                    "hour24": {"type": "boolean"},
                },
                "required": ["zone"],
            },
        },
    },
]

# (setup name, vendor fake, model id or None for the fake's chat model)
SETUPS = {
    "openai": ("openai", None),
    "azure": ("azure", None),
    "groq": ("groq", None),
    "anthropic-native": ("anthropic", None),  # claude-sonnet-4-5: output_config
    "anthropic-emulated": ("anthropic", "claude-3-5-haiku-20241022"),
    "bedrock-claude": ("bedrock", None),
    "bedrock-nova": ("bedrock", bedrock_fake.NOVA_MODEL),
    "bedrock-llama": ("bedrock", bedrock_fake.LLAMA_MODEL),
    "ollama": ("ollama", None),
    "gemini": ("gemini", None),
}
# Setups where some of it is emulated: a fake that ignores the request → 502.
JSON_EMULATED = [
    "anthropic-native",
    "anthropic-emulated",
    "bedrock-claude",
    "bedrock-llama",
]
FORCED_EMULATED = ["bedrock-llama", "ollama"]
MESSAGES = [{"role": "user", "content": "Describe a city as JSON."}]


@contextmanager
def serving(setup, gateway, world):
    vendor, model_id = SETUPS[setup]
    with upstreams.start(vendor) as upstream:
        upstreams.register(upstream, world.acme)
        if model_id is not None:
            provider = Provider.objects.get(organization=world.acme)
            model = AIModel.objects.create(
                provider=provider,
                organization=world.acme,
                model_id=model_id,
                model_type=AIModel.ModelType.INFERENCE,
            )
            Grant.objects.create(model=model, organization=world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        yield upstream, sdk, model_id or upstream.chat_model


@pytest.fixture(params=list(SETUPS))
def setup(request, gateway, world):
    with serving(request.param, gateway, world) as served:
        yield served


def sent_bodies(upstream):
    return [r["json"] for r in upstream.requests if isinstance(r.get("json"), dict)]


def test_parse_with_a_pydantic_model_answers_the_schema(setup):
    _upstream, sdk, model = setup
    answer = sdk.chat.completions.parse(
        model=model, messages=MESSAGES, response_format=City
    )
    choice = answer.choices[0]
    assert isinstance(choice.message.parsed, City)
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls


def test_streamed_parse_answers_the_schema_as_content_deltas(setup):
    _upstream, sdk, model = setup
    with sdk.chat.completions.stream(
        model=model, messages=MESSAGES, response_format=City
    ) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    assert not any(e.type.startswith("tool_calls") for e in events)
    assert isinstance(final.choices[0].message.parsed, City)
    assert final.choices[0].finish_reason == "stop"
    assert not final.choices[0].message.tool_calls


@pytest.mark.parametrize("stream", [False, True])
def test_json_object_answers_a_json_object(setup, stream):
    _upstream, sdk, model = setup
    kwargs = {"model": model, "messages": MESSAGES}
    fmt = {"type": "json_object"}
    if stream:
        chunks = list(
            sdk.chat.completions.create(**kwargs, response_format=fmt, stream=True)
        )
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        assert not any(d.tool_calls for d in deltas)
        text = "".join(d.content or "" for d in deltas)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        answer = sdk.chat.completions.create(**kwargs, response_format=fmt)
        text, finish = (
            answer.choices[0].message.content,
            answer.choices[0].finish_reason,
        )
        assert not answer.choices[0].message.tool_calls
    assert isinstance(json.loads(text), dict)
    assert finish == "stop"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("choice", ["required", "get_time"])
def test_forced_tool_choice_yields_a_call_to_the_right_tool(setup, choice, stream):
    _upstream, sdk, model = setup
    tool_choice = (
        choice
        if choice == "required"
        else {"type": "function", "function": {"name": choice}}
    )
    kwargs = {
        "model": model,
        "messages": [{"role": "user", "content": "What is the time in Paris?"}],
        "tools": TOOLS,
        "tool_choice": tool_choice,
    }
    if stream:
        chunks = list(sdk.chat.completions.create(**kwargs, stream=True))
        calls = [
            call
            for c in chunks
            if c.choices
            for call in c.choices[0].delta.tool_calls or []
            if call.function and call.function.name
        ]
        names = [call.function.name for call in calls]
        arguments = "".join(
            call.function.arguments or ""
            for c in chunks
            if c.choices
            for call in c.choices[0].delta.tool_calls or []
            if call.function
        )
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        answer = sdk.chat.completions.create(**kwargs)
        message = answer.choices[0].message
        names = [call.function.name for call in message.tool_calls or []]
        arguments = "".join(c.function.arguments for c in message.tool_calls or [])
        finish = answer.choices[0].finish_reason
    assert names and names[0] == ("get_weather" if choice == "required" else choice)
    assert isinstance(json.loads(arguments), dict)
    assert finish == "tool_calls"


def test_json_mode_beside_the_callers_tools_keeps_them_usable(setup):
    upstream, sdk, model = setup
    answer = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Paris, as json?"}],
        tools=TOOLS[:1],
        response_format={"type": "json_object"},
    )
    message = answer.choices[0].message
    # The synthetic tool never leaks: the caller's tool is called, or the
    # answer is the JSON (Ollama's native format may win over its tools).
    if message.tool_calls:
        assert [c.function.name for c in message.tool_calls] == ["get_weather"]
        assert answer.choices[0].finish_reason == "tool_calls"
    else:
        assert upstream.vendor == "ollama"
        assert isinstance(json.loads(message.content), dict)


@pytest.mark.parametrize("setup_name", JSON_EMULATED)
@pytest.mark.parametrize("stream", [False, True])
def test_a_vendor_that_ignores_the_json_mode_is_a_502(
    setup_name, stream, gateway, world
):
    with (
        serving(setup_name, gateway, world) as (_upstream, sdk, model),
        pytest.raises(openai.APIError) as failed,
    ):
        result = sdk.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "NOCALL json please"}],
            response_format={"type": "json_object"},
            stream=stream,
        )
        if stream:
            list(result)
    assert "did not comply" in str(failed.value)
    if not stream:  # streamed, the error arrives in-band after the 200
        assert isinstance(failed.value, openai.APIStatusError)
        assert failed.value.status_code == 502


@pytest.mark.parametrize("setup_name", FORCED_EMULATED)
@pytest.mark.parametrize("stream", [False, True])
def test_a_vendor_that_calls_no_tool_when_forced_is_a_502(
    setup_name, stream, gateway, world
):
    with (
        serving(setup_name, gateway, world) as (_upstream, sdk, model),
        pytest.raises(openai.APIError) as failed,
    ):
        result = sdk.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "NOCALL now"}],
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_time"}},
            stream=stream,
        )
        if stream:
            list(result)
    assert "did not comply" in str(failed.value)
    if not stream:  # streamed, the error arrives in-band after the 200
        assert isinstance(failed.value, openai.APIStatusError)
        assert failed.value.status_code == 502


@pytest.mark.parametrize(
    ("setup_name", "forcing"), [("bedrock-llama", False), ("bedrock-claude", True)]
)
def test_bedrock_sends_a_forcing_tool_choice_only_where_the_family_has_it(
    setup_name, forcing, gateway, world
):
    with serving(setup_name, gateway, world) as (upstream, sdk, model):
        sdk.chat.completions.create(
            model=model, messages=MESSAGES, tools=TOOLS, tool_choice="required"
        )
        choice = sent_bodies(upstream)[-1]["toolConfig"]["toolChoice"]
    assert ("any" in choice) is forcing


def test_ollama_forced_choice_is_sent_as_a_format_schema(gateway, world):
    with serving("ollama", gateway, world) as (upstream, sdk, model):
        sdk.chat.completions.create(
            model=model,
            messages=MESSAGES,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_time"}},
        )
        body = sent_bodies(upstream)[-1]
    assert body["format"]["properties"]["name"] == {"const": "get_time"}
    assert (
        body["format"]["properties"]["arguments"] == TOOLS[1]["function"]["parameters"]
    )
    assert [t["function"]["name"] for t in body["tools"]] == ["get_time"]


@pytest.mark.parametrize(
    ("setup_name", "native"),
    [("anthropic-native", True), ("anthropic-emulated", False)],
)
def test_anthropic_uses_output_config_only_where_the_model_has_it(
    setup_name, native, gateway, world
):
    with serving(setup_name, gateway, world) as (upstream, sdk, model):
        sdk.chat.completions.parse(model=model, messages=MESSAGES, response_format=City)
        body = sent_bodies(upstream)[-1]
    assert ("output_config" in body) is native
    assert (body.get("tool_choice", {}).get("type") == "tool") is not native


@pytest.mark.parametrize("setup_name", ["bedrock-llama", "anthropic-emulated"])
def test_the_agents_sdks_output_type_parses_on_an_emulating_vendor(
    setup_name, gateway, world, monkeypatch
):
    """A client nobody here wrote: the Agents SDK's ``output_type`` over Chat
    Completions sends a strict json_schema, which these vendors lack."""
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    import asyncio

    from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled

    set_tracing_disabled(True)
    with serving(setup_name, gateway, world) as (upstream, sdk, model):
        client = openai.AsyncOpenAI(
            base_url=str(sdk.base_url), api_key=sdk.api_key, max_retries=0
        )
        agent = Agent(
            name="describer",
            instructions="Describe a city.",
            output_type=City,
            model=OpenAIChatCompletionsModel(model=model, openai_client=client),
        )
        result = asyncio.run(Runner.run(agent, "Describe Paris."))
        body = sent_bodies(upstream)[-1]
    assert isinstance(result.final_output, City)
    # What reached the vendor is the emulation: a tool named for the schema
    # (the SDK names it final_output), offered instead of a JSON mode.
    if setup_name.startswith("bedrock"):
        offered = [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]]
    else:
        offered = [t["name"] for t in body["tools"]]
        assert body["tool_choice"] == {"type": "tool", "name": "final_output"}
        assert "output_config" not in body
    assert offered == ["final_output"]
