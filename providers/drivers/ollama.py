"""Ollama's native API (``/api/chat``, ``/api/embed``, ``/api/tags``, ``/api/show``).

PROTOCOLS.md section 7. Pure translation functions first (no I/O), then the thin
``OllamaDriver`` I/O layer.

Decisions (PROTOCOLS.md 2.4 applied to Ollama):

- ``stream`` is always sent explicitly: Ollama streams by default.
- ``tool_choice``: ``"auto"`` (or absent) sends the tools; ``"none"`` omits them;
  ``allowed_tools`` in ``auto`` mode sends only the allowed tools. ``"required"``, a
  named function, and ``allowed_tools`` in ``required`` mode cannot be honoured
  (Ollama has no forcing switch) and answer 400 ``param="tool_choice"``, unless the
  provider config sets ``"tool_choice_fallback": "auto"``, which degrades them to
  ``auto`` (named/allowed choices then send only the chosen tools).
- ``n > 1`` and ``logprobs: true`` answer 400 (shape-changing, not supported here).
- ``seed``, penalties, ``temperature``, ``top_p``, ``stop`` go to ``options``;
  ``user``, ``logit_bias``, ``parallel_tool_calls``, ``metadata``, ``store`` and
  other OpenAI-only knobs are dropped silently.
- ``reasoning_effort`` maps to ``think`` (none -> false, minimal -> "low",
  xhigh -> "max"); Ollama's ``message.thinking`` is returned as
  ``message.reasoning_content`` (and ``delta.reasoning_content`` when streaming).
- Images: data URLs are inlined as raw base64; ``http(s)`` URLs are fetched by the
  driver through the guarded client (size cap ``image_max_bytes``, default 20 MB;
  time cap ``image_fetch_timeout`` seconds, default 10). A URL that cannot be
  fetched in time, answers non-2xx, is not an image, is too large or points to a
  blocked address answers 400 ``invalid_image_url`` naming the content part.
- A ``tool`` message gets ``tool_name`` from the earlier assistant ``tool_calls``
  entry with the same id; when no entry matches, ``tool_name`` is left out (Ollama
  accepts that) rather than failing the request.
- Provider config keys read: ``keep_alive``, ``options`` (default Modelfile
  options merged under the request's, e.g. ``{"num_ctx": 8192}``),
  ``embed_truncate``, ``discover_details`` (call ``/api/show`` per model during
  discovery, default true), ``tool_choice_fallback``, ``image_max_bytes``,
  ``image_fetch_timeout``.
- Health check: ``GET /api/tags`` (it proves the server serves models, passes any
  auth proxy in front of it, and answers with Ollama's own shape).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import secrets
import string
import struct
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx

from providers.drivers.base import (
    Driver,
    DriverConfig,
    DriverError,
    ModelInfo,
    UpstreamRequest,
    error_from_exception,
    error_from_status,
    error_message_from_body,
    invalid_request,
    new_completion_id,
    now,
    stream_error,
)

log = logging.getLogger(__name__)

VENDOR = "ollama"
DEFAULT_BASE_URL = "http://localhost:11434"
DEFAULT_IMAGE_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_IMAGE_FETCH_TIMEOUT = 10.0

_DATA_URL_RE = re.compile(r"^data:(image/[a-z0-9.+-]+)?;base64,(.+)$", re.DOTALL)
_ALNUM = string.ascii_letters + string.digits
_EMBEDDING_FAMILIES = frozenset({"bert", "nomic-bert", "xlm-roberta", "bge"})
_THINK_MAP: dict[str, bool | str] = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
}


# -- URLs ---------------------------------------------------------------------


def base_url(cfg: DriverConfig) -> str:
    """The server root; a pasted ``/api`` or ``/v1`` suffix is tolerated."""
    url = (cfg.base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    for suffix in ("/api", "/v1"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


def api_url(cfg: DriverConfig, path: str) -> str:
    return f"{base_url(cfg)}/api/{path.lstrip('/')}"


# -- request translation ------------------------------------------------------


def synth_tool_call_id() -> str:
    return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def _text_of(content: Any, where: str) -> str:
    """Text of a string content or an array of text/refusal parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_request(f"{where} must be a string or an array.", where)
    texts: list[str] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise invalid_request(f"{where}[{j}] must be an object.", f"{where}[{j}]")
        kind = part.get("type")
        if kind == "text":
            texts.append(str(part.get("text") or ""))
        elif kind == "refusal":
            texts.append(str(part.get("refusal") or ""))
        else:
            raise invalid_request(
                f"Content part type {kind!r} is not supported here.",
                f"{where}[{j}].type",
            )
    return "\n".join(t for t in texts if t)


