"""ollama: error mapping (vendor error answers → DriverError)."""

from __future__ import annotations

import pytest

from providers.drivers.errors import DriverError
from providers.drivers.ollama.response import (
    parse_chat_response,
)
from tests.providers.drivers.ollama.support import body_for
from tests.providers.drivers.vectors import user


@pytest.mark.parametrize("args", ["{not json", "[1, 2]", '"text"'])
def test_invalid_tool_call_arguments_are_400_naming_the_param(args):
    msgs = [
        user("q"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "a",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                },
                {
                    "id": "b",
                    "type": "function",
                    "function": {"name": "g", "arguments": args},
                },
            ],
        },
    ]
    with pytest.raises(DriverError) as err:
        body_for({"messages": msgs})
    assert err.value.status == 400
    assert err.value.type == "invalid_request_error"
    assert err.value.param == "messages[1].tool_calls[1].function.arguments"


def test_error_in_200_body():
    with pytest.raises(DriverError) as err:
        parse_chat_response({"error": "boom"})
    assert err.value.status == 502
    assert "boom" in err.value.message
