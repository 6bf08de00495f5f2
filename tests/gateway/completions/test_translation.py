"""The legacy Completions translation through chat, with vectors (pure)."""

from __future__ import annotations

import json

import pytest

from gateway.completions.request import DEFAULT_MAX_TOKENS, check_envelope, to_canonical
from gateway.completions.response import from_canonical, merge, sum_usage
from gateway.completions.stream import ChunkStream
from gateway.errors import DriverError, GatewayError
from providers.drivers.azure.translate import build_azure_completions_body
from providers.drivers.config import DriverConfig
from providers.drivers.openai.completions_raw import (
    DONE,
    CompletionsTracker,
)
from providers.drivers.openai.translate import build_completions_body
from providers.drivers.passthrough import RawEvent


def test_each_prompt_is_one_chat_request_with_the_mapped_fields():
    body = {
        "model": "m",
        "prompt": ["one", "two"],
        "temperature": 0.2,
        "stop": ["\n"],
        "n": 1,
        "seed": 7,
        "user": "u1",
        "logit_bias": {"50256": -100},
        "echo": False,
        "best_of": 1,
        "logprobs": None,
        "stream": True,
    }
    first, second = to_canonical(body)
    assert first == {
        "model": "m",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "temperature": 0.2,
        "stop": ["\n"],
        "n": 1,
        "seed": 7,
        "user": "u1",
        "logit_bias": {"50256": -100},
        "stream": True,
        "messages": [{"role": "user", "content": "one"}],
    }
    assert second["messages"] == [{"role": "user", "content": "two"}]
    (only,) = to_canonical({"model": "m", "prompt": "x", "max_tokens": 99})
    assert only["max_tokens"] == 99


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"echo": True}, "echo"),
        ({"suffix": "end"}, "suffix"),
        ({"logprobs": 0}, "logprobs"),
        ({"best_of": 2, "n": 2}, "best_of"),
        ({"best_of": 1, "n": 2}, "best_of"),
        ({"prompt": [5, 6]}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"prompt": ["a", 3.5]}, "prompt[1]"),
        ({"prompt": ["a"] * 17}, "prompt"),
        ({"echo": "yes"}, "echo"),
        ({"top_k": 5}, "top_k"),
    ],
)
def test_what_chat_cannot_honour_is_a_400_naming_it(body, param):
    with pytest.raises(GatewayError) as refused:
        to_canonical({"model": "m", "prompt": "hi", **body})
    assert (refused.value.status, refused.value.param) == (400, param)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "hi"}, "model"),
        ({"model": "m", "stream": "yes"}, "stream"),
        ({"model": "m", "stream_options": []}, "stream_options"),
        (
            {"model": "m", "stream_options": {"include_usage": 1}},
            "stream_options.include_usage",
        ),
    ],
)
def test_every_body_needs_a_model_and_typed_stream_fields(body, param):
    with pytest.raises(GatewayError) as refused:
        check_envelope(body)
    assert refused.value.param == param


