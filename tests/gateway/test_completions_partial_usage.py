"""Translated completions with several prompts: one failing prompt must not
erase what the others spent.

Each prompt is its own chat call upstream; when one fails, the vendor has
already answered (and billed) the others. The attempt's usage record keeps
their tokens.
"""

from __future__ import annotations

import openai
import pytest

from gateway import usage
from gateway.models import UsageRecord
from tests.gateway.test_completions import serving


def test_a_failing_prompt_keeps_the_usage_of_the_answered_ones(gateway, world):
    with serving("anthropic", gateway, world) as (upstream, sdk, name):
        alone = sdk.completions.create(model=name, prompt="one")
        with pytest.raises(openai.InternalServerError):
            sdk.completions.create(model=name, prompt=["one", "FAIL 500"])
        assert len(upstream.requests) == 3  # "one" was answered twice
    usage.flush()
    failed = UsageRecord.objects.get(status_code__gte=500)
    assert failed.endpoint == "completions"
    assert failed.input_tokens == alone.usage.prompt_tokens
    assert failed.output_tokens == alone.usage.completion_tokens
