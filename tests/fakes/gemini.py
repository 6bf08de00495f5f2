"""A fake Gemini Developer API (v1beta) as strict as Google's about what it accepts.

Routes: ``POST /v1beta/models/{model}:generateContent``,
``:streamGenerateContent?alt=sse``, ``:batchEmbedContents``; ``GET /v1beta/models``
(paginated, ``page_size`` per page) and ``GET /v1beta/models/{model}``.

Strictness copied from the real service: the ``x-goog-api-key`` header (wrong key →
400 ``API_KEY_INVALID``, none → 403), unknown JSON fields anywhere in the body
(400 "Invalid JSON payload received. Unknown name ..."), roles ``user``/``model``
only, non-empty ``contents`` and ``parts``, function responses only right after a
function-call turn and as many as there were calls, non-empty ``properties`` for
object schemas in tool declarations, ``alt=sse`` for streaming. With
``require_signatures`` (Gemini 3 behaviour) every replayed function-call turn
must carry the thought signature the fake issued.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import warnings
from typing import Any

from aiohttp import web

from tests.fakes import schemas

API_KEY = "test-gemini-key"
SIGNATURE = base64.b64encode(b"\x01\xfe\xff signature bytes from the fake").decode()
MODELS = [
    (
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        1048576,
        ["generateContent", "countTokens"],
    ),
    ("gemini-2.5-pro", "Gemini 2.5 Pro", 1048576, ["generateContent", "countTokens"]),
    ("gemini-embedding-001", "Gemini Embedding 001", 2048, ["embedContent"]),
    ("imagen-4.0-generate-001", "Imagen 4", 480, ["predict"]),
    ("gemini-3-pro-preview", "Gemini 3 Pro Preview", 1048576, ["generateContent"]),
]

_SCHEMA = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}
# message name -> allowed fields; a field maps to the message its value is (or
# None for scalars / free JSON). "[]" suffix: a repeated field.
_MESSAGES: dict[str, dict[str, str | None]] = {
    "GenerateContentRequest": {
        "model": None,
        "contents": "Content[]",
        "systemInstruction": "Content",
        "tools": "Tool[]",
        "toolConfig": "ToolConfig",
        "generationConfig": "GenerationConfig",
        "safetySettings": "SafetySetting[]",
        "cachedContent": None,
    },
    "Content": {"role": None, "parts": "Part[]"},
    "Part": {
        "text": None,
        "inlineData": "Blob",
        "fileData": "FileData",
        "functionCall": "FunctionCall",
        "functionResponse": "FunctionResponse",
        "thought": None,
        "thoughtSignature": None,
        "executableCode": None,
        "codeExecutionResult": None,
        "videoMetadata": None,
    },
    "Blob": {"mimeType": None, "data": None},
    "FileData": {"mimeType": None, "fileUri": None},
    "FunctionCall": {"id": None, "name": None, "args": None},
    "FunctionResponse": {"id": None, "name": None, "response": None},
    "Tool": {
        "functionDeclarations": "FunctionDeclaration[]",
        "googleSearch": None,
        "codeExecution": None,
        "urlContext": None,
    },
    "FunctionDeclaration": {
        "name": None,
        "description": None,
        "parameters": "Schema",
        "parametersJsonSchema": None,
        "response": "Schema",
        "responseJsonSchema": None,
        "behavior": None,
    },
    "Schema": {k: None for k in _SCHEMA}
    | {"properties": "Schema{}", "items": "Schema", "anyOf": "Schema[]"},
    "ToolConfig": {"functionCallingConfig": "FunctionCallingConfig"},
    "FunctionCallingConfig": {"mode": None, "allowedFunctionNames": None},
    "GenerationConfig": {
        k: None
        for k in [
            "stopSequences",
            "responseMimeType",
            "responseSchema",
            "responseJsonSchema",
            "candidateCount",
            "maxOutputTokens",
            "temperature",
            "topP",
            "topK",
            "seed",
            "presencePenalty",
            "frequencyPenalty",
            "responseLogprobs",
            "logprobs",
            "responseModalities",
            "speechConfig",
            "mediaResolution",
            "enableEnhancedCivicAnswers",
        ]
    }
    | {"thinkingConfig": "ThinkingConfig"},
    "ThinkingConfig": {
        "thinkingBudget": None,
        "includeThoughts": None,
        "thinkingLevel": None,
    },
    "SafetySetting": {"category": None, "threshold": None},
    "BatchEmbedContentsRequest": {"requests": "EmbedContentRequest[]"},
    "EmbedContentRequest": {
        "model": None,
        "content": "Content",
        "taskType": None,
        "title": None,
        "outputDimensionality": None,
    },
}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES_TEXT = {
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}


class Invalid(Exception):
    """A request the real service would refuse with 400 INVALID_ARGUMENT."""


def error_body(
    status: int, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    err: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS.get(status, "UNKNOWN"),
    }
    if details:
        err["details"] = details
    return {"error": err}


def google_error(status: int, message: str | None = None, **extra: Any) -> web.Response:
    message = message or _MESSAGES_TEXT.get(
        status, "Request contains an invalid argument."
    )
    details = None
    headers = {}
    if status == 429:
        headers["Retry-After"] = "7"
        details = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
        ]
    details = extra.get("details", details)
    return web.json_response(
        error_body(status, message, details), status=status, headers=headers
    )


def api_key_invalid() -> web.Response:
    message = "API key not valid. Please pass a valid API key."
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": message,
        },
    ]
    return google_error(400, message, details=details)


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def check_fields(value: Any, message: str, path: str = "") -> None:
    """Raise Invalid for unknown names, like Google's proto JSON parser."""
    if message.endswith("[]"):
        if not isinstance(value, list):
            raise Invalid(
                f"Invalid value at '{path}', expected a list ({message[:-2]})."
            )
        for i, item in enumerate(value):
            check_fields(item, message[:-2], f"{path}[{i}]")
        return
    if message.endswith("{}"):
        if not isinstance(value, dict):
            raise Invalid(f"Invalid value at '{path}': expected an object.")
        for key, item in value.items():
            check_fields(item, message[:-2], f"{path}[{key}].value")
        return
    if not isinstance(value, dict):
        raise Invalid(f"Invalid value at '{path}' ({message}): expected an object.")
    fields = _MESSAGES[message]
    for key, item in value.items():
        name = _camel(key)
        if name not in fields:
            where = f" at '{path}'" if path else ""
            raise Invalid(
                f'Invalid JSON payload received. Unknown name "{key}"{where}: '
                "Cannot find field."
            )
        sub = fields[name]
        here = f"{path}.{_snake(name)}" if path else _snake(name)
        if message == "Schema" and name == "type" and not isinstance(item, str):
            raise Invalid(
                f"Invalid JSON payload received. Unknown name \"type\" at '{path}': "
                "Proto field is not repeating, cannot start list."
            )
        if sub is not None:
            check_fields(item, sub, here)


