"""Forced tool choice without tools, on the vendors where it is emulated.

OpenAI refuses ``tool_choice`` ``required`` (or ``allowed_tools`` in required
mode) when the request declares no tools: a 400 naming ``tool_choice``. The
emulation must refuse it too, before anything goes upstream, rather than ask
the vendor for a call to no tool and answer its failure with a 502.
"""

from __future__ import annotations

import openai
import pytest

from tests.gateway.test_structured_output import MESSAGES, serving


@pytest.mark.parametrize("setup", ["bedrock-llama", "ollama"])
@pytest.mark.parametrize("stream", [False, True])
def test_required_without_tools_is_a_400_before_the_vendor(
    setup, stream, gateway, world
):
    with serving(setup, gateway, world) as (upstream, sdk, model):
        with pytest.raises(openai.BadRequestError) as refused:
            answer = sdk.chat.completions.create(
                model=model, messages=MESSAGES, tool_choice="required", stream=stream
            )
            if stream:
                list(answer)
        assert refused.value.status_code == 400
        assert refused.value.param == "tool_choice"
        assert [r for r in upstream.requests if r.get("json")] == []