def image_urls(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(param, url)`` of every http(s) image the driver must fetch and inline."""
    found: list[tuple[str, str]] = []
    for i, msg in enumerate(request.get("messages") or []):
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), list):
            continue
        for j, part in enumerate(msg["content"]):
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            url = _image_url_of(part)
            if url.startswith(("http://", "https://")):
                found.append((f"messages[{i}].content[{j}].image_url.url", url))
    return found


def _image_url_of(part: Mapping[str, Any]) -> str:
    image = part.get("image_url")
    if isinstance(image, str):
        return image
    if isinstance(image, dict):
        return str(image.get("url") or "")
    return ""


def _image_base64(url: str, param: str, fetched: Mapping[str, str]) -> str:
    if url in fetched:
        return fetched[url]
    match = _DATA_URL_RE.match(url)
    if match:
        payload = re.sub(r"\s+", "", match.group(2))
        try:
            base64.b64decode(payload, validate=True)
        except ValueError:
            raise invalid_request(
                "The image data URL does not hold valid base64.", param
            ) from None
        return payload
    if url.startswith(("http://", "https://")):
        raise invalid_request("The image URL could not be fetched.", param)
    raise invalid_request(
        "Images must be https URLs or data:image/...;base64 URLs.", param
    )


def _user_content(
    content: Any, i: int, fetched: Mapping[str, str]
) -> tuple[str, list[str]]:
    where = f"messages[{i}].content"
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise invalid_request(f"{where} must be a string or an array.", where)
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            raise invalid_request(f"{where}[{j}] must be an object.", f"{where}[{j}]")
        kind = part.get("type")
        if kind == "text":
            text = str(part.get("text") or "")
            if text:
                texts.append(text)
        elif kind == "image_url":
            param = f"{where}[{j}].image_url.url"
            images.append(_image_base64(_image_url_of(part), param, fetched))
        else:
            raise invalid_request(
                f"Content part type {kind!r} is not supported by Ollama.",
                f"{where}[{j}].type",
            )
    return "\n".join(texts), images


def _parse_arguments(raw: Any, param: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return {}
    if not isinstance(raw, str):
        raise invalid_request("Tool call arguments must be a JSON string.", param)
    try:
        value = json.loads(raw)
    except ValueError:
        raise invalid_request(
            "Tool call arguments are not valid JSON.", param
        ) from None
    if not isinstance(value, dict):
        raise invalid_request("Tool call arguments must be a JSON object.", param)
    return value


def translate_messages(
    messages: Any, fetched: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Canonical messages -> Ollama ``messages`` (system/developer stay in place)."""
    fetched = fetched or {}
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages must be a non-empty array.", "messages")
    out: list[dict[str, Any]] = []
    tool_names: dict[str, str] = {}
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise invalid_request(f"messages[{i}] must be an object.", f"messages[{i}]")
        role = msg.get("role")
        where = f"messages[{i}].content"
        if role in ("system", "developer"):
            out.append(
                {"role": "system", "content": _text_of(msg.get("content"), where)}
            )
        elif role == "user":
            text, images = _user_content(msg.get("content"), i, fetched)
            item: dict[str, Any] = {"role": "user", "content": text}
            if images:
                item["images"] = images
            out.append(item)
        elif role == "assistant":
            item = {"role": "assistant", "content": _text_of(msg.get("content"), where)}
            calls = msg.get("tool_calls") or []
            if not isinstance(calls, list):
                raise invalid_request(
                    "tool_calls must be an array.", f"messages[{i}].tool_calls"
                )
            converted = []
            for j, call in enumerate(calls):
                param = f"messages[{i}].tool_calls[{j}]"
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not fn.get("name"):
                    raise invalid_request(
                        "Each tool call needs function.name.", f"{param}.function"
                    )
                args = _parse_arguments(
                    fn.get("arguments"), f"{param}.function.arguments"
                )
                entry: dict[str, Any] = {
                    "function": {"name": str(fn["name"]), "arguments": args}
                }
                call_id = call.get("id")
                if call_id:
                    entry["id"] = str(call_id)
                    tool_names[str(call_id)] = str(fn["name"])
                converted.append(entry)
            if converted:
                item["tool_calls"] = converted
            out.append(item)
        elif role in ("tool", "function"):
            item = {"role": "tool", "content": _text_of(msg.get("content"), where)}
            if role == "function":
                name = msg.get("name")
            else:
                call_id = str(msg.get("tool_call_id") or "")
                name = tool_names.get(call_id)
                if call_id:
                    item["tool_call_id"] = call_id
            if name:
                item["tool_name"] = str(name)
            out.append(item)
        else:
            raise invalid_request(
                f"Unsupported message role {role!r}.", f"messages[{i}].role"
            )
    return out


def translate_tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise invalid_request("tools must be an array.", "tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise invalid_request(
                f"Tool type {kind!r} is not supported by Ollama.", f"tools[{i}].type"
            )
        fn = tool.get("function")
        if not isinstance(fn, dict) or not fn.get("name"):
            raise invalid_request(
                "Each tool needs function.name.", f"tools[{i}].function.name"
            )
        spec: dict[str, Any] = {"name": str(fn["name"])}
        if fn.get("description"):
            spec["description"] = str(fn["description"])
        spec["parameters"] = fn.get("parameters") or {
            "type": "object",
            "properties": {},
        }
        out.append({"type": "function", "function": spec})
    return out


def _select_tools(
    tools: list[dict[str, Any]], choice: Any, lenient: bool
) -> list[dict[str, Any]] | None:
    """The tools to send for ``tool_choice``; None means send none."""
    if choice is None or choice == "auto":
        return tools
    if choice == "none":
        return None
    names: set[str] | None = None
    forced = True
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        names = {str(name)} if name else None
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        forced = allowed.get("mode", "auto") != "auto"
        names = {
            str((t.get("function") or {}).get("name"))
            for t in allowed.get("tools") or []
            if isinstance(t, dict)
        }
    elif choice != "required":
        raise invalid_request(f"Unknown tool_choice {choice!r}.", "tool_choice")
    if forced and not lenient:
        raise invalid_request(
            "Ollama cannot force a tool call: tool_choice must be 'auto' or 'none'.",
            "tool_choice",
        )
    if names is None:
        return tools
    chosen = [t for t in tools if t["function"]["name"] in names]
    if not chosen:
        raise invalid_request(
            "tool_choice names a function that is not in tools.", "tool_choice"
        )
    return chosen


def _response_format(value: Any) -> str | dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_request("response_format must be an object.", "response_format")
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise invalid_request(
                "response_format.json_schema.schema must be a JSON Schema object.",
                "response_format.json_schema.schema",
            )
        return schema
    raise invalid_request(
        f"response_format type {kind!r} is not supported by Ollama.",
        "response_format.type",
    )


def build_chat_body(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    model_id: str,
    stream: bool,
    fetched: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``/api/chat`` JSON body for a canonical request.

    ``fetched`` maps http(s) image URLs (see ``image_urls``) to their base64 bytes.
    """
    n = request.get("n")
    if n is not None and n != 1:
        raise invalid_request("Ollama returns one choice: n must be 1.", "n")
    if request.get("logprobs"):
        raise invalid_request(
            "logprobs are not supported for Ollama models.", "logprobs"
        )

    body: dict[str, Any] = {
        "model": model_id,
        "messages": translate_messages(request.get("messages"), fetched),
        "stream": bool(stream),
    }

    if request.get("tools"):
        lenient = cfg.config.get("tool_choice_fallback") == "auto"
        tools = _select_tools(
            translate_tools(request["tools"]), request.get("tool_choice"), lenient
        )
        if tools:
            body["tools"] = tools
    elif request.get("tool_choice") not in (None, "none", "auto"):
        raise invalid_request("tool_choice needs tools.", "tool_choice")

    options: dict[str, Any] = dict(cfg.config.get("options") or {})
    max_tokens = request.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = request.get("max_tokens")
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    for key in (
        "temperature",
        "top_p",
        "seed",
        "presence_penalty",
        "frequency_penalty",
    ):
        if request.get(key) is not None:
            options[key] = request[key]
    stop = request.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list) and stop:
        options["stop"] = [str(s) for s in stop]
    if options:
        body["options"] = options

    fmt = _response_format(request.get("response_format"))
    if fmt is not None:
        body["format"] = fmt

    effort = request.get("reasoning_effort")
    if effort is not None:
        if effort not in _THINK_MAP:
            raise invalid_request(
                f"Unknown reasoning_effort {effort!r}.", "reasoning_effort"
            )
        body["think"] = _THINK_MAP[effort]

    keep_alive = cfg.config.get("keep_alive")
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    return body


def build_chat_request(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    model_id: str,
    stream: bool,
    headers: Mapping[str, str] | None = None,
    fetched: Mapping[str, str] | None = None,
) -> UpstreamRequest:
    return UpstreamRequest(
        "POST",
        api_url(cfg, "chat"),
        {**(headers or {}), "Content-Type": "application/json"},
        json=build_chat_body(cfg, request, model_id, stream, fetched),
    )


# -- response translation -----------------------------------------------------


def map_done_reason(reason: Any, has_tool_calls: bool = False) -> str:
    """PROTOCOLS.md 2.5: stop/""/load/unload -> stop, length -> length."""
    if has_tool_calls:
        return "tool_calls"
    if reason == "length":
        return "length"
    if reason not in (None, "", "stop", "load", "unload"):
        log.warning("ollama: unknown done_reason %r mapped to stop", reason)
    return "stop"


def usage_from(body: Mapping[str, Any]) -> dict[str, int]:
    """Usage from the counts Ollama omits when zero."""
    prompt = int(body.get("prompt_eval_count") or 0)
    completion = int(body.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def created_from(value: Any) -> int:
    if isinstance(value, str) and value:
        try:
            return int(datetime.fromisoformat(value).timestamp())
        except ValueError:
            pass
    return now()


def convert_tool_calls(calls: Any) -> list[dict[str, Any]]:
    """Ollama tool calls (object arguments, maybe no id) -> canonical tool_calls."""
    out = []
    for call in calls or []:
        if not isinstance(call, dict):
            continue
        fn = call.get("function") or {}
        args = fn.get("arguments")
        if isinstance(args, str):
            arguments = args
        else:
            arguments = json.dumps(args if args is not None else {}, ensure_ascii=False)
        out.append(
            {
                "id": str(call.get("id") or synth_tool_call_id()),
                "type": "function",
                "function": {"name": str(fn.get("name") or ""), "arguments": arguments},
            }
        )
    return out


def error_from_body(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> DriverError:
    """Ollama ``{"error": "..."}`` (any status) -> DriverError."""
    if isinstance(body, (bytes, str)):
        message = error_message_from_body(body)
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    else:
        message = json.dumps(body)[:500]
    if status < 400:  # an error reported inside a 200 answer (stream or body)
        return DriverError(f"{VENDOR} error: {message}", status=502, transient=False)
    if "try pulling it first" in message and status != 404:
        status = 404
    return error_from_status(status, message, headers or {}, VENDOR)


def parse_chat_response(body: Any, model_id: str = "") -> dict[str, Any]:
    """A non-streaming ``/api/chat`` answer -> ``chat.completion``."""
    if not isinstance(body, dict):
        raise DriverError(f"{VENDOR} returned an unexpected answer.", status=502)
    if "error" in body:
        raise error_from_body(200, body)
    msg = body.get("message") or {}
    tool_calls = convert_tool_calls(msg.get("tool_calls"))
    content: str | None = str(msg.get("content") or "")
    if tool_calls and not content:
        content = None
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if msg.get("thinking"):
        message["reasoning_content"] = str(msg["thinking"])
    return {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": created_from(body.get("created_at")),
        "model": str(body.get("model") or model_id),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": map_done_reason(
                    body.get("done_reason"), bool(tool_calls)
                ),
                "logprobs": None,
            }
        ],
        "usage": usage_from(body),
    }


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class OllamaStreamTranslator:
    """NDJSON ``/api/chat`` lines -> canonical chunks (pure, stateful).

    ``feed(line)`` takes one parsed JSON line; ``finish()`` is called at EOF and
    raises when the stream ended before Ollama's ``done: true`` line.
    """

    def __init__(self) -> None:
        self.started = False
        self.done = False
        self.tool_count = 0

    def _start(self) -> list[dict[str, Any]]:
        if self.started:
            return []
        self.started = True
        return [_chunk({"role": "assistant", "content": ""})]

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        if not isinstance(event, Mapping):
            raise DriverError(f"{VENDOR} streamed an unexpected line.", status=502)
        if "error" in event:
            raise error_from_body(200, dict(event))
        if self.done:
            return []
        out = self._start()
        msg = event.get("message") or {}
        if msg.get("thinking"):
            out.append(_chunk({"reasoning_content": str(msg["thinking"])}))
        if msg.get("content"):
            out.append(_chunk({"content": str(msg["content"])}))
        for call in convert_tool_calls(msg.get("tool_calls")):
            k = self.tool_count
            self.tool_count += 1
            fn = call["function"]
            start = {
                "index": k,
                "id": call["id"],
                "type": "function",
                "function": {"name": fn["name"], "arguments": ""},
            }
            out.append(_chunk({"tool_calls": [start]}))
            if fn["arguments"]:
                frag = {"index": k, "function": {"arguments": fn["arguments"]}}
                out.append(_chunk({"tool_calls": [frag]}))
        if event.get("done"):
            self.done = True
            finish = map_done_reason(event.get("done_reason"), self.tool_count > 0)
            out.append(_chunk({}, finish))
            out.append({"choices": [], "usage": usage_from(event)})
        return out

    def finish(self) -> list[dict[str, Any]]:
        if not self.done:
            raise DriverError(
                f"{VENDOR} stream ended before it was done.",
                status=502,
                code="upstream_error",
            )
        return []


# -- embeddings -----------------------------------------------------------------


def build_embed_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str
) -> dict[str, Any]:
    value = request.get("input")
    if isinstance(value, str):
        if not value:
            raise invalid_request("input must not be empty.", "input")
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        pass
    elif isinstance(value, list) and value:
        raise invalid_request(
            "Ollama embeds strings only: token arrays are not supported.", "input"
        )
    else:
        raise invalid_request(
            "input must be a string or a non-empty array of strings.", "input"
        )
    fmt = request.get("encoding_format")
    if fmt not in (None, "float", "base64"):
        raise invalid_request(
            "encoding_format must be 'float' or 'base64'.", "encoding_format"
        )
    body: dict[str, Any] = {"model": model_id, "input": value}
    dims = request.get("dimensions")
    if dims is not None:
        if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
            raise invalid_request(
                "dimensions must be a positive integer.", "dimensions"
            )
        body["dimensions"] = dims
    if cfg.config.get("embed_truncate") is not None:
        body["truncate"] = bool(cfg.config["embed_truncate"])
    if cfg.config.get("keep_alive") is not None:
        body["keep_alive"] = cfg.config["keep_alive"]
    return body


def encode_base64_floats(vector: Iterable[float]) -> str:
    values = list(vector)
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def parse_embed_response(
    body: Any, request: Mapping[str, Any], model_id: str = ""
) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("embeddings"), list):
        raise DriverError(f"{VENDOR} returned an unexpected embeddings answer.")
    as_base64 = request.get("encoding_format") == "base64"
    data = []
    for i, vector in enumerate(body["embeddings"]):
        data.append(
            {
                "object": "embedding",
                "index": i,
                "embedding": encode_base64_floats(vector) if as_base64 else vector,
            }
        )
    tokens = int(body.get("prompt_eval_count") or 0)
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model") or model_id),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# -- discovery ------------------------------------------------------------------


def is_embedding_model(entry: Mapping[str, Any]) -> bool:
    name = str(entry.get("name") or entry.get("model") or "").lower()
    details = entry.get("details") or {}
    families = {str(details.get("family") or "").lower()}
    families.update(str(f).lower() for f in details.get("families") or [])
    return "embed" in name or bool(families & _EMBEDDING_FAMILIES)


def parse_models(body: Any) -> list[ModelInfo]:
    """``GET /api/tags`` -> ModelInfo list (type guessed by name/family)."""
    if not isinstance(body, dict) or not isinstance(body.get("models"), list):
        raise DriverError(f"{VENDOR} returned an unexpected model list.", status=502)
    out = []
    for entry in body["models"]:
        if not isinstance(entry, dict):
            continue
        model_id = str(entry.get("model") or entry.get("name") or "")
        if not model_id:
            continue
        out.append(
            ModelInfo(
                model_id=model_id,
                name=str(entry.get("name") or model_id),
                model_type="embedding" if is_embedding_model(entry) else "inference",
            )
        )
    return out


def parse_show(body: Any) -> tuple[int | None, list[str]]:
    """``POST /api/show`` -> (context window, capabilities)."""
    if not isinstance(body, dict):
        return None, []
    info = body.get("model_info") or {}
    window = None
    arch = info.get("general.architecture")
    keys = [f"{arch}.context_length"] if arch else []
    keys += [k for k in info if str(k).endswith(".context_length")]
    for key in keys:
        value = info.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            window = value
            break
    caps = [str(c) for c in body.get("capabilities") or []]
    return window, caps


def apply_show(model: ModelInfo, show: Any) -> ModelInfo:
    window, caps = parse_show(show)
    model_type = model.model_type
    if caps:
        model_type = (
            "embedding"
            if "embedding" in caps and "completion" not in caps
            else "inference"
        )
    return ModelInfo(
        model_id=model.model_id,
        name=model.name,
        model_type=model_type,
        context_window=window or model.context_window,
    )


# -- I/O layer ------------------------------------------------------------------


def _json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise DriverError(f"{VENDOR} returned invalid JSON.", status=502) from None


class OllamaDriver(Driver):
    vendor = VENDOR

    async def _headers(self) -> dict[str, str]:
        return {**(await self.auth()), "Content-Type": "application/json"}

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return error_from_body(status, body, headers)

    # images ---------------------------------------------------------------

    async def _fetch_images(self, request: Mapping[str, Any]) -> dict[str, str]:
        wanted = image_urls(request)
        if not wanted:
            return {}
        cap = int(self.config.config.get("image_max_bytes") or DEFAULT_IMAGE_MAX_BYTES)
        limit = float(
            self.config.config.get("image_fetch_timeout") or DEFAULT_IMAGE_FETCH_TIMEOUT
        )
        fetched: dict[str, str] = {}
        for param, url in wanted:
            if url in fetched:
                continue
            try:
                data = await asyncio.wait_for(self._fetch_one(url, cap, param), limit)
            except TimeoutError:
                raise invalid_request(
                    f"The image URL did not answer within {limit:g} s.",
                    param,
                    code="invalid_image_url",
                ) from None
            fetched[url] = base64.b64encode(data).decode("ascii")
        return fetched

    async def _fetch_one(self, url: str, cap: int, param: str) -> bytes:
        def bad(reason: str) -> DriverError:
            return invalid_request(
                f"The image URL could not be used: {reason}.",
                param,
                code="invalid_image_url",
            )

        try:
            async with self.client.stream(
                "GET", url, timeout=self.config.timeouts.httpx()
            ) as response:
                if response.status_code != 200:
                    raise bad(f"it answered HTTP {response.status_code}")
                kind = response.headers.get("content-type", "").split(";")[0].strip()
                if kind and not kind.lower().startswith("image/"):
                    raise bad(f"it is {kind}, not an image")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise bad(f"it is larger than {cap} bytes")
                buf = bytearray()
                async for piece in response.aiter_bytes():
                    buf.extend(piece)
                    if len(buf) > cap:
                        raise bad(f"it is larger than {cap} bytes")
                return bytes(buf)
        except httpx.TimeoutException:
            raise bad("it timed out") from None
        except httpx.HTTPError as exc:
            raise bad(f"{type(exc).__name__}") from None

    # chat -------------------------------------------------------------------

    async def _chat_request(
        self, request: dict[str, Any], model_id: str, stream: bool
    ) -> UpstreamRequest:
        # Translate once before any I/O so caller mistakes never cost a fetch.
        build_chat_body(self.config, request, model_id, stream, _placeholders(request))
        fetched = await self._fetch_images(request)
        return build_chat_request(
            self.config, request, model_id, stream, await self.auth(), fetched
        )

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        req = await self._chat_request(request, model_id, stream=False)
        response = await self.send(req)
        return parse_chat_response(_json_of(response), model_id)

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        req = await self._chat_request(request, model_id, stream=True)
        response = await self.open_stream(req)
        translator = OllamaStreamTranslator()
        try:
            try:
                async for line in response.aiter_lines():
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        raise DriverError(
                            f"{VENDOR} streamed a line that is not JSON.", status=502
                        ) from None
                    for chunk in translator.feed(event):
                        yield chunk
                    if translator.done:
                        break
            except DriverError:
                raise
            except Exception as exc:
                raise stream_error(exc, VENDOR) from None
            for chunk in translator.finish():
                yield chunk
        finally:
            await response.aclose()

    # embeddings ---------------------------------------------------------------

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        body = build_embed_body(self.config, request, model_id)
        req = UpstreamRequest(
            "POST", api_url(self.config, "embed"), await self._headers(), json=body
        )
        response = await self.send(req)
        return parse_embed_response(_json_of(response), request, model_id)

    # discovery ------------------------------------------------------------------

    async def _tags(self) -> Any:
        req = UpstreamRequest("GET", api_url(self.config, "tags"), await self.auth())
        return _json_of(await self.send(req))

    async def list_models(self) -> list[ModelInfo]:
        models = parse_models(await self._tags())
        if not self.config.config.get("discover_details", True) or not models:
            return models
        headers = await self._headers()
        gate = asyncio.Semaphore(4)

        async def detail(model: ModelInfo) -> ModelInfo:
            req = UpstreamRequest(
                "POST",
                api_url(self.config, "show"),
                headers,
                json={"model": model.model_id},
            )
            async with gate:
                try:
                    show = _json_of(await self.send(req))
                except DriverError as exc:
                    log.info("ollama: /api/show %s failed: %s", model.model_id, exc)
                    return model
            return apply_show(model, show)

        return list(await asyncio.gather(*(detail(m) for m in models)))

    async def health_check(self) -> None:
        try:
            parse_models(await self._tags())
        except DriverError:
            raise
        except Exception as exc:
            raise error_from_exception(exc, VENDOR) from None


def _placeholders(request: Mapping[str, Any]) -> dict[str, str]:
    """Stand-in bytes for http(s) images so the request can be validated first."""
    return {url: "" for _, url in image_urls(request)}
