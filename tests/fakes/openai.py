"""A fake OpenAI API (and OAuth2 token endpoint) for driver tests.

``make_app(api_key=..., prefix="/v1", oauth=..., quirks=...)`` serves
``POST {prefix}/chat/completions``, ``POST {prefix}/responses``
(``openai_responses.py``), ``POST {prefix}/completions``
(``openai_completions.py``: OpenAI itself serves only its completion models
there; another ``vendor``, like vLLM, any model it lists), ``GET {prefix}/models``,
``POST {prefix}/embeddings`` and, with ``oauth={"client_id", "client_secret",
"expires_in"}``, ``POST /oauth/token`` (client credentials). Requests are
validated like OpenAI does (bearer key, required fields, roles, tool-call
pairing, unknown fields, ``stream_options`` only with ``stream``) and answered
with OpenAI's shapes. Behaviour follows the shared convention keyed on the last
user message (FAIL n, SLOW s, BREAK, STREAM ERROR, LENGTH, tools, tool results).

``quirks`` imitates compatible servers: ``comments`` (SSE comments and blank
data lines), ``no_role``, ``finish_with_content``, ``usage_on_last_chunk``,
``tool_repeat`` (tool deltas repeat id/name and omit type), ``finish_error``
(finish_reason "error"), ``no_done``, ``reject_stream_options``, ``json_stream``
(answers a stream request with one JSON body), ``ignore_base64``.
``chunk_delay`` pauses that many seconds after each streamed chunk (a reply a
browser can watch grow); a completions stream the client leaves notes
``app["events"]["cancelled_at"]``. ``cached_tokens`` reports a cached prompt prefix of
that many tokens in every chat answer's usage.
The Azure fake reuses the helpers below.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import struct
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes import schemas

CHAT_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature",
        "top_p", "n", "stream", "stream_options", "stop", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "seed", "user", "presence_penalty",
        "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
        "reasoning_effort", "metadata", "store", "service_tier", "modalities",
        "audio", "prediction", "web_search_options", "verbosity",
        "prompt_cache_key", "safety_identifier", "functions", "function_call",
    }
)  # fmt: skip
EMBED_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "o3-mini", "text-embedding-3-small")
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
USAGE: dict[str, Any] = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
TOOL_ARGS = ('{"city": ', '"Paris"}')


def usage_for(cached_tokens: int = 0) -> dict[str, Any]:
    """``USAGE`` with a cached prompt prefix of ``cached_tokens`` on top of the 11.

    As OpenAI reports it: ``prompt_tokens`` includes the cached tokens.
    """
    return {
        **USAGE,
        "prompt_tokens": USAGE["prompt_tokens"] + cached_tokens,
        "total_tokens": USAGE["total_tokens"] + cached_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
    }


def error(
    status: int,
    message: str,
    type: str | None = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def record(request: web.Request, body: Any) -> None:
    request.app["requests"].append(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "json": body,
        }
    )


async def read_json(request: web.Request) -> Any:
    """The JSON body, or raise the 400 OpenAI gives for an unparsable one."""
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    record(request, body)
    if not request.content_type.startswith("application/json") or not isinstance(
        body, dict
    ):
        raise web.HTTPBadRequest(
            text=json.dumps(
                {
                    "error": {
                        "message": "We could not parse the JSON body of your "
                        "request. (HINT: This likely means you aren't using your "
                        "HTTP library correctly.)",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                }
            ),
            content_type="application/json",
        )
    return body


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content")).strip()
    return ""


def validate_messages(
    messages: Any, roles: Iterable[str] = ROLES
) -> web.Response | None:
    """OpenAI's checks on ``messages`` (shape, roles, tool-call pairing)."""
    roles = tuple(roles)
    if not isinstance(messages, list):
        return error(
            400,
            f"Invalid type for 'messages': expected an array, but got "
            f"{type(messages).__name__} instead.",
            param="messages",
            code="invalid_type",
        )
    if not messages:
        return error(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum "
            "length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    open_calls: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in roles:
            supported = ", ".join(f"'{r}'" for r in roles)
            return error(
                400,
                f"Invalid value: '{role}'. Supported values are: {supported}.",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not call_id:
                return error(
                    400,
                    "Missing parameter 'tool_call_id': messages with role 'tool' "
                    "must have a 'tool_call_id'.",
                    param=f"messages.[{i}].tool_call_id",
                )
            if call_id not in open_calls:
                return error(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a "
                    "response to a preceeding message with 'tool_calls'.",
                    param=f"messages.[{i}].role",
                )
            open_calls.discard(call_id)
            continue
        if open_calls:
            return error(
                400,
                "An assistant message with 'tool_calls' must be followed by tool "
                "messages responding to each 'tool_call_id'. The following "
                f"tool_call_ids did not have response messages: "
                f"{', '.join(sorted(open_calls))}",
                param=f"messages.[{i}].role",
            )
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                open_calls.add(str(call.get("id")))
        elif "content" not in message:
            return error(
                400,
                f"Missing required parameter: 'messages[{i}].content'.",
                param=f"messages[{i}].content",
                code="missing_required_parameter",
            )
    return None


def validate_chat(
    body: dict[str, Any],
    *,
    require_model: bool = True,
    fields: frozenset[str] = CHAT_FIELDS,
    roles: Iterable[str] = ROLES,
) -> web.Response | None:
    """The 400s OpenAI gives for a malformed chat request, or None."""
    for name in body:
        if name not in fields:
            return error(400, f"Unrecognized request argument supplied: {name}")
    if require_model and not body.get("model"):
        return error(400, "you must provide a model parameter")
    if "messages" not in body:
        return error(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if "stream_options" in body and not body.get("stream"):
        return error(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    for name in ("max_tokens", "max_completion_tokens", "n", "seed"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or value < 0):
            return error(
                400,
                f"Invalid type for '{name}': expected an integer.",
                param=name,
                code="invalid_type",
            )
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(function, dict):
            return error(400, "Invalid 'tools': expected function tools.", "tools")
        if not function.get("name"):
            return error(
                400,
                "Missing required parameter: 'tools[0].function.name'.",
                param="tools[0].function.name",
                code="missing_required_parameter",
            )
    problem = check_response_format(body)
    if problem is not None:
        return problem
    return validate_messages(body["messages"], roles)


def check_response_format(body: dict[str, Any]) -> web.Response | None:
    """OpenAI's checks of ``response_format`` (json_schema needs a valid schema
    and a name; json_object needs the word "json" in the messages)."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not spec.get("name"):
            return error(
                400,
                "Missing required parameter: 'response_format.json_schema.name'.",
                param="response_format.json_schema.name",
                code="missing_required_parameter",
            )
        problem = schemas.check(spec.get("schema"))
        if problem:
            return error(
                400,
                f"Invalid schema for response_format '{spec['name']}': {problem}",
                param="response_format",
                code="invalid_json_schema",
            )
    elif kind == "json_object":
        if "json" not in json.dumps(body.get("messages")).lower():
            return error(
                400,
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
                param="messages",
            )
    elif kind != "text":
        return error(
            400, "Invalid value for 'response_format.type'.", "response_format"
        )
    return None


@dataclass
class Reply:
    """What the fake answers: text, an optional tool call, the finish reason."""

    text: str
    tool_name: str | None = None
    arguments: tuple[str, ...] = TOOL_ARGS
    finish: str = "stop"
    slow: float = 0.0
    brk: bool = False
    stream_error: bool = False
    malformed: bool = False


def plan_reply(body: dict[str, Any], vendor: str) -> Reply | tuple[int, str]:
    """The shared convention; ``(status, text)`` means FAIL <status>."""
    messages = body["messages"]
    text = last_user_text(messages)
    upper = text.upper()
    slow = 0.0
    if upper.startswith("FAIL "):
        return int(text.split()[1]), text
    if upper.startswith("SLOW "):
        slow = float(text.split()[1])
    if messages[-1].get("role") == "tool":
        result = text_of(messages[-1].get("content"))
        return Reply(f"The tool said: {result}", slow=slow)
    fmt = body.get("response_format") or {}
    if body.get("tools") and body.get("tool_choice") != "none":
        # A forced choice is honoured: the named tool, else the first one.
        wanted = (
            (body.get("tool_choice") or {})
            if isinstance(body.get("tool_choice"), dict)
            else {}
        )
        name = (wanted.get("function") or {}).get("name")
        tool = next(
            (t for t in body["tools"] if t["function"]["name"] == name),
            body["tools"][0],
        )["function"]
        args = json.dumps(schemas.tool_input(tool.get("parameters")))
        half = len(args) // 2
        return Reply(
            "Checking.",
            tool_name=tool["name"],
            arguments=(args[:half], args[half:]),
            slow=slow,
        )
    if fmt.get("type") == "json_schema":
        return Reply(json.dumps(schemas.sample(fmt["json_schema"]["schema"])))
    if fmt.get("type") == "json_object":
        return Reply(json.dumps({"answer": "Paris"}))
    if upper == "BREAK":
        return Reply(f"Hello from {vendor}: {text}", brk=True)
    if upper == "STREAM ERROR":
        return Reply(f"Hello from {vendor}: {text}", stream_error=True)
    if upper == "MALFORMED":
        # A data line that is not JSON mid-stream; the rest of it is fine.
        return Reply(f"Hello from {vendor}: {text}", malformed=True)
    if upper == "LENGTH":
        return Reply(f"Hello from {vendor}: cut", finish="length", slow=slow)
    return Reply(f"Hello from {vendor}: {text}", slow=slow)


def openai_failure(status: int) -> web.Response:
    """OpenAI's real error answers for FAIL <status>."""
    if status == 429:
        return error(
            429,
            "Rate limit reached for gpt-4o-mini in organization org-fake on "
            "requests per min (RPM): Limit 3, Used 3, Requested 1. Please try "
            "again in 7s.",
            type="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": "7"},
        )
    if status == 401:
        return error(
            401,
            "Incorrect API key provided: sk-fa***ey. You can find your API key "
            "at https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    if status == 503:
        return error(
            503,
            "The engine is currently overloaded, please try again later.",
            type="server_error",
        )
    if status >= 500:
        return error(
            status,
            "The server had an error while processing your request. Sorry about that!",
            type="server_error",
        )
    return error(status, "Invalid request (FAIL).", param="messages")


def split_text(text: str, parts: int = 3) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def completion(reply: Reply, model: str, cached_tokens: int = 0) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text,
        "refusal": None,
        "annotations": [],
    }
    finish = reply.finish
    if reply.tool_name:
        finish = "tool_calls"
        message["tool_calls"] = [
            {
                "id": new_call_id(),
                "type": "function",
                "function": {
                    "name": reply.tool_name,
                    "arguments": "".join(reply.arguments),
                },
            }
        ]
    return {
        "id": "chatcmpl-" + secrets.token_hex(8),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        ],
        "usage": usage_for(cached_tokens),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def chunk_events(
    reply: Reply, quirks: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The per-choice parts of OpenAI's chunk sequence (choices lists)."""
    choices: list[dict[str, Any]] = []

    def add(delta: dict[str, Any], finish: str | None = None) -> None:
        choices.append(
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        )

    if "no_role" not in quirks:
        add({"role": "assistant", "content": "", "refusal": None})
    for piece in split_text(reply.text):
        add({"content": piece})
    finish = reply.finish
    if reply.tool_name:
        finish = "tool_calls"
        call_id = new_call_id()
        start = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": reply.tool_name, "arguments": ""},
        }
        add({"tool_calls": [start]})
        for fragment in reply.arguments:
            call: dict[str, Any] = {"index": 0, "function": {"arguments": fragment}}
            if "tool_repeat" in quirks:
                call = {
                    "index": 0,
                    "id": call_id,
                    "function": {"name": reply.tool_name, "arguments": fragment},
                }
            add({"tool_calls": [call]})
    if "finish_error" in quirks:
        finish = "error"
    if "finish_with_content" in quirks:
        choices[-1]["finish_reason"] = finish
    else:
        add({}, finish)
    return choices


async def stream_reply(
    request: web.Request,
    reply: Reply,
    model: str,
    include_usage: bool,
    quirks: frozenset[str] = frozenset(),
    *,
    azure: bool = False,
    delay: float = 0.0,
    cached_tokens: int = 0,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    envelope = {
        "id": "chatcmpl-" + secrets.token_hex(8),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
    }

    async def send(payload: dict[str, Any] | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        await response.write(f"data: {data}\n\n".encode())

    if "comments" in quirks:
        await response.write(b": OPENROUTER PROCESSING\n\n")
        await response.write(b"data: \n\n")
    if azure:
        await send(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [
                    {"prompt_index": 0, "content_filter_results": {}}
                ],
            }
        )
    choices = chunk_events(reply, quirks)
    for n, choice in enumerate(choices):
        if "comments" in quirks and n == 2:
            await response.write(b": keep-alive\n\n")
        if azure and n > 0:
            choice = {**choice, "content_filter_results": {"hate": {"filtered": False}}}
        chunk = {**envelope, "choices": [choice]}
        if include_usage:
            chunk["usage"] = None
            if "usage_on_last_chunk" in quirks and n == len(choices) - 1:
                chunk["usage"] = usage_for(cached_tokens)
        await send(chunk)
        if delay:
            await asyncio.sleep(delay)
        if reply.malformed and n == 1:
            await response.write(b'data: {"choices": [{"index": 0, "delta": {"con\n\n')
        if reply.brk and n == 2:
            # Two text chunks sent: drop the connection without ending the body.
            assert request.transport is not None
            request.transport.abort()
            return response
        if reply.stream_error and n == 1:
            await send(
                {
                    "error": {
                        "message": "The server had an error while processing your "
                        "request. Sorry about that!",
                        "type": "server_error",
                        "param": None,
                        "code": None,
                    }
                }
            )
            await response.write_eof()
            return response
    if azure:
        await send(
            {
                **envelope,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": None,
                        "content_filter_offsets": {"check_offset": 0},
                        "content_filter_results": {"hate": {"filtered": False}},
                    }
                ],
            }
        )
    if include_usage and "usage_on_last_chunk" not in quirks:
        await send({**envelope, "choices": [], "usage": usage_for(cached_tokens)})
    if "no_done" not in quirks:
        await send("[DONE]")
    await response.write_eof()
    return response


def embedding_vector(item: Any) -> list[float]:
    """Deterministic 4-dim vector (exact in float32) for one input item."""
    digest = hashlib.sha256(json.dumps(item).encode()).digest()
    return [(b - 128) / 128 for b in digest[:4]]


def embeddings_answer(
    inputs: list[Any], model: str, encoding: str, dimensions: int | None = None
) -> dict[str, Any]:
    data = []
    for i, item in enumerate(inputs):
        vector: Any = embedding_vector(item)[: dimensions or 4]
        if encoding == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vector})
    tokens = sum(len(str(item).split()) for item in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def embedding_inputs(value: Any) -> list[Any] | None:
    """The input as a list of items, or None when OpenAI would reject it."""
    if isinstance(value, str):
        return [value] if value else None
    if isinstance(value, list) and value:
        if all(isinstance(v, str) and v for v in value):
            return value
        if all(isinstance(v, int) for v in value):
            return [value]
        if all(
            isinstance(v, list) and v and all(isinstance(t, int) for t in v)
            for v in value
        ):
            return value
    return None


def new_app(**state: Any) -> web.Application:
    """An application with string-keyed state (the shared ``app["requests"]``)."""
    app = web.Application()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        for key, value in state.items():
            app[key] = value
    return app


def make_app(
    *,
    api_key: str | None = "sk-test-key",
    prefix: str = "/v1",
    models: Iterable[str] = DEFAULT_MODELS,
    oauth: dict[str, Any] | None = None,
    quirks: Iterable[str] = (),
    vendor: str = "openai",
    chunk_delay: float = 0.0,
    cached_tokens: int = 0,
) -> web.Application:
    # tokens: access token -> expiry (time.monotonic())
    app = new_app(requests=[], token_requests=[], tokens={}, events={})
    model_ids = list(models)
    quirk_set = frozenset(quirks)

    def authorized(request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return error(
                401,
                "You didn't provide an API key. You need to provide your API key "
                "in an Authorization header using Bearer auth (i.e. Authorization: "
                "Bearer YOUR_KEY).",
            )
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer" and api_key is not None and value == api_key:
            return None
        expiry = app["tokens"].get(value) if scheme == "Bearer" else None
        if expiry is not None and expiry > time.monotonic():
            return None
        masked = f"{value[:5]}***{value[-2:]}" if len(value) > 8 else "***"
        return error(
            401,
            f"Incorrect API key provided: {masked}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )

    def unknown_model(model: str) -> web.Response:
        return error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        denied = authorized(request)
        if denied:
            return denied
        problem = validate_chat(body)
        if problem:
            return problem
        model = str(body["model"])
        if model not in model_ids or "embed" in model:
            return unknown_model(model)
        if "max_tokens" in body and model.startswith(REASONING_PREFIXES):
            return error(
                400,
                "Unsupported parameter: 'max_tokens' is not supported with this "
                "model. Use 'max_completion_tokens' instead.",
                param="max_tokens",
                code="unsupported_parameter",
            )
        if "reject_stream_options" in quirk_set and "stream_options" in body:
            return error(400, "stream_options is not supported", param="stream_options")
        plan = plan_reply(body, vendor)
        if isinstance(plan, tuple):
            return openai_failure(plan[0])
        if plan.slow:
            await asyncio.sleep(plan.slow)
        if body.get("stream") and "json_stream" not in quirk_set:
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            return await stream_reply(
                request,
                plan,
                model,
                include,
                quirk_set,
                delay=chunk_delay,
                cached_tokens=cached_tokens,
            )
        return web.json_response(completion(plan, model, cached_tokens))

    async def list_models(request: web.Request) -> web.Response:
        record(request, None)
        denied = authorized(request)
        if denied:
            return denied
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "system"}
            for m in model_ids
        ]
        return web.json_response({"object": "list", "data": data})

    async def embeddings(request: web.Request) -> web.Response:
        body = await read_json(request)
        denied = authorized(request)
        if denied:
            return denied
        return embeddings_for(body, model_ids, quirk_set, require_model=True)

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        app["token_requests"].append(dict(form))
        assert oauth is not None
        if request.content_type != "application/x-www-form-urlencoded":
            return web.json_response({"error": "invalid_request"}, status=400)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if (
            form.get("client_id") != oauth["client_id"]
            or form.get("client_secret") != oauth["client_secret"]
        ):
            return web.json_response(
                {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed.",
                },
                status=401,
            )
        access = "tok-" + secrets.token_hex(8)
        lifetime = int(oauth.get("expires_in", 3600))
        app["tokens"][access] = time.monotonic() + lifetime
        return web.json_response(
            {"access_token": access, "token_type": "Bearer", "expires_in": lifetime}
        )

    # The Responses module builds on this one's helpers: imported here.
    from tests.fakes import openai_responses

    async def responses(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        denied = authorized(request)
        if denied:
            return denied
        model = str(body.get("model") or "")
        problem = openai_responses.validate(body, openai_responses.is_reasoning(model))
        if problem:
            return problem
        if model not in model_ids or "embed" in model:
            return unknown_model(model)
        return await openai_responses.answer(
            request, body, model, vendor, openai_failure
        )

    from tests.fakes import openai_completions

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        denied = authorized(request)
        if denied:
            return denied
        problem = openai_completions.validate(body)
        if problem:
            return problem
        model = str(body["model"])
        if vendor == "openai" and model not in openai_completions.COMPLETION_MODELS:
            if model in model_ids:
                return openai_completions.chat_model_refused(model)
            return unknown_model(model)
        if vendor != "openai" and (model not in model_ids or "embed" in model):
            return unknown_model(model)
        if "reject_stream_options" in quirk_set and "stream_options" in body:
            return error(400, "stream_options is not supported", param="stream_options")
        return await openai_completions.answer(
            request, body, model, vendor, openai_failure, delay=chunk_delay
        )

    app.router.add_post(f"{prefix}/completions", completions)
    app.router.add_post(f"{prefix}/chat/completions", chat)
    app.router.add_post(f"{prefix}/responses", responses)
    app.router.add_get(f"{prefix}/models", list_models)
    app.router.add_post(f"{prefix}/embeddings", embeddings)
    if oauth is not None:
        app.router.add_post("/oauth/token", token)
    return app


def embeddings_for(
    body: dict[str, Any],
    model_ids: list[str],
    quirks: frozenset[str],
    *,
    require_model: bool,
    model_name: str | None = None,
    on_unknown: Callable[[str], web.Response] | None = None,
) -> web.Response:
    """Validate an embeddings request and answer it (shared with the Azure fake)."""
    for name in body:
        if name not in EMBED_FIELDS:
            return error(400, f"Unrecognized request argument supplied: {name}")
    model = model_name or body.get("model")
    if require_model and not model:
        return error(400, "you must provide a model parameter")
    if model not in model_ids or "embed" not in str(model):
        if on_unknown is not None:
            return on_unknown(str(model))
        return error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    if "input" not in body:
        return error(
            400,
            "Missing required parameter: 'input'.",
            param="input",
            code="missing_required_parameter",
        )
    inputs = embedding_inputs(body["input"])
    if inputs is None:
        return error(
            400,
            "'$.input' is invalid. Please check the API reference.",
            param="input",
        )
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        return error(
            400,
            f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    dimensions = body.get("dimensions")
    if dimensions is not None and "text-embedding-3" not in str(model):
        return error(400, "This model does not support specifying dimensions.")
    if "ignore_base64" in quirks:
        encoding = "float"
    return web.json_response(
        embeddings_answer(inputs, str(model), encoding, dimensions)
    )
