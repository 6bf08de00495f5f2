"""A json_schema whose root is not an object, where JSON output is emulated.

The emulation answers through a tool whose input is the schema, and a tool's
input is an object on Anthropic and Bedrock. Such a schema is refused by name
before anything goes upstream: not Anthropic's 400 about ``tools.0`` (a tool
the caller never sent), nor an answer that does not match the schema.
"""

from __future__ import annotations

import json

import openai
import pytest

from tests.gateway.test_structured_output import MESSAGES, serving

LIST = {
    "type": "json_schema",
    "json_schema": {
        "name": "cities",
        "schema": {"type": "array", "items": {"type": "string"}},
    },
}


@pytest.mark.parametrize(
    "setup", ["anthropic-emulated", "bedrock-claude", "bedrock-llama"]
)
@pytest.mark.parametrize("stream", [False, True])
def test_a_non_object_root_is_refused_by_name(setup, stream, gateway, world):
    with serving(setup, gateway, world) as (upstream, sdk, model):
        with pytest.raises(openai.BadRequestError) as refused:
            answer = sdk.chat.completions.create(
                model=model, messages=MESSAGES, response_format=LIST, stream=stream
            )
            if stream:
                list(answer)
        assert refused.value.param == "response_format.json_schema.schema"
        assert "root must be an object" in refused.value.message
        assert [r for r in upstream.requests if r.get("json")] == []


@pytest.mark.parametrize("setup", ["anthropic-native", "openai"])
def test_native_json_schema_keeps_a_non_object_root(setup, gateway, world):
    with serving(setup, gateway, world) as (_upstream, sdk, model):
        answer = sdk.chat.completions.create(
            model=model, messages=MESSAGES, response_format=LIST
        )
        assert isinstance(json.loads(answer.choices[0].message.content), list)
