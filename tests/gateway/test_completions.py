"""OpenAI's legacy Completions API inbound, driven by the official ``openai`` SDK.

The SDK's ``client.completions.create`` talks to the live gateway (uvicorn on
loopback); each vendor's strict fake serves the model behind it. OpenAI, a
compatible server (vLLM) and Azure OpenAI serve ``/completions`` themselves:
they get the body as sent, only ``model`` replaced. Anthropic, Ollama and
Gemini are reached through chat: one chat call per prompt, answered as
``text_completion`` objects and chunks; what chat cannot honour is a 400
naming the parameter, and nothing goes upstream.
"""

from __future__ import annotations

import json
import re
import time
from contextlib import contextmanager

import httpx
import openai
import pytest

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.fakes.azure import DEFAULT_DEPLOYMENTS
from tests.gateway import upstreams

PASS_THROUGH = ["openai", "vllm", "azure"]
TRANSLATED = ["anthropic", "ollama", "gemini"]
# The model each pass-through vendor completes with (OpenAI and Azure serve
# only their instruct models on /completions; vLLM any model it serves).
COMPLETION_MODEL = {
    "openai": "gpt-3.5-turbo-instruct",
    "azure": "gpt-35-turbo-instruct",
}


def hello(text: str) -> re.Pattern[str]:
    """The fakes' answer to ``text`` ("Hello from <vendor>: <text>")."""
    return re.compile(rf"Hello from \w+: {re.escape(text)}")


