"""Broken vendor streams end with an error and are recorded as errors.

Each vendor's fake sends, mid-stream, an event the parser cannot read (a data
line that is not JSON; a Bedrock frame whose payload is cut, or of no known
type) and otherwise finishes normally, or drops the connection after some text.
The caller gets an error event, the usage record an error status, and the text
that was delivered counts as (estimated) output tokens.
"""

from __future__ import annotations

import openai
import pytest

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from tests.gateway import upstreams


@pytest.fixture(params=["openai", "azure", "bedrock"])
def vendor(request, gateway, world):
    with upstreams.start(request.param) as upstream:
        upstreams.register(upstream, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        yield upstream, sdk


def stream_until_error(sdk, model: str, prompt: str) -> tuple[str, Exception | None]:
    """The text received before the stream ended, and the error it ended with."""
    text, error = "", None
    stream = sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], stream=True
    )
    try:
        for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    except openai.APIError as exc:
        error = exc
    return text, error


def only_record() -> UsageRecord:
    usage.flush()
    records = list(UsageRecord.objects.all())
    assert len(records) == 1, records
    return records[0]


def test_a_malformed_event_ends_the_stream_with_an_error_recorded_as_502(vendor):
    upstream, sdk = vendor
    _text, error = stream_until_error(sdk, upstream.chat_model, "MALFORMED")
    assert error is not None, "the malformed event was skipped silently"
    assert "malformed" in str(error).lower()
    record = only_record()
    assert (record.status_code, record.error_type) == (502, "upstream_malformed")


def test_an_unknown_bedrock_event_ends_the_stream_with_an_error(gateway, world):
    with upstreams.start("bedrock") as upstream:
        upstreams.register(upstream, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        sdk = openai.OpenAI(base_url=gateway.v1, api_key=secret, max_retries=0)
        _text, error = stream_until_error(sdk, upstream.chat_model, "UNKNOWN EVENT")
    assert error is not None
    record = only_record()
    assert (record.status_code, record.error_type) == (502, "upstream_malformed")


def test_a_dropped_stream_is_an_error_with_the_delivered_output_counted(vendor):
    upstream, sdk = vendor
    text, error = stream_until_error(sdk, upstream.chat_model, "BREAK")
    assert error is not None and text, (text, error)
    record = only_record()
    assert record.status_code >= 500 and record.error_type
    assert record.usage_estimated
    assert record.output_tokens == -(-len(text) // 4) > 0
    assert record.input_tokens > 0


def test_a_complete_stream_keeps_the_vendors_own_counts(vendor):
    upstream, sdk = vendor
    text, error = stream_until_error(sdk, upstream.chat_model, "hello")
    assert error is None and text
    record = only_record()
    assert (record.status_code, record.usage_estimated) == (200, False)
    assert record.output_tokens > 0