def test_answers_of_several_prompts_are_one_text_completion():
    def answer(text, usage, finish="stop"):
        return {
            "created": 1700000000,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
        }

    merged = merge(
        [
            answer(
                "A", {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
            ),
            answer(
                "B",
                {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
                "tool_calls",
            ),
        ],
        1,
    )
    out = from_canonical(merged, "name")
    assert out["object"] == "text_completion" and out["id"].startswith("cmpl-")
    assert out["model"] == "name" and out["created"] == 1700000000
    assert out["choices"] == [
        {"text": "A", "index": 0, "logprobs": None, "finish_reason": "stop"},
        {"text": "B", "index": 1, "logprobs": None, "finish_reason": "stop"},
    ]
    assert out["usage"] == {
        "prompt_tokens": 6,
        "completion_tokens": 3,
        "total_tokens": 9,
    }


def test_usage_sums_keep_cached_tokens_and_tolerate_missing_reports():
    assert sum_usage([None, None]) is None
    one = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    assert sum_usage([one, None]) is one
    cached = {**one, "prompt_tokens_details": {"cached_tokens": 1}}
    assert sum_usage([cached, cached])["prompt_tokens_details"] == {"cached_tokens": 2}


def test_chunks_are_openais_completion_chunks():
    stream = ChunkStream("name", include_usage=True)
    role = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    assert stream.feed(role) == []
    thinking = {"choices": [{"index": 0, "delta": {"reasoning_content": "hm"}}]}
    assert stream.feed(thinking) == []
    (text,) = stream.feed({"choices": [{"index": 0, "delta": {"content": "Hi"}}]})
    (end,) = stream.feed(
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    )
    (usage,) = stream.feed({"choices": [], "usage": {"total_tokens": 3}})
    parsed = [json.loads(e.removeprefix(b"data: ")) for e in (text, end, usage)]
    assert parsed[0]["choices"] == [
        {"text": "Hi", "index": 0, "logprobs": None, "finish_reason": None}
    ]
    assert parsed[0]["object"] == "text_completion" and parsed[0]["usage"] is None
    assert parsed[1]["choices"][0]["finish_reason"] == "stop"
    assert parsed[2]["choices"] == [] and parsed[2]["usage"] == {"total_tokens": 3}
    assert len({p["id"] for p in parsed}) == 1
    quiet = ChunkStream("name", include_usage=False)
    assert quiet.feed({"choices": [], "usage": {"total_tokens": 3}}) == []
    (plain,) = quiet.feed({"choices": [{"index": 2, "delta": {"content": "x"}}]})
    assert "usage" not in json.loads(plain.removeprefix(b"data: "))


def config(**settings) -> DriverConfig:
    return DriverConfig(
        provider_type="openai",
        base_url="https://api.example.com/v1",
        auth_method="bearer",
        config=settings,
    )


def test_the_pass_through_body_is_as_sent_and_streams_ask_for_usage():
    body = {"model": "alias", "prompt": "hi", "echo": True, "top_k": 3}
    assert build_completions_body(config(), body, "vendor-id", False) == {
        "model": "vendor-id",
        "prompt": "hi",
        "echo": True,
        "top_k": 3,
    }
    streamed = build_completions_body(
        config(), {**body, "stream": True}, "vendor-id", True
    )
    assert streamed["stream_options"] == {"include_usage": True}
    quiet = build_completions_body(
        config(stream_usage=False),
        {**body, "stream": True, "stream_options": {"include_usage": True}},
        "vendor-id",
        True,
    )
    assert "stream_options" not in quiet


def test_azure_names_the_deployment_where_its_surface_wants_it():
    body = {"model": "alias", "prompt": "hi", "stream": True}
    classic = build_azure_completions_body(
        config(deployments={"m": "dep"}), body, "m", True
    )
    assert "model" not in classic and "stream_options" not in classic
    v1 = build_azure_completions_body(
        config(deployments={"m": "dep"}, api_surface="v1"), body, "m", True
    )
    assert v1["model"] == "dep" and v1["stream_options"] == {"include_usage": True}


def test_the_stream_tracker_keeps_usage_and_knows_a_cut_stream():
    tracker = CompletionsTracker("vLLM")
    tracker.feed(RawEvent("message", {"choices": [{"text": "a"}]}, "{}"))
    with pytest.raises(DriverError) as cut:
        tracker.finish("vLLM")
    assert cut.value.status == 502 and cut.value.transient
    tracker.feed(
        RawEvent("message", {"choices": [], "usage": {"prompt_tokens": 2}}, "{}")
    )
    assert tracker.usage == {
        "prompt_tokens": 2,
        "completion_tokens": 0,
        "total_tokens": 2,
    }
    tracker.feed(DONE)
    tracker.finish("vLLM")  # complete
    with pytest.raises(DriverError) as failed:
        tracker.feed(RawEvent("message", {"error": {"type": "server_error"}}, "{}"))
    assert failed.value.status >= 500