@contextmanager
def serving(vendor_name, gateway, world, **options):
    """(upstream, SDK, the model name to complete with) for one vendor."""
    if vendor_name == "azure":
        options["deployments"] = {
            **DEFAULT_DEPLOYMENTS,
            "gpt-35-turbo-instruct": "gpt-35-turbo-instruct",
        }
    with upstreams.start(vendor_name, **options) as upstream:
        provider = upstreams.register(upstream, world.acme)
        name = COMPLETION_MODEL.get(vendor_name, upstream.chat_model)
        if name != upstream.chat_model:
            model = AIModel.objects.create(
                provider=provider, organization=world.acme, model_id=name
            )
            Grant.objects.create(model=model, organization=world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        yield upstream, sdk, name


@pytest.fixture(params=PASS_THROUGH + TRANSLATED)
def vendor(request, gateway, world):
    with serving(request.param, gateway, world) as served:
        yield served


def sent(upstream) -> dict:
    return upstream.requests[-1]["json"]


def max_tokens_sent(upstream) -> int:
    body = sent(upstream)
    if upstream.vendor == "ollama":
        return body["options"]["num_predict"]
    if upstream.vendor == "gemini":
        return body["generationConfig"]["maxOutputTokens"]
    return body["max_tokens"]


def record() -> UsageRecord:
    usage.flush()
    return UsageRecord.objects.get()


def test_a_completion_answers_in_openai_shape(vendor):
    upstream, sdk, name = vendor
    answer = sdk.completions.create(model=name, prompt="Say hi", temperature=0.5)
    assert answer.object == "text_completion" and answer.model == name
    assert answer.id.startswith("cmpl")
    (choice,) = answer.choices
    assert hello("Say hi").fullmatch(choice.text)
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    if upstream.vendor in PASS_THROUGH:
        # As sent, only the model replaced (Azure's classic surface names the
        # deployment in its path, not in the body).
        expected = {"prompt": "Say hi", "temperature": 0.5}
        if upstream.vendor != "azure":
            expected["model"] = name
        assert sent(upstream) == expected
    else:
        assert max_tokens_sent(upstream) == 16  # OpenAI's legacy default
    row = record()
    assert (row.endpoint, row.status_code, row.stream) == ("completions", 200, False)
    assert (row.input_tokens, row.output_tokens) == (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
    )
    assert not row.usage_estimated


def test_a_streamed_completion_is_openais_chunks(vendor):
    upstream, sdk, name = vendor
    chunks = list(sdk.completions.create(model=name, prompt="Stream", stream=True))
    texts = [c for c in chunks if c.choices]
    assert all(c.object == "text_completion" and c.model == name for c in texts)
    assert hello("Stream").fullmatch("".join(c.choices[0].text for c in texts))
    assert texts[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)  # the caller asked for none
    if upstream.vendor in ("openai", "vllm"):
        # The gateway asked for the usage chunk for itself.
        assert sent(upstream)["stream_options"] == {"include_usage": True}
    row = record()
    assert (row.endpoint, row.status_code, row.stream) == ("completions", 200, True)
    assert row.output_tokens > 0
    # Azure's classic surface has no stream_options on completions: estimated.
    assert row.usage_estimated == (upstream.vendor == "azure")


def test_the_usage_chunk_comes_last_when_asked(vendor):
    upstream, sdk, name = vendor
    if upstream.vendor == "azure":
        # The classic surface refuses stream_options here: the vendor's 400.
        with pytest.raises(openai.BadRequestError, match="stream_options"):
            sdk.completions.create(
                model=name,
                prompt="hi",
                stream=True,
                stream_options={"include_usage": True},
            )
        return
    chunks = list(
        sdk.completions.create(
            model=name, prompt="hi", stream=True, stream_options={"include_usage": True}
        )
    )
    *texts, last = chunks
    assert last.choices == [] and last.usage.total_tokens > 0
    assert all(c.usage is None and c.choices for c in texts)
    row = record()
    assert row.output_tokens == last.usage.completion_tokens


@pytest.mark.parametrize("vendor_name", ["openai", "anthropic", "gemini"])
def test_several_prompts_are_numbered_as_openai_numbers_them(
    vendor_name, gateway, world
):
    with serving(vendor_name, gateway, world) as (upstream, sdk, name):
        answer = sdk.completions.create(model=name, prompt=["one", "two"])
        assert [c.index for c in answer.choices] == [0, 1]
        assert hello("one").fullmatch(answer.choices[0].text)
        assert hello("two").fullmatch(answer.choices[1].text)
        if vendor_name != "openai":
            assert len(upstream.requests) == 2  # one chat call per prompt
        stream = sdk.completions.create(
            model=name,
            prompt=["one", "two"],
            stream=True,
            stream_options={"include_usage": True},
        )
        texts: dict[int, str] = {}
        chunks = list(stream)
        for chunk in chunks:
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + choice.text
        assert hello("one").fullmatch(texts[0]) and hello("two").fullmatch(texts[1])
        assert chunks[-1].usage.total_tokens == answer.usage.total_tokens
    usage.flush()
    rows = UsageRecord.objects.order_by("pk")
    assert [r.input_tokens for r in rows] == [answer.usage.prompt_tokens] * 2


def test_n_choices_per_prompt_on_gemini(gateway, world):
    with serving("gemini", gateway, world) as (_upstream, sdk, name):
        answer = sdk.completions.create(model=name, prompt=["a", "b"], n=2)
    assert [c.index for c in answer.choices] == [0, 1, 2, 3]
    assert [hello(p).fullmatch(c.text) is not None for p, c in
            zip("aabb", answer.choices, strict=True)] == [True] * 4  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"echo": True}, "echo"),
        ({"suffix": "the end"}, "suffix"),
        ({"logprobs": 2}, "logprobs"),
        ({"best_of": 3}, "best_of"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": [[1, 2], [3]]}, "prompt"),
        ({"prompt": ["p"] * 17}, "prompt"),
        ({"n": 2}, "n"),  # the vendor's chat policy: Anthropic returns one choice
        ({"extra_body": {"top_k": 3}}, "top_k"),
    ],
)
def test_what_chat_cannot_honour_is_refused_by_name(fields, param, gateway, world):
    with serving("anthropic", gateway, world) as (upstream, sdk, name):
        fields = {"prompt": "hi", **fields}
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.completions.create(model=name, **fields)
        assert refused.value.param == param
        assert upstream.requests == []
        # Null and neutral values are no request for anything: served.
        neutral = sdk.completions.create(
            model=name, prompt="hi", echo=False, suffix=None, logprobs=None, best_of=1
        )
        assert hello("hi").fullmatch(neutral.choices[0].text)


def test_the_pass_through_takes_what_translation_refuses(gateway, world):
    with serving("openai", gateway, world) as (upstream, sdk, name):
        echoed = sdk.completions.create(model=name, prompt="Once", echo=True)
        assert echoed.choices[0].text.startswith("Once")
        scored = sdk.completions.create(model=name, prompt="hi", logprobs=2)
        assert scored.choices[0].logprobs.tokens
        tokens = sdk.completions.create(model=name, prompt=[1, 2, 3])
        assert "<3 tokens>" in tokens.choices[0].text
        # A field OpenAI does not know is the vendor's own 400, as the SDK raises.
        with pytest.raises(openai.BadRequestError, match="top_k"):
            sdk.completions.create(model=name, prompt="hi", extra_body={"top_k": 3})
        assert sent(upstream) == {"model": name, "prompt": "hi", "top_k": 3}


