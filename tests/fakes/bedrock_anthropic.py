"""The Bedrock fake's native Anthropic body for Claude ids: ``/model/{id}/invoke``
and ``/invoke-with-response-stream``, as strict as the Anthropic fake.

The body is Anthropic's Messages body minus ``model`` and ``stream``, plus
``anthropic_version: "bedrock-2023-05-31"`` (required) and an optional
``anthropic_beta`` list; any other unknown key is refused the way Bedrock
words it ("extraneous key [x] is not permitted"), then the rest is checked by
``tests.fakes.anthropic.validate_body`` (thinking signatures, cache_control,
block order, tool pairing). Answers follow the Anthropic fake's conventions;
the stream is event-stream ``chunk`` messages whose ``bytes`` are the base64 of
one Anthropic event, an in-stream failure an exception message. SigV4 is
checked by the Bedrock fake's middleware before this runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from typing import Any

from aiohttp import web

from tests.fakes import anthropic as anthropic_fake
from tests.fakes import anthropic_features as features
from tests.fakes.anthropic_features import Invalid
from tests.fakes.bedrock import (
    CHAT_MODEL,
    FAIL_TYPES,
    Reject,
    exception_frame,
    frame,
    invalid,
)

BEDROCK_VERSION = "bedrock-2023-05-31"
ALLOWED = (anthropic_fake.TOP_LEVEL_FIELDS - {"model", "stream"}) | {
    "anthropic_version",
    "anthropic_beta",
}
CHUNK_HEADERS = {
    ":event-type": "chunk",
    ":content-type": "application/json",
    ":message-type": "event",
}


def _malformed(detail: str) -> Reject:
    return invalid(
        f"Malformed input request: #: {detail}, please reformat your input and try "
        "again."
    )


def anthropic_body(body: Any, model_id: str) -> dict[str, Any]:
    """The native body checked Bedrock's way, as the Anthropic body it stands for."""
    if not isinstance(body, dict):
        raise _malformed("expected type: JSONObject")
    if "anthropic_version" not in body:
        raise _malformed("required key [anthropic_version] not found")
    for key in body:
        if key not in ALLOWED:
            raise _malformed(f"extraneous key [{key}] is not permitted")
    if body["anthropic_version"] != BEDROCK_VERSION:
        raise invalid(f"Invalid API version: {body['anthropic_version']}")
    betas = body.get("anthropic_beta")
    if betas is not None and (
        not isinstance(betas, list) or not all(isinstance(b, str) for b in betas)
    ):
        raise _malformed("anthropic_beta: expected type: JSONArray of strings")
    bedrock_only = ("anthropic_version", "anthropic_beta")
    rest = {k: v for k, v in body.items() if k not in bedrock_only}
    return {"model": model_id, **rest}


def count_tokens(model_id: str, body: Any) -> web.Response:
    """``/model/{id}/count-tokens`` for ``{"input": {"invokeModel": {"body":
    <base64 of a native body>}}}``: the Anthropic fake's count of that body.
    Only bare Claude ids count: a cross-region profile is refused like Bedrock
    refuses it."""
    if model_id != CHAT_MODEL:
        raise invalid("The provided model doesn't support counting tokens.")
    if not isinstance(body, dict) or set(body) != {"input"}:
        raise invalid("input: Field required")
    given = body["input"]
    if not isinstance(given, dict) or set(given) != {"invokeModel"}:
        raise invalid("input: exactly one of invokeModel or converse is required")
    encoded = (
        given["invokeModel"].get("body")
        if isinstance(given["invokeModel"], dict)
        else None
    )
    try:
        native = json.loads(base64.b64decode(str(encoded), validate=True))
    except ValueError:
        raise invalid("input.invokeModel.body: invalid base64 JSON") from None
    anthropic = anthropic_body(native, model_id)
    try:
        anthropic_fake.validate_body(anthropic)
    except Invalid as exc:
        raise invalid(str(exc)) from None
    return web.json_response({"inputTokens": anthropic_fake.count_of(anthropic)})


async def invoke(
    request: web.Request, model_id: str, body: Any, stream: bool
) -> web.StreamResponse:
    app = request.app
    anthropic = anthropic_body(body, model_id)
    try:
        turns = anthropic_fake.validate_body(anthropic)
    except Invalid as exc:
        raise invalid(str(exc)) from None
    plan = anthropic_fake.plan_answer(anthropic, turns)
    if plan["kind"] == "fail":
        status = plan["status"]
        code = FAIL_TYPES.get(status, "InternalServerException")
        raise Reject(status, code, f"Simulated failure {status}")
    if plan["delay"]:
        await asyncio.sleep(plan["delay"])
    plan["cache"] = (0, 0)
    if features.check_cache_control(anthropic):
        plan["cache"] = features.cache_usage(anthropic, app["cache_seen"])
    plan["msg_id"] = "msg_bdrk_01" + secrets.token_hex(11)
    plan["tool_id"] = "toolu_bdrk_01" + secrets.token_hex(9)
    if not stream:
        message = anthropic_fake._message(app, anthropic, plan)
        usage = message["usage"]
        return web.json_response(
            message,
            headers={
                "x-amzn-RequestId": "req-fake-invoke",
                "X-Amzn-Bedrock-Input-Token-Count": str(usage["input_tokens"]),
                "X-Amzn-Bedrock-Output-Token-Count": str(usage["output_tokens"]),
            },
        )
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/vnd.amazon.eventstream",
            "X-Amzn-Bedrock-Content-Type": "application/json",
            "x-amzn-RequestId": "req-fake-invoke-stream",
        }
    )
    await response.prepare(request)

    async def emit(data: dict[str, Any]) -> None:
        if data["type"] == "error":
            message = str(data["error"]["message"])
            await response.write(exception_frame("modelStreamErrorException", message))
            return
        if data["type"] == "message_stop":
            metrics = {
                "inputTokenCount": anthropic_fake.INPUT_TOKENS,
                "outputTokenCount": anthropic_fake.OUTPUT_TOKENS,
                "invocationLatency": 12,
                "firstByteLatency": 5,
            }
            data = {**data, "amazon-bedrock-invocationMetrics": metrics}
        encoded = base64.b64encode(json.dumps(data).encode()).decode()
        payload = json.dumps({"bytes": encoded, "p": "abcdefgh"}).encode()
        await response.write(frame(CHUNK_HEADERS, payload))

    if await anthropic_fake.stream_events(request, emit, anthropic, plan):
        await response.write_eof()
    return response
