"""Responses create bodies translated to canonical Chat Completions (pure)."""

from __future__ import annotations

import re
from typing import Any

import pydantic
import pytest
from openai.types.responses import ResponseItem

from gateway.errors import GatewayError
from gateway.responses.request import input_items, to_canonical
from gateway.validation import validate_chat

PDF = "JVBERi0xLjQK"
ITEM_ID = re.compile(r"^(msg|fc|rs)_[0-9a-f]{48}$")


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-x", "input": "Hi", **extra}


def translate(
    value: dict[str, Any], history: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    out = to_canonical(value, history)
    validate_chat(out)  # every translation is a body the canonical path accepts
    return out


def refused(value: dict[str, Any], param: str | None) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        to_canonical(value)
    assert caught.value.status == 400
    assert caught.value.type == "invalid_request_error"
    assert caught.value.param == param
    return caught.value


def call(call_id: str = "call_1", name: str = "get_weather") -> dict[str, Any]:
    return {
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": '{"city":"Paris"}',
    }


def test_a_string_input_is_one_user_message() -> None:
    assert translate(body()) == {
        "model": "gpt-x",
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_instructions_lead_and_history_comes_before_input() -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Earlier"},
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Answer", "annotations": []}],
        },
    ]
    out = translate(body(instructions="Be brief."), history)
    assert out["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Earlier"},
        {"role": "assistant", "content": "Answer"},
        {"role": "user", "content": "Hi"},
    ]


def test_message_roles_and_parts() -> None:
    items = [
        {"type": "message", "role": "developer", "content": "Rules."},
        {"role": "system", "content": [{"type": "input_text", "text": "Sys."}]},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Look"},
                {
                    "type": "input_image",
                    "image_url": "https://x.test/a.png",
                    "detail": "low",
                },
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                {
                    "type": "input_file",
                    "filename": "a.pdf",
                    "file_data": f"data:application/pdf;base64,{PDF}",
                },
                {"type": "input_file", "file_data": PDF},
            ],
        },
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
    ]
    out = translate(body(input=items))
    assert out["messages"] == [
        {"role": "developer", "content": "Rules."},
        {"role": "system", "content": [{"type": "text", "text": "Sys."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                },
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AAAA"},
                },
                {
                    "type": "file",
                    "file": {
                        "file_data": f"data:application/pdf;base64,{PDF}",
                        "filename": "a.pdf",
                    },
                },
                {
                    "type": "file",
                    "file": {
                        "file_data": f"data:application/pdf;base64,{PDF}",
                        "filename": "document.pdf",
                    },
                },
            ],
        },
        {"role": "assistant", "content": "", "refusal": "No."},
    ]


def test_function_calls_merge_and_outputs_become_tool_messages() -> None:
    items = [
        {"role": "user", "content": "Weather?"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"role": "assistant", "content": "Checking."},
        call("call_1"),
        {"type": "reasoning", "id": "rs_2", "summary": []},
        call("call_2", "get_time"),
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": [
                {"type": "input_text", "text": "noon"},
                {"type": "input_image", "image_url": "https://x.test/clock.png"},
            ],
        },
        call("call_3"),
    ]
    out = translate(body(input=items))
    assert out["messages"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city":"Paris"}',
                    },
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"city":"Paris"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://x.test/clock.png"}}
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_3",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city":"Paris"}',
                    },
                },
            ],
        },
    ]


def test_parameters_map_to_canonical_fields() -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "Weather",
        "parameters": {"type": "object", "properties": {}},
        "strict": True,
    }
    out = translate(
        body(
            tools=[tool],
            tool_choice={"type": "function", "name": "get_weather"},
            parallel_tool_calls=False,
            max_output_tokens=100,
            temperature=0.5,
            top_p=0.9,
            text={
                "format": {
                    "type": "json_schema",
                    "name": "w",
                    "schema": {"type": "object"},
                    "strict": True,
                },
                "verbosity": "low",
            },
            reasoning={"effort": "low", "summary": None},
            metadata={"k": "v"},
            store=False,
            truncation="auto",
            include=["reasoning.encrypted_content"],
            user="u1",
            safety_identifier="s1",
            prompt_cache_key="p1",
            service_tier="auto",
            previous_response_id="resp_1",
            background=False,
            stream=True,
            stream_options={"include_obfuscation": False},
        )
    )
    assert out == {
        "model": "gpt-x",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 100,
        "temperature": 0.5,
        "top_p": 0.9,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": {"type": "object", "properties": {}},
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "verbosity": "low",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
        },
        "reasoning_effort": "low",
        "user": "u1",
        "safety_identifier": "s1",
        "prompt_cache_key": "p1",
        "service_tier": "auto",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    ("choice", "canonical"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        (
            {
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "f"}],
            },
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "f"}}],
                },
            },
        ),
    ],
)
def test_tool_choices(choice: Any, canonical: Any) -> None:
    tools = [{"type": "function", "name": "f"}]
    assert translate(body(tools=tools, tool_choice=choice))["tool_choice"] == canonical


