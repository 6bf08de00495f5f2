"""Vectors for the canonical builders and the shared image helpers."""

from __future__ import annotations

import pytest

from providers.drivers.canonical import (
    append_turn,
    assistant_message,
    embeddings_list,
    parse_tool_arguments,
)
from providers.drivers.errors import DriverError
from providers.drivers.images import image_data_url, image_refs, sniff_image_type

PARAM = "messages[1].tool_calls[0].function.arguments"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, {}), ("", {}), ("  ", {}), ({"a": 1}, {"a": 1}), ('{"a": 1}', {"a": 1})],
)
def test_tool_arguments_parse_to_an_object(raw: object, expected: object) -> None:
    assert parse_tool_arguments(raw, PARAM) == expected


@pytest.mark.parametrize("raw", ["{oops", "[1, 2]", '"text"', 42, [1]])
def test_bad_tool_arguments_are_400_naming_the_param(raw: object) -> None:
    with pytest.raises(DriverError) as err:
        parse_tool_arguments(raw, PARAM)
    assert (err.value.status, err.value.param) == (400, PARAM)


def test_image_refs_name_the_content_part_of_user_messages_only() -> None:
    part = {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
    request = {
        "messages": [
            "not a message",
            {"role": "assistant", "content": [part]},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, part]},
            {"role": "user", "content": [{"type": "image_url", "image_url": "data:x"}]},
        ]
    }
    assert image_refs(request) == [
        ("https://x.test/a.png", "messages[2].content[1].image_url.url")
    ]


def test_image_data_urls_are_checked_and_cleaned() -> None:
    assert image_data_url("data:image/png;base64,QU\nJD", "p") == ("image/png", "QUJD")
    assert image_data_url("https://x.test/a.png", "p") is None
    with pytest.raises(DriverError) as err:
        image_data_url("data:image/png;base64,!!", "p")
    assert (err.value.status, err.value.param) == (400, "p")


def test_magic_bytes_name_the_image_type() -> None:
    assert sniff_image_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert sniff_image_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_image_type(b"GIF89a") == "image/gif"
    assert sniff_image_type(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff_image_type(b"<html>") is None


def test_same_role_turns_merge_and_empty_ones_vanish() -> None:
    turns: list[dict[str, object]] = []
    append_turn(turns, "user", [{"text": "a"}])
    append_turn(turns, "user", [{"text": "b"}])
    append_turn(turns, "model", [], "parts")
    assert turns == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]


def test_content_is_null_only_beside_tool_calls() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}
    assert assistant_message("", [])["content"] == ""
    assert assistant_message("", [call])["content"] is None
    assert assistant_message("x", [call], "why")["reasoning_content"] == "why"


def test_embeddings_list_encodes_base64_on_request() -> None:
    out = embeddings_list([[0.5]], "m", 3, "base64")
    assert out["data"][0]["embedding"] == "AAAAPw=="
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