def test_a_translation_refusal_leaves_the_call_to_a_provider_that_takes_it(
    gateway, world
):
    # The same model on Anthropic (preferred) and on a vLLM server.
    with (
        upstreams.start("anthropic") as anthropic,
        upstreams.start("vllm", models=[anthropic.chat_model]) as vllm,
    ):
        upstreams.register(anthropic, world.acme, priority=1)
        upstreams.register(vllm, world.acme, priority=100)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        plain = sdk.completions.create(model=anthropic.chat_model, prompt="hi")
        assert plain.choices[0].text.startswith("Hello from anthropic")
        echoed = sdk.completions.create(
            model=anthropic.chat_model, prompt="hi", echo=True
        )
        assert echoed.choices[0].text.startswith("hiHello from vllm")
        assert len(anthropic.requests) == 1 and len(vllm.requests) == 1


@pytest.mark.parametrize("vendor_name", ["openai", "anthropic"])
def test_upstream_failures_are_the_sdks_exceptions(vendor_name, gateway, world):
    with serving(vendor_name, gateway, world) as (_upstream, sdk, name):
        with pytest.raises(openai.RateLimitError):
            sdk.completions.create(model=name, prompt="FAIL 429")
        with pytest.raises(openai.InternalServerError):
            sdk.completions.create(model=name, prompt="FAIL 500")
        seen = []
        with pytest.raises(openai.APIError):
            for chunk in sdk.completions.create(
                model=name, prompt="BREAK", stream=True
            ):
                seen.append(chunk)
        assert seen  # it broke after the first chunks, with an error
    usage.flush()
    broken = UsageRecord.objects.get(stream=True)
    assert broken.endpoint == "completions" and broken.status_code >= 500


def test_a_missing_model_and_an_embedding_model(gateway, world):
    with serving("openai", gateway, world) as (upstream, sdk, _):
        with pytest.raises(openai.NotFoundError) as missing:
            sdk.completions.create(model="no-such-model", prompt="hi")
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as embedding:
            sdk.completions.create(model=upstream.embed_model, prompt="hi")
        assert embedding.value.code == "invalid_model_type"
    assert upstream.requests == []


def test_the_translated_stream_is_openais_exact_shape(gateway, world):
    with serving("anthropic", gateway, world) as (_upstream, sdk, name):
        body = {
            "model": name,
            "prompt": "hi",
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        headers = {"Authorization": f"Bearer {sdk.api_key}"}
        response = httpx.post(
            f"{sdk.base_url}completions", json=body, headers=headers, timeout=30
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    for chunk in chunks[:-1]:
        assert set(chunk) == {
            "id", "object", "created", "model", "system_fingerprint", "choices",
            "usage",
        }  # fmt: skip
        assert chunk["usage"] is None and chunk["object"] == "text_completion"
        (choice,) = chunk["choices"]
        assert set(choice) == {"text", "index", "logprobs", "finish_reason"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert len({c["id"] for c in chunks}) == 1


def test_azure_v1_asks_for_the_usage_chunk(gateway, world):
    with serving("azure", gateway, world) as (upstream, sdk, name):
        provider = Provider.objects.get(name="azure-fake")
        provider.seal("provider_config", {**upstream.config, "api_surface": "v1"})
        provider.save()
        chunks = list(sdk.completions.create(model=name, prompt="hi", stream=True))
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        assert hello("hi").fullmatch(text)
        body = sent(upstream)
    assert upstream.requests[-1]["path"] == "/openai/v1/completions"
    assert body["model"] == name and body["stream_options"] == {"include_usage": True}
    assert not record().usage_estimated


def test_a_client_disconnect_closes_the_vendors_stream(gateway, world):
    with serving("vllm", gateway, world, chunk_delay=0.5) as (upstream, sdk, name):
        with httpx.stream(
            "POST",
            f"{gateway.v1}/completions",
            json={"model": name, "prompt": "a slow one", "stream": True},
            headers={"Authorization": f"Bearer {sdk.api_key}"},
            timeout=10,
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    break  # the first chunk arrived: leave
            closed_at = time.monotonic()
        events = upstream.server.app["events"]
        deadline = time.monotonic() + 5
        while "cancelled_at" not in events and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "cancelled_at" in events, "the vendor's stream was left running"
    assert events["cancelled_at"] - closed_at < 3
    row = record()
    assert (row.endpoint, row.status_code, row.error_type) == (
        "completions",
        499,
        "client_disconnected",
    )