@pytest.mark.parametrize("kind", ["text", "json_object"])
def test_plain_text_formats(kind: str) -> None:
    assert translate(body(text={"format": {"type": kind}}))["response_format"] == {
        "type": kind
    }


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"model": None}, "model"),
        ({"input": []}, "input"),
        ({"input": None, "instructions": "only"}, "input"),
        ({"input": 3}, "input"),
        ({"input": ["x"]}, "input[0]"),
        ({"input": [{"content": "x"}]}, "input[0].type"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user"}]}, "input[0].content"),
        (
            {
                "input": [
                    {"role": "user", "content": [{"type": "output_text", "text": "x"}]}
                ]
            },
            "input[0].content[0].type",
        ),
        (
            {
                "input": [
                    {
                        "role": "system",
                        "content": [
                            {"type": "input_image", "image_url": "https://x.test/a.png"}
                        ],
                    }
                ]
            },
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "assistant", "content": [{"type": "input_image"}]}]},
            "input[0].content[0].type",
        ),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [{"type": "input_image", "file_id": "file-1"}],
                    }
                ]
            },
            "input[0].content[0].file_id",
        ),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [{"type": "input_image", "image_url": ""}],
                    }
                ]
            },
            "input[0].content[0].image_url",
        ),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "input_image",
                                "image_url": "https://x.test/a.png",
                                "detail": "original",
                            }
                        ],
                    }
                ]
            },
            "input[0].content[0].detail",
        ),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [{"type": "input_file", "file_id": "file-1"}],
                    }
                ]
            },
            "input[0].content[0].file_id",
        ),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_file", "file_url": "https://x.test/a.pdf"}
                        ],
                    }
                ]
            },
            "input[0].content[0].file_url",
        ),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "input_file",
                                "file_data": "data:text/plain;base64,AAAA",
                            }
                        ],
                    }
                ]
            },
            "input[0].content[0].file_data",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "input[0].content[0].type",
        ),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input[0].type"),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f"}]},
            "input[0].arguments",
        ),
        (
            {
                "input": [
                    {"type": "function_call_output", "call_id": "nope", "output": "x"}
                ]
            },
            "input[0].call_id",
        ),
        (
            {"input": [call(), {"type": "function_call_output", "call_id": "call_1"}]},
            "input[1].output",
        ),
        ({"instructions": 3}, "instructions"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        (
            {"tools": [{"type": "function", "name": "f"}, {"type": "file_search"}]},
            "tools[1].type",
        ),
        ({"tools": [{"type": "custom", "name": "c"}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name"),
        (
            {"tools": [{"type": "function", "name": "f", "function": {}}]},
            "tools[0].function",
        ),
        ({"tool_choice": "any"}, "tool_choice"),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice.type"),
        ({"tool_choice": {"type": "function"}}, "tool_choice.name"),
        (
            {
                "tool_choice": {
                    "type": "allowed_tools",
                    "mode": "auto",
                    "tools": [{"type": "mcp"}],
                }
            },
            "tool_choice.tools[0].type",
        ),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls"),
        ({"max_output_tokens": 15}, "max_output_tokens"),
        ({"max_output_tokens": 1.5}, "max_output_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": -1}, "top_p"),
        ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
        (
            {"text": {"format": {"type": "json_schema", "name": "x"}}},
            "text.format.schema",
        ),
        (
            {"text": {"format": {"type": "json_schema", "schema": {}}}},
            "text.format.name",
        ),
        ({"text": {"verbosity": "loud"}}, "text.verbosity"),
        ({"reasoning": {"summary": "auto"}}, "reasoning.summary"),
        ({"reasoning": {"generate_summary": "concise"}}, "reasoning.generate_summary"),
        ({"reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"reasoning": {"budget": 3}}, "reasoning.budget"),
        ({"metadata": {str(i): "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k"),
        ({"metadata": {"k": 1}}, "metadata.k"),
        ({"store": "no"}, "store"),
        ({"truncation": "middle"}, "truncation"),
        ({"include": ["output.everything"]}, "include[0]"),
        ({"include": [["reasoning.encrypted_content"]]}, "include[0]"),
        ({"include": [{"a": 1}]}, "include[0]"),
        ({"user": 5}, "user"),
        ({"service_tier": 5}, "service_tier"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options.include_usage"),
        ({"previous_response_id": 5}, "previous_response_id"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"max_tool_calls": 3}, "max_tool_calls"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"frobnicate": 1}, "frobnicate"),
    ],
)
def test_it_refuses_naming_the_field(extra: dict[str, Any], param: str) -> None:
    refused(body(**extra), param)


def test_built_in_tools_are_refused_with_the_reason() -> None:
    err = refused(body(tools=[{"type": "code_interpreter"}]), "tools[0].type")
    assert str(err) == (
        "Tools of type 'code_interpreter' is only available on providers that use "
        "OpenAI's Responses API."
    )
    err = refused(body(reasoning={"summary": "auto"}), "reasoning.summary")
    assert str(err) == "reasoning.summary is not supported for this model."
    err = refused(body(frobnicate=1), "frobnicate")
    assert str(err) == "Unknown parameter: 'frobnicate'."
    assert err.code == "unknown_parameter"


def test_input_items_list_every_item_with_an_id() -> None:
    items = input_items(body())
    assert len(items) == 1
    assert ITEM_ID.match(items[0].pop("id"))
    assert items == [
        {
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_text", "text": "Hi"}],
        }
    ]
    sent = [
        {
            "role": "user",
            "content": [{"type": "input_image", "image_url": "https://x.test/a.png"}],
        },
        {"id": "msg_given", "role": "assistant", "content": "Sure."},
        call(),
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    listed = input_items(body(input=sent))
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseItem)
    for item in listed:
        adapter.validate_python(item)
    assert listed[1] == {
        "id": "msg_given",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Sure.", "annotations": []}],
    }
    assert listed[0]["content"] == [
        {"type": "input_image", "detail": "auto", "image_url": "https://x.test/a.png"}
    ]
    assert [item["type"] for item in listed] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
    ]
    assert listed[2]["id"].startswith("fc_") and listed[2]["status"] == "completed"
    assert listed[3]["output"] == "sunny" and listed[3]["call_id"] == "call_1"


def test_stored_items_and_output_items_are_valid_history() -> None:
    """What the gateway stores (listed input, then output) translates again."""
    first = body(
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": "https://x.test/a.png"}
                ],
            },
        ]
    )
    output = [
        {
            "id": "rs_1",
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "Hm"}],
        },
        {
            "id": "msg_1",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "annotations": [],
                    "logprobs": [],
                    "text": "Checking.",
                }
            ],
        },
        {"id": "fc_1", "type": "function_call", "status": "completed", **call()},
    ]
    second = body(
        input=[{"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]
    )
    out = translate(second, input_items(first) + output)
    assert [m["role"] for m in out["messages"]] == ["user", "user", "assistant", "tool"]
    assert out["messages"][2]["content"] == "Checking."
    assert out["messages"][2]["tool_calls"][0]["id"] == "call_1"
    assert out["messages"][1]["content"] == [
        {
            "type": "image_url",
            "image_url": {"url": "https://x.test/a.png", "detail": "auto"},
        }
    ]


@pytest.mark.parametrize("item", [[1], {"a": 1}, 3, None])
def test_an_include_entry_that_is_not_a_string_is_a_400(item: Any) -> None:
    # Found by the field fuzz (tests/gateway/test_bad_input.py): a list entry
    # was looked up in a set and raised TypeError, a 500.
    with pytest.raises(GatewayError) as refused:
        to_canonical({"model": "m", "input": "hi", "include": [item]})
    assert refused.value.status == 400 and refused.value.param == "include[0]"
