"""Tools that are not functions, beside an emulated JSON mode or forced call.

Where forcing is native the vendor's translation refuses a ``custom`` tool
(400 naming ``tools[0].type``); where it is emulated the tool must reach the
same refusal, not be dropped from the request without a word.
"""

from __future__ import annotations

import openai
import pytest

from tests.gateway.test_structured_output import MESSAGES, serving

CUSTOM = [{"type": "custom", "custom": {"name": "grammar_tool"}}]


@pytest.mark.parametrize("setup", ["bedrock-llama", "bedrock-claude"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_custom_tool_beside_json_mode_is_refused_not_dropped(
    setup, stream, gateway, world
):
    with serving(setup, gateway, world) as (upstream, sdk, model):
        with pytest.raises(openai.BadRequestError) as refused:
            answer = sdk.chat.completions.create(
                model=model,
                messages=MESSAGES,
                tools=CUSTOM,
                response_format={"type": "json_object"},
                stream=stream,
            )
            if stream:
                list(answer)
        assert refused.value.param == "tools[0].type"
        assert [r for r in upstream.requests if r.get("json")] == []
