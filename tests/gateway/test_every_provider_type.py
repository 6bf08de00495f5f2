"""Every provider type through the gateway, driven by the official openai SDK.

Each vendor's strict fake checks auth and the request shape; the SDK sees plain
OpenAI answers: text, multi-turn with a system prompt, streaming, tool calls (also
streamed), tool results, errors and embeddings.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import openai
import pytest

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.gateway import upstreams

# cohere is the OpenAI-preset case (the OpenAI driver on its own base path, as
# groq is) and its own type; rerank on every vendor is tests/gateway/test_rerank.py.
VENDORS = ["openai", "cohere", "azure", "anthropic", "bedrock", "ollama", "gemini"]
TOOL = {
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
}


# Anthropic has no embeddings API: the gateway refuses them (tested below).
EMBEDDING_VENDORS = [v for v in VENDORS if v != "anthropic"]


@contextmanager
def serving(vendor_name, gateway, world):
    with upstreams.start(vendor_name) as upstream:
        upstreams.register(upstream, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        yield upstream, sdk


@pytest.fixture(params=VENDORS)
def vendor(request, gateway, world):
    with serving(request.param, gateway, world) as served:
        yield served


@pytest.fixture(params=EMBEDDING_VENDORS)
def embedding_vendor(request, gateway, world):
    with serving(request.param, gateway, world) as served:
        assert served[0].embed_model is not None
        yield served


def label(upstream) -> str:
    return "openai" if upstream.vendor in ("cohere", "azure") else upstream.vendor


def test_text_and_multi_turn_with_a_system_prompt(vendor):
    upstream, sdk = vendor
    answer = sdk.chat.completions.create(
        model=upstream.chat_model,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
        ],
        max_tokens=50,
    )
    text = answer.choices[0].message.content
    assert text.startswith("Hello from ") and text.endswith(": second")
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == upstream.chat_model
    assert answer.usage.prompt_tokens >= 11 and answer.usage.completion_tokens == 7


def test_streaming_text_with_usage(vendor):
    upstream, sdk = vendor
    chunks = list(
        sdk.chat.completions.create(
            model=upstream.chat_model,
            messages=[{"role": "user", "content": "stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Hello from ") and text.endswith(": stream please")
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2
    finals = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finals[-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 7


def test_tool_calls_and_tool_results(vendor):
    upstream, sdk = vendor
    first = sdk.chat.completions.create(
        model=upstream.chat_model,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[TOOL],
    )
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    second = sdk.chat.completions.create(
        model=upstream.chat_model,
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    assert second.choices[0].message.content == "The tool said: sunny"


def test_streamed_tool_calls_arrive_intact(vendor):
    upstream, sdk = vendor
    chunks = list(
        sdk.chat.completions.create(
            model=upstream.chat_model,
            messages=[{"role": "user", "content": "weather?"}],
            tools=[TOOL],
            stream=True,
        )
    )
    calls = [
        tc
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
        for tc in c.choices[0].delta.tool_calls
    ]
    assert {tc.index for tc in calls} == {0}
    assert [tc.function.name for tc in calls if tc.function.name] == ["get_weather"]
    assert len([tc for tc in calls if tc.id]) == 1
    args = "".join(tc.function.arguments or "" for tc in calls)
    assert json.loads(args) == {"city": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == (
        "tool_calls"
    )


def test_upstream_errors_become_the_sdks_exceptions(vendor):
    upstream, sdk = vendor

    def ask(text):
        return sdk.chat.completions.create(
            model=upstream.chat_model, messages=[{"role": "user", "content": text}]
        )

    with pytest.raises(openai.RateLimitError) as limited:
        ask("FAIL 429")
    assert limited.value.response.headers.get("retry-after") == "7"
    with pytest.raises(openai.InternalServerError) as failed:
        ask("FAIL 500")
    assert failed.value.status_code == 502
    with pytest.raises(openai.InternalServerError) as unavailable:
        ask("FAIL 503")
    assert unavailable.value.status_code == 503


def test_a_broken_stream_raises_instead_of_hanging(vendor):
    upstream, sdk = vendor
    stream = sdk.chat.completions.create(
        model=upstream.chat_model,
        messages=[{"role": "user", "content": "BREAK"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_embeddings_and_usage(embedding_vendor, world):
    upstream, sdk = embedding_vendor
    answer = sdk.embeddings.create(model=upstream.embed_model, input=["a", "bb"])
    assert [d.index for d in answer.data] == [0, 1]
    assert all(len(d.embedding) > 0 for d in answer.data)
    usage.flush()
    record = UsageRecord.objects.get(endpoint="embeddings")
    assert record.status_code == 200 and record.organization == world.acme


def test_a_vendor_without_embeddings_refuses_them_with_a_clear_400(gateway, world):
    """An Anthropic model marked as an embedding model is refused, not sent."""
    with serving("anthropic", gateway, world) as (_upstream, sdk):
        provider = Provider.objects.get(organization=world.acme)
        model = AIModel.objects.create(
            provider=provider,
            organization=world.acme,
            model_id="claude-embed",
            model_type=AIModel.ModelType.EMBEDDING,
        )
        Grant.objects.create(model=model, organization=world.acme)
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.embeddings.create(model="claude-embed", input=["a"])
    error = refused.value.body
    assert refused.value.status_code == 400
    assert error["message"] == "anthropic providers do not serve embeddings here."
    assert error["param"] == "model"
    usage.flush()
    record = UsageRecord.objects.get(endpoint="embeddings")
    assert record.status_code == 400
