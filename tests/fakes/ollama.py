"""A fake Ollama server: ``/api/chat``, ``/api/embed``, ``/api/tags``, ``/api/show``,
``/api/version``, validating bodies the way Ollama's Go server decodes them.

Like Ollama (gin ``ShouldBindJSON``): the content type is not checked, unknown
fields are ignored, but every known field must decode into its Go type, so a
``content`` array, string tool-call ``arguments`` or a non-array ``stop`` are
400s with Go-style ``json: cannot unmarshal ...`` messages. Unknown models are
404 ``model "x" not found, try pulling it first``. Streaming is NDJSON
(``application/x-ndjson``) and is the default when ``stream`` is absent.

Options: ``api_key`` (require ``Authorization: Bearer <key>``, 401
``{"error":"unauthorized"}`` otherwise), ``tool_call_ids`` (newer Ollama returns
``id`` on tool calls; older versions do not), ``models`` (replace the model set).
``app["requests"]`` records every request; ``app["unnamed_tool_messages"]``
records tool messages that arrived without ``tool_name``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import warnings
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes import schemas

VENDOR = "ollama"
VERSION = "0.12.6"

DEFAULT_MODELS: list[dict[str, Any]] = [
    {
        "name": "llama3.2:latest",
        "family": "llama",
        "parameter_size": "3.2B",
        "context_length": 131072,
        "capabilities": ["completion", "tools"],
    },
    {
        "name": "qwen3:8b",
        "family": "qwen3",
        "parameter_size": "8.2B",
        "context_length": 40960,
        "capabilities": ["completion", "tools", "thinking"],
    },
    {
        "name": "nomic-embed-text:latest",
        "family": "nomic-bert",
        "parameter_size": "137M",
        "context_length": 2048,
        "capabilities": ["embedding"],
    },
]

ROLES = {"system", "user", "assistant", "tool"}
INT_OPTIONS = {"num_predict", "seed", "top_k", "num_ctx", "num_keep", "repeat_last_n"}
FLOAT_OPTIONS = {
    "temperature",
    "top_p",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
}


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _unmarshal(value: Any, field: str, go_type: str) -> BadRequest:
    return BadRequest(
        f"json: cannot unmarshal {_go_type(value)} into Go struct field "
        f"{field} of type {go_type}"
    )


def _created_at() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def make_app(
    api_key: str | None = None,
    tool_call_ids: bool = False,
    models: list[dict[str, Any]] | None = None,
) -> web.Application:
    catalog = {m["name"]: m for m in (models or DEFAULT_MODELS)}

    def find_model(name: Any) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise BadRequest("model is required")
        full = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
        if full not in catalog:
            raise BadRequest(
                f'model "{name}" not found, try pulling it first', status=404
            )
        return catalog[full]

    @web.middleware
    async def record_and_auth(request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        request.app["requests"].append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "json": parsed,
            }
        )
        if api_key is not None and (
            request.headers.get("Authorization") != f"Bearer {api_key}"
        ):
            return _error(401, "unauthorized")
        try:
            return await handler(request)
        except BadRequest as exc:
            return _error(exc.status, exc.message)

    async def read_body(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw.strip():
            raise BadRequest("missing request body")
        try:
            body = json.loads(raw)
        except ValueError:
            first = raw.decode("utf-8", "replace").strip()[:1]
            raise BadRequest(
                f"invalid character '{first}' looking for beginning of value"
            ) from None
        if not isinstance(body, dict):
            raise _unmarshal(body, "", "api.ChatRequest")
        return body

    # -- validation ---------------------------------------------------------

    def check_options(options: Any) -> None:
        if options is None:
            return
        if not isinstance(options, dict):
            raise _unmarshal(options, "ChatRequest.options", "map[string]interface {}")
        for key, value in options.items():
            if value is None:
                continue
            if key in INT_OPTIONS and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise BadRequest(f'option "{key}" must be of type integer')
            if key in FLOAT_OPTIONS and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise BadRequest(f'option "{key}" must be of type float32')
            if key == "stop":
                if not isinstance(value, list):
                    raise BadRequest(f'option "{key}" must be of type array')
                if not all(isinstance(s, str) for s in value):
                    raise BadRequest(f'option "{key}" must be of an array of strings')

    def check_message(msg: Any, app: web.Application) -> None:
        if not isinstance(msg, dict):
            raise _unmarshal(msg, "ChatRequest.messages", "api.Message")
        role = msg.get("role")
        if not isinstance(role, str):
            raise _unmarshal(role, "Message.messages.role", "string")
        if role not in ROLES:
            raise BadRequest(f'invalid message role "{role}"')
        content = msg.get("content", "")
        if content is not None and not isinstance(content, str):
            raise _unmarshal(content, "Message.messages.content", "string")
        images = msg.get("images")
        if images is not None:
            if not isinstance(images, list):
                raise _unmarshal(images, "Message.messages.images", "[]api.ImageData")
            for image in images:
                if not isinstance(image, str):
                    raise _unmarshal(image, "Message.messages.images", "api.ImageData")
                try:
                    base64.b64decode(image, validate=True)
                except (binascii.Error, ValueError):
                    raise BadRequest("illegal base64 data at input byte 0") from None
        for key in ("tool_name", "tool_call_id", "thinking"):
            value = msg.get(key)
            if value is not None and not isinstance(value, str):
                raise _unmarshal(value, f"Message.messages.{key}", "string")
        calls = msg.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise _unmarshal(calls, "Message.messages.tool_calls", "[]api.ToolCall")
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict):
                    raise _unmarshal(
                        fn,
                        "ToolCall.messages.tool_calls.function",
                        "api.ToolCallFunction",
                    )
                if not isinstance(fn.get("name"), str):
                    raise _unmarshal(
                        fn.get("name"),
                        "ToolCallFunction.messages.tool_calls.function.name",
                        "string",
                    )
                args = fn.get("arguments")
                if args is not None and not isinstance(args, dict):
                    raise _unmarshal(
                        args,
                        "ToolCallFunction.messages.tool_calls.function.arguments",
                        "map[string]interface {}",
                    )
        if role == "tool" and not msg.get("tool_name"):
            app["unnamed_tool_messages"].append(msg)

    def check_tools(tools: Any) -> None:
        if tools is None:
            return
        if not isinstance(tools, list):
            raise _unmarshal(tools, "ChatRequest.tools", "api.Tools")
        for tool in tools:
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise _unmarshal(fn, "Tool.tools.function", "api.ToolFunction")
            params = fn.get("parameters")
            if params is not None and not isinstance(params, dict):
                raise _unmarshal(
                    params, "ToolFunction.tools.function.parameters", "struct"
                )

    def check_chat(body: dict[str, Any], app: web.Application) -> dict[str, Any]:
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise _unmarshal(stream, "ChatRequest.stream", "bool")
        messages = body.get("messages")
        if messages is not None and not isinstance(messages, list):
            raise _unmarshal(messages, "ChatRequest.messages", "[]api.Message")
        for msg in messages or []:
            check_message(msg, app)
        check_tools(body.get("tools"))
        check_options(body.get("options"))
        fmt = body.get("format")
        if fmt is not None and not (fmt in ("", "json") or isinstance(fmt, dict)):
            raise BadRequest(f"invalid format: {json.dumps(fmt)}")
        if isinstance(fmt, dict) and schemas.check(fmt):
            raise BadRequest(f"invalid JSON schema in format: {schemas.check(fmt)}")
        think = body.get("think")
        if think is not None and not (
            isinstance(think, bool) or think in ("low", "medium", "high", "max")
        ):
            raise BadRequest(f"invalid think value: {json.dumps(think)}")
        model = find_model(body.get("model"))
        if think and "thinking" not in model["capabilities"]:
            raise BadRequest(f'"{body["model"]}" does not support thinking')
        if body.get("tools") and "tools" not in model["capabilities"]:
            raise BadRequest(
                f"registry.ollama.ai/library/{body['model']} does not support tools"
            )
        if "completion" not in model["capabilities"]:
            raise BadRequest(f'"{body["model"]}" does not support chat')
        return model

    # -- chat -----------------------------------------------------------------

    def line(model: str, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _created_at(),
            "message": {"role": "assistant", **message},
            "done": False,
            **extra,
        }

    def final(model: str, reason: str) -> dict[str, Any]:
        return line(
            model,
            {"content": ""},
            done=True,
            done_reason=reason,
            total_duration=2_345_678_901,
            load_duration=12_345_678,
            prompt_eval_count=11,
            prompt_eval_duration=123_456_789,
            eval_count=7,
            eval_duration=987_654_321,
        )

    def fail_response(status: int) -> web.Response:
        if status == 429:
            return _error(429, "too many requests", **{"Retry-After": "7"})
        messages = {
            400: "invalid options: num_predict",
            401: "unauthorized",
            403: "forbidden",
            404: 'model "missing" not found, try pulling it first',
            500: "llama runner process has terminated: exit status 2",
            502: "remote model is unavailable",
            503: "server busy, please try again.  maximum pending requests exceeded",
        }
        return _error(status, messages.get(status, f"error {status}"))

    async def chat(request: web.Request) -> web.StreamResponse:
        app = request.app
        body = await read_body(request)
        check_chat(body, app)
        name = body["model"]
        stream = body.get("stream", True)
        messages = body.get("messages") or []
        if not messages:
            # Ollama loads the model and answers done_reason "load".
            return web.json_response(
                {
                    "model": name,
                    "created_at": _created_at(),
                    "message": {"role": "assistant", "content": ""},
                    "done_reason": "load",
                    "done": True,
                }
            )
        last = messages[-1]
        user_text = next(
            (m.get("content") or "" for m in reversed(messages) if m["role"] == "user"),
            "",
        ).strip()

        # Plan the answer: text pieces, tool calls, done_reason, special modes.
        pieces: list[str]
        calls: list[dict[str, Any]] = []
        reason = "stop"
        mode = ""
        if last["role"] == "tool":
            text = f"The tool said: {last.get('content') or ''}"
            pieces = [text[:9], text[9:]]
        else:
            if user_text.startswith("FAIL "):
                try:
                    return fail_response(int(user_text.split()[1]))
                except ValueError:
                    pass
            if user_text.startswith("SLOW "):
                await asyncio.sleep(float(user_text.split()[1]))
            fmt = body.get("format")
            if fmt in ("json",) or isinstance(fmt, dict):
                # Constrained decoding: the output conforms to the format
                # (NOCALL: a model that ignores it, as a broken runner would).
                value = schemas.sample(fmt) if isinstance(fmt, dict) else {"a": 1}
                text = "I will not." if "NOCALL" in user_text else json.dumps(value)
                pieces = [text[: len(text) // 2], text[len(text) // 2 :]]
            elif body.get("tools"):
                pieces = ["Checking."]
                call: dict[str, Any] = {
                    "function": {
                        "index": 0,
                        "name": body["tools"][0]["function"]["name"],
                        "arguments": schemas.tool_input(
                            body["tools"][0]["function"].get("parameters")
                        ),
                    }
                }
                if tool_call_ids:
                    call["id"] = (
                        "call_" + hashlib.sha1(user_text.encode()).hexdigest()[:8]
                    )
                calls = [call]
            elif user_text == "BREAK":
                mode = "break"
                pieces = ["Hello ", "from "]
            elif user_text == "STREAM ERROR":
                mode = "error"
                pieces = ["Hello "]
            elif user_text == "LENGTH":
                pieces = ["Hello ", "from"]
                reason = "length"
            else:
                text = f"Hello from {VENDOR}: {user_text}"
                third = max(1, len(text) // 3)
                pieces = [text[:third], text[third : 2 * third], text[2 * third :]]
        thinking = "Let me think." if body.get("think") else ""

        if not stream:
            if mode == "error":
                return _error(500, "llama runner process has terminated")
            message: dict[str, Any] = {"content": "".join(pieces)}
            if thinking:
                message["thinking"] = thinking
            if calls:
                message["tool_calls"] = calls
            answer = final(name, reason)
            answer["message"].update(message)
            return web.json_response(answer)

        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)

        async def send(obj: dict[str, Any]) -> None:
            await response.write(json.dumps(obj).encode() + b"\n")

        if thinking:
            await send(line(name, {"content": "", "thinking": thinking}))
        for piece in pieces:
            await send(line(name, {"content": piece}))
            await asyncio.sleep(0)
        if mode == "break":
            await asyncio.sleep(0.05)
            if request.transport is not None:
                request.transport.abort()
            return response
        if mode == "error":
            await send({"error": "an error was encountered while running the model"})
            await response.write_eof()
            return response
        if calls:
            await send(line(name, {"content": "", "tool_calls": calls}))
        await send(final(name, reason))
        await response.write_eof()
        return response

    # -- embeddings -------------------------------------------------------------

    def vector(text: str, dims: int) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        return [round((digest[i] - 128) / 128, 6) for i in range(dims)]

    async def embed(request: web.Request) -> web.Response:
        body = await read_body(request)
        model = find_model(body.get("model"))
        if "embedding" not in model["capabilities"]:
            raise BadRequest(f'"{body["model"]}" does not support embeddings')
        value = body.get("input")
        if isinstance(value, str):
            inputs = [value]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            inputs = value
        else:
            raise BadRequest("invalid input type")
        dims = body.get("dimensions")
        if dims is not None and (
            isinstance(dims, bool) or not isinstance(dims, int) or dims < 1
        ):
            raise _unmarshal(dims, "EmbedRequest.dimensions", "int")
        truncate = body.get("truncate")
        if truncate is not None and not isinstance(truncate, bool):
            raise _unmarshal(truncate, "EmbedRequest.truncate", "bool")
        size = min(dims or 4, 4)
        return web.json_response(
            {
                "model": body["model"],
                "embeddings": [vector(text, size) for text in inputs],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": sum(max(1, len(t.split())) for t in inputs),
            }
        )

    # -- discovery --------------------------------------------------------------

    async def tags(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "models": [
                    {
                        "name": m["name"],
                        "model": m["name"],
                        "modified_at": "2025-05-04T17:37:44.706015396-07:00",
                        "size": 2019393189,
                        "digest": hashlib.sha256(m["name"].encode()).hexdigest(),
                        "details": {
                            "parent_model": "",
                            "format": "gguf",
                            "family": m["family"],
                            "families": [m["family"]],
                            "parameter_size": m["parameter_size"],
                            "quantization_level": "Q4_K_M",
                        },
                    }
                    for m in catalog.values()
                ]
            }
        )

    async def show(request: web.Request) -> web.Response:
        body = await read_body(request)
        name = body.get("model") or body.get("name")
        model = find_model(name)
        arch = model["family"].replace("-", "")
        return web.json_response(
            {
                "modelfile": f"FROM {model['name']}\n",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": model["family"],
                    "families": [model["family"]],
                    "parameter_size": model["parameter_size"],
                    "quantization_level": "Q4_K_M",
                },
                "model_info": {
                    "general.architecture": arch,
                    "general.parameter_count": 3212749888,
                    f"{arch}.context_length": model["context_length"],
                    f"{arch}.embedding_length": 3072,
                },
                "capabilities": model["capabilities"],
                "modified_at": "2025-05-04T17:37:44.706015396-07:00",
            }
        )

    async def version(request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def root(request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def not_found(request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found")

    app = web.Application(middlewares=[record_and_auth])
    with warnings.catch_warnings():  # the shared convention uses string keys
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["requests"] = []
        app["unnamed_tool_messages"] = []
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/embed", embed)
    app.router.add_get("/api/tags", tags)
    app.router.add_post("/api/show", show)
    app.router.add_get("/api/version", version)
    app.router.add_get("/", root)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app