def _check_schema_objects(schema: Any, path: str) -> None:
    if not isinstance(schema, dict):
        return
    if (
        str(schema.get("type", "")).lower() == "object"
        and schema.get("properties") == {}
    ):
        raise Invalid(f"* {path}.properties: should be non-empty for OBJECT type")
    for key, sub in (schema.get("properties") or {}).items():
        _check_schema_objects(sub, f"{path}.properties[{key}]")
    _check_schema_objects(schema.get("items"), f"{path}.items")


def check_generate(body: dict[str, Any], require_signatures: bool) -> None:
    gen = body.get("generationConfig") or {}
    if "responseJsonSchema" in gen:
        problem = schemas.check(gen["responseJsonSchema"])
        if problem or gen.get("responseMimeType") != "application/json":
            raise Invalid(
                "* GenerateContentRequest.generation_config.response_json_schema: "
                f"{problem or 'needs response_mime_type application/json'}"
            )
    check_fields(body, "GenerateContentRequest")
    contents = body.get("contents")
    if not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    previous: dict[str, Any] | None = None
    for i, content in enumerate(contents):
        role = content.get("role")
        if role not in ("user", "model"):
            raise Invalid("Please use a valid role: user, model.")
        parts = content.get("parts") or []
        if not parts:
            raise Invalid(
                f"* GenerateContentRequest.contents[{i}].parts: "
                "contents.parts must not be empty."
            )
        for part in parts:
            payloads = [k for k in part if k not in ("thought", "thoughtSignature")]
            if len(payloads) != 1:
                raise Invalid(
                    f"* GenerateContentRequest.contents[{i}].parts: "
                    "a part must hold exactly one of its data fields."
                )
            if "text" in part and not isinstance(part["text"], str):
                raise Invalid(
                    f"Invalid value at 'contents[{i}].parts[].text' (TYPE_STRING)"
                )
        responses = [p for p in parts if "functionResponse" in p]
        calls = [p for p in parts if "functionCall" in p]
        if responses:
            prev_calls = [
                p for p in (previous or {}).get("parts", []) if "functionCall" in p
            ]
            if not prev_calls or len(prev_calls) != len(responses):
                raise Invalid(
                    "Please ensure that the number of function response parts is equal "
                    "to the number of function call parts of the function call turn."
                )
        if calls:
            if previous is None or previous.get("role") != "user":
                raise Invalid(
                    "Please ensure that function call turn comes immediately after a "
                    "user turn or after a function response turn."
                )
            if require_signatures and calls[0].get("thoughtSignature") not in (
                SIGNATURE,
                "skip_thought_signature_validator",
            ):
                raise Invalid(
                    "Function call is missing a thought_signature in functionCall "
                    f"parts. This is required for tools to work correctly. Position: "
                    f"contents[{i}].parts[0]"
                )
        previous = content
    for t, tool in enumerate(body.get("tools") or []):
        for d, decl in enumerate(tool.get("functionDeclarations") or []):
            if not decl.get("name"):
                raise Invalid(
                    f"* GenerateContentRequest.tools[{t}].function_declarations[{d}]"
                    ".name: Invalid function name."
                )
            _check_schema_objects(
                decl.get("parameters"),
                f"GenerateContentRequest.tools[{t}].function_declarations[{d}]"
                ".parameters",
            )
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get(
        "mode"
    )
    if mode is not None and mode not in ("AUTO", "ANY", "NONE", "VALIDATED"):
        raise Invalid(
            f"Invalid value at 'tool_config.function_calling_config.mode' "
            f"(type.googleapis.com/google.ai.generativelanguage.v1beta."
            f'FunctionCallingConfig.Mode), "{mode}"'
        )


