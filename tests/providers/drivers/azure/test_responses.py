"""The Azure driver with ``wire_api: responses``: the v1 surface's /responses."""

from __future__ import annotations

from typing import Any

from openai.types.responses import Response

from providers.drivers.azure.driver import AzureOpenAIDriver
from tests.providers.drivers.azure.support import (
    TOOLS,
    collect,
    expect_error,
    text_of,
    with_driver,
)
from tests.providers.drivers.vectors import user

RESPONSES = {"wire_api": "responses", "deployments": {"gpt-4o-mini": "chat-prod"}}


def test_chat_goes_to_the_v1_responses_route_with_the_deployment() -> None:
    async def go(driver: AzureOpenAIDriver) -> Any:
        return await driver.chat({"messages": [user("hi")]}, "gpt-4o-mini")

    answer, requests = with_driver(go, **RESPONSES)
    (request,) = requests
    assert request["path"] == "/openai/v1/responses" and request["query"] == {}
    assert request["headers"]["api-key"] == "azure-test-key"
    assert request["json"]["model"] == "chat-prod"
    assert request["json"]["store"] is False
    assert answer["choices"][0]["message"]["content"] == "Hello from azure: hi"


def test_a_streamed_tool_call_and_text() -> None:
    async def go(driver: AzureOpenAIDriver) -> Any:
        text = await collect(driver, {"messages": [user("hi")]}, "gpt-4o-mini")
        tools = await collect(
            driver, {"messages": [user("weather?")], "tools": TOOLS}, "gpt-4o-mini"
        )
        return text, tools

    (text, tools), _ = with_driver(go, **RESPONSES)
    assert text_of(text) == "Hello from azure: hi"
    assert tools[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_the_pass_through_keeps_the_body_and_names_the_deployment() -> None:
    body = {"input": "hi", "include": ["reasoning.encrypted_content"], "store": False}

    async def go(driver: AzureOpenAIDriver) -> Any:
        assert driver.accepts_responses_raw("reasoner")
        return await driver.responses_raw(body, "reasoner")

    answer, requests = with_driver(go, wire_api="responses")
    assert requests[0]["json"] == {**body, "model": "reasoner"}
    Response.model_validate(answer.body)
    assert answer.body["output"][0]["encrypted_content"].startswith("enc_")


def test_azure_errors_keep_azures_mapping() -> None:
    err = expect_error(
        lambda d: d.chat({"messages": [user("hi")]}, "missing"), wire_api="responses"
    )
    assert (err.status, err.code) == (502, "upstream_model_not_found")
    assert "deployment for this resource does not exist" in err.message
    err = expect_error(
        lambda d: d.chat({"messages": [user("FAIL 429")]}, "gpt-4o-mini"),
        **RESPONSES,
    )
    assert (err.status, err.retry_after) == (429, 7)