def _last_text(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(text of the last user turn, its function response when it ends with one)."""
    users = [c for c in body["contents"] if c["role"] == "user"]
    if not users:
        return "", None
    parts = users[-1]["parts"]
    if "functionResponse" in parts[-1]:
        return "", parts[-1]["functionResponse"]
    return " ".join(p["text"] for p in parts if "text" in p).strip(), None


def _usage(completion: int = 7, cached: int = 0) -> dict[str, Any]:
    """Usage metadata; ``cached`` tokens of cached content count in the prompt."""
    usage: dict[str, Any] = {
        "promptTokenCount": 11 + cached,
        "candidatesTokenCount": completion,
        "totalTokenCount": 11 + cached + completion,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11 + cached}],
    }
    if cached:
        usage["cachedContentTokenCount"] = cached
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    return usage


def plan(body: dict[str, Any], model: str) -> dict[str, Any]:
    """What to answer: {'kind', 'text', 'call', 'finish', 'status', 'delay'}."""
    text, response = _last_text(body)
    tools = [
        d["name"]
        for t in body.get("tools") or []
        for d in t.get("functionDeclarations") or []
    ]
    if response is not None:
        result = response.get("response", {})
        if set(result) == {"content"} and isinstance(result["content"], str):
            shown = result["content"]
        else:
            shown = json.dumps(result, separators=(",", ":"))
        return {"kind": "text", "text": f"The tool said: {shown}", "finish": "STOP"}
    fail = re.match(r"^FAIL (\d{3})$", text)
    if fail:
        return {"kind": "fail", "status": int(fail.group(1))}
    slow = re.match(r"^SLOW ([0-9.]+)$", text)
    delay = float(slow.group(1)) if slow else 0.0
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    gen = body.get("generationConfig") or {}
    if tools and calling.get("mode") != "NONE":
        # ANY with allowedFunctionNames is honoured: the first allowed one.
        allowed = calling.get("allowedFunctionNames") or tools
        name = next(n for n in tools if n in allowed)
        params = next(
            d.get("parametersJsonSchema") or d.get("parameters")
            for t in body.get("tools") or []
            for d in t.get("functionDeclarations") or []
            if d["name"] == name
        )
        call = {"name": name, "args": schemas.tool_input(params)}
        return {"kind": "tool", "text": "Checking.", "call": call, "delay": delay}
    if gen.get("responseMimeType") == "application/json":
        schema = gen.get("responseJsonSchema")
        value = schemas.sample(schema) if schema else {"answer": "Paris"}
        return {"kind": "text", "text": json.dumps(value), "finish": "STOP"}
    if text in ("BREAK", "STREAM ERROR", "STREAM ERROR RAW"):
        return {"kind": text.lower().replace(" ", "_"), "text": "Partial answer"}
    if text == "LENGTH":
        return {
            "kind": "text",
            "text": "Hello from gemini: LEN",
            "finish": "MAX_TOKENS",
        }
    if text == "BLOCKED":
        return {"kind": "blocked"}
    return {
        "kind": "text",
        "text": f"Hello from gemini: {text}",
        "finish": "STOP",
        "delay": delay,
    }


def _candidate(
    parts: list[dict[str, Any]], finish: str | None, index: int = 0
) -> dict[str, Any]:
    cand: dict[str, Any] = {
        "content": {"role": "model", "parts": parts},
        "index": index,
    }
    if finish:
        cand["finishReason"] = finish
    return cand


def _tool_parts(step: dict[str, Any], signatures: bool) -> list[dict[str, Any]]:
    call_part: dict[str, Any] = {"functionCall": step["call"]}
    if signatures:
        call_part["thoughtSignature"] = SIGNATURE
    return [{"text": step["text"]}, call_part]


def make_app(
    api_key: str = API_KEY,
    page_size: int = 2,
    signatures: bool = True,
    require_signatures: bool = False,
    cached_tokens: int = 0,
) -> web.Application:
    """The fake service; ``app['requests']`` records every request it received.

    ``cached_tokens``: every answer's usage reports that many tokens of cached
    content (Gemini's context caching) on top of the prompt's own 11.
    """
    app = web.Application()
    with warnings.catch_warnings():  # the shared fake convention uses a str key
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["requests"] = []

    def auth_error(request: web.Request) -> web.Response | None:
        given = request.headers.get("x-goog-api-key")
        if given is None:
            return google_error(
                403,
                "Method doesn't allow unregistered callers (callers without "
                "established identity). Please use API Key or other form of API "
                "consumer identity to call this API.",
            )
        if given != api_key:
            return api_key_invalid()
        return None

    async def record(request: web.Request) -> Any:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        app["requests"].append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "json": body,
            }
        )
        return body

    def find_model(model: str, method: str) -> tuple[str, list[str]] | None:
        for model_id, _, _, methods in MODELS:
            if model_id == model and method in methods:
                return model_id, methods
        return None

    async def list_models(request: web.Request) -> web.Response:
        await record(request)
        denied = auth_error(request)
        if denied:
            return denied
        try:
            size = min(int(request.query.get("pageSize", "50")), page_size)
            start = int(base64.b64decode(request.query.get("pageToken") or "MA=="))
        except ValueError:
            return google_error(400, "Invalid page token.")
        items = [
            {
                "name": f"models/{model_id}",
                "version": "001",
                "displayName": display,
                "description": display,
                "inputTokenLimit": limit,
                "outputTokenLimit": 8192,
                "supportedGenerationMethods": methods,
            }
            for model_id, display, limit, methods in MODELS[start : start + size]
        ]
        page: dict[str, Any] = {"models": items}
        if start + size < len(MODELS):
            page["nextPageToken"] = base64.b64encode(
                str(start + size).encode()
            ).decode()
        return web.json_response(page)

    async def model_action(request: web.Request) -> web.StreamResponse:
        body = await record(request)
        denied = auth_error(request)
        if denied:
            return denied
        model, _, method = request.match_info["tail"].partition(":")
        needs = {
            "streamGenerateContent": "generateContent",
            "batchEmbedContents": "embedContent",
        }.get(method, method)
        if not find_model(model, needs):
            return google_error(
                404,
                f"models/{model} is not found for API version v1beta, or is not "
                f"supported for {method}. Call ListModels to see the list of "
                "available models and their supported methods.",
            )
        if not request.content_type.startswith("application/json") or not isinstance(
            body, dict
        ):
            return google_error(400, "Invalid JSON payload received. Unexpected token.")
        try:
            if method == "batchEmbedContents":
                return embed(model, body)
            if method not in ("generateContent", "streamGenerateContent"):
                return google_error(404, f"Method {method} not found.")
            check_generate(body, require_signatures)
        except Invalid as exc:
            return google_error(400, str(exc))
        if method == "streamGenerateContent" and request.query.get("alt") != "sse":
            return google_error(
                400, "fake: streamGenerateContent is only emulated with alt=sse"
            )
        step = plan(body, model)
        if step["kind"] == "fail":
            if step["status"] == 400:
                return google_error(400, "Request contains an invalid argument.")
            return google_error(step["status"])
        if step.get("delay"):
            await asyncio.sleep(step["delay"])
        count = int((body.get("generationConfig") or {}).get("candidateCount") or 1)
        if method == "generateContent":
            return web.json_response(answer(step, count, model))
        return await stream(request, step, model)

    def answer(step: dict[str, Any], count: int, model: str) -> dict[str, Any]:
        base = {"modelVersion": model, "responseId": "fakeResponse123"}
        if step["kind"] == "blocked":
            return {
                "promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": {"promptTokenCount": 11, "totalTokenCount": 11},
                **base,
            }
        if step["kind"] == "tool":
            parts = _tool_parts(step, signatures)
            cands = [_candidate(parts, "STOP")]
        else:
            cands = [
                _candidate([{"text": step["text"]}], step.get("finish", "STOP"), i)
                for i in range(count)
            ]
        return {
            "candidates": cands,
            "usageMetadata": _usage(cached=cached_tokens),
            **base,
        }

    async def stream(
        request: web.Request, step: dict[str, Any], model: str
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)

        async def send(event: dict[str, Any]) -> None:
            event = {**event, "modelVersion": model, "responseId": "fakeStream1"}
            await resp.write(f"data: {json.dumps(event)}\r\n\r\n".encode())

        partial = {"promptTokenCount": 11, "totalTokenCount": 11}
        if step["kind"] == "tool":
            await send(
                {
                    "candidates": [_candidate([{"text": step["text"]}], None)],
                    "usageMetadata": partial,
                }
            )
            call = _tool_parts(step, signatures)[1]
            await send(
                {
                    "candidates": [_candidate([call], "STOP")],
                    "usageMetadata": _usage(cached=cached_tokens),
                }
            )
        elif step["kind"] == "blocked":
            await send(
                {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": partial}
            )
        elif step["kind"] in ("break", "stream_error", "stream_error_raw"):
            await send({"candidates": [_candidate([{"text": "Partial "}], None)]})
            await send({"candidates": [_candidate([{"text": "answer"}], None)]})
            if step["kind"] == "break":
                await asyncio.sleep(0.05)
                assert request.transport is not None
                request.transport.abort()
                return resp
            error = error_body(503, _MESSAGES_TEXT[503])
            if step["kind"] == "stream_error":
                await resp.write(f"data: {json.dumps(error)}\r\n\r\n".encode())
            else:  # the raw, multi-line JSON tail Google sometimes appends
                await resp.write(json.dumps(error, indent=2).encode() + b"\n")
        else:
            text = step["text"]
            cuts = [0, len(text) // 3, 2 * len(text) // 3, len(text)]
            pieces = [text[a:b] for a, b in itertools.pairwise(cuts)]
            for piece in pieces:
                await send(
                    {
                        "candidates": [_candidate([{"text": piece}], None)],
                        "usageMetadata": partial,
                    }
                )
            await send(
                {
                    "candidates": [_candidate([{"text": ""}], step["finish"])],
                    "usageMetadata": _usage(cached=cached_tokens),
                }
            )
        await resp.write_eof()
        return resp

    def embed(model: str, body: dict[str, Any]) -> web.Response:
        check_fields(body, "BatchEmbedContentsRequest")
        requests = body.get("requests") or []
        if not requests:
            raise Invalid("* BatchEmbedContentsRequest.requests: must not be empty")
        vectors = []
        for i, item in enumerate(requests):
            if item.get("model") != f"models/{model}":
                raise Invalid(
                    f"* BatchEmbedContentsRequest.requests[{i}].model: the model must "
                    f"match the model in the URL (models/{model})."
                )
            texts = [
                p.get("text", "") for p in (item.get("content") or {}).get("parts", [])
            ]
            if not texts or not all(texts):
                raise Invalid(
                    f"* BatchEmbedContentsRequest.requests[{i}].content.parts: "
                    "must contain text."
                )
            size = int(item.get("outputDimensionality") or 4)
            digest = hashlib.sha256(" ".join(texts).encode()).digest()
            vectors.append({"values": [round(b / 255, 6) for b in digest[:size]]})
        return web.json_response({"embeddings": vectors})

    async def get_model(request: web.Request) -> web.Response:
        await record(request)
        denied = auth_error(request)
        if denied:
            return denied
        for model_id, display, limit, methods in MODELS:
            if model_id == request.match_info["model"]:
                return web.json_response(
                    {
                        "name": f"models/{model_id}",
                        "displayName": display,
                        "inputTokenLimit": limit,
                        "supportedGenerationMethods": methods,
                    }
                )
        return google_error(404, f"models/{request.match_info['model']} is not found.")

    app.router.add_get("/v1beta/models", list_models)
    app.router.add_post("/v1beta/models/{tail}", model_action)
    app.router.add_get("/v1beta/models/{model}", get_model)
    return app
