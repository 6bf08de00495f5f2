"""AWS Bedrock driver: Converse / ConverseStream for chat, InvokeModel for embeddings.

Wire format: PROTOCOLS.md section 6. Every runtime request is signed with SigV4
through botocore (service ``bedrock``, the provider's region) and sent with the
pooled httpx client, byte for byte as signed. The control plane (model listing,
health) goes through boto3 with explicit credentials, off the event loop.

Translation choices (documented policy, tested):

- ``system``/``developer`` messages, wherever they appear, become the top-level
  ``system`` blocks (Converse has no mid-conversation system turn).
- Same-role neighbours are merged (tool results are user turns); a conversation
  that starts with the assistant gets a minimal user turn ``"."`` in front.
- Blank text blocks are dropped; the final assistant text of a prefill is
  right-stripped (Claude rejects trailing whitespace there).
- Tool-call history without usable tools (no ``tools``, or ``tool_choice:
  "none"``, which Converse cannot express) is flattened to plain text, so the
  model cannot call anything and Bedrock does not demand a ``toolConfig``.
- ``temperature`` above 1 is clamped to 1 (Bedrock's maximum); ``n > 1``,
  ``logprobs``, ``response_format`` json modes, audio/file parts → 400;
  ``seed``, penalties, ``user``, ``parallel_tool_calls`` are dropped.
- Image URLs (http/https) are fetched through the guarded client (20 MB cap)
  and inlined as bytes; data URLs are decoded directly.
- Tool ids are kept when they match ``[a-zA-Z0-9_.:-]{1,64}``, otherwise
  rewritten deterministically (same function for calls and results).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from providers.drivers.base import (
    Driver,
    DriverConfig,
    DriverError,
    ModelInfo,
    UpstreamRequest,
    error_from_status,
    invalid_request,
    new_completion_id,
    now,
    parse_retry_after,
    stream_error,
)

log = logging.getLogger(__name__)

VENDOR = "Bedrock"
SERVICE = "bedrock"
JSON = "application/json"
EVENT_STREAM = "application/vnd.amazon.eventstream"
IMAGE_FETCH_LIMIT = 20 * 1024 * 1024
FIRST_USER_PLACEHOLDER = "."
COHERE_BATCH = 96

_DATA_URL_RE = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.+)$", re.DOTALL)
_TOOL_ID_RE = re.compile(r"^[a-zA-Z0-9_.:-]{1,64}$")
_REGION_HOST_RE = re.compile(r"^bedrock(?:-runtime)?(?:-fips)?\.([a-z0-9-]+)\.")
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "stop",
    "malformed_tool_use": "stop",
}
_AUTH_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "ExpiredToken",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)


# -- configuration -------------------------------------------------------------


def region_of(cfg: DriverConfig) -> str:
    """The provider's AWS region: config ``region``, else parsed from the base URL."""
    region = str(cfg.config.get("region") or "").strip()
    if region:
        return region
    match = _REGION_HOST_RE.match(urlsplit(cfg.base_url).hostname or "")
    if match:
        return match.group(1)
    raise DriverError(
        "Bedrock needs a region (provider config 'region').",
        status=502,
        code="upstream_config_error",
        health="failed",
        should_retry=False,
    )


def model_url(cfg: DriverConfig, model_id: str, action: str) -> str:
    """``{base}/model/{modelId}/{action}`` with the id as one path segment.

    ``/`` (ARNs) is sent as ``%2F``; ``:`` stays literal. The signature covers the
    path exactly as it travels, and the aiohttp transport (yarl) rewrites ``%3A``
    to ``:`` before sending, so ``:`` is the only spelling that both transports
    put on the wire unchanged (AWS canonicalises either form to ``%3A``).
    """
    base = cfg.base_url.rstrip("/")
    return f"{base}/model/{quote(model_id, safe=':')}/{action}"


def sign_request(
    cfg: DriverConfig, method: str, url: str, body: bytes, accept: str = JSON
) -> UpstreamRequest:
    """A SigV4-signed request (botocore), ready to send exactly as built."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = cfg.credentials
    access_key = str(creds.get("access_key_id") or "")
    secret = str(creds.get("secret_access_key") or "")
    if not access_key or not secret:
        raise DriverError(
            "Bedrock provider has no AWS access key id / secret access key.",
            status=502,
            code="upstream_auth_error",
            health="failed",
            should_retry=False,
        )
    token = str(creds.get("session_token") or "") or None
    headers = {"Content-Type": JSON, "Accept": accept}
    aws_request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(access_key, secret, token), SERVICE, region_of(cfg)).add_auth(
        aws_request
    )
    signed = {str(k): str(v) for k, v in aws_request.headers.items()}
    return UpstreamRequest(method, url, signed, content=body)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


# -- request translation (canonical → Converse) --------------------------------


def tool_id(raw: Any) -> str:
    """A Bedrock-valid tool-use id; valid ids pass unchanged, others are rewritten.

    The rewrite is deterministic (a hash suffix keeps distinct ids distinct), so a
    call id and the matching result's ``tool_call_id`` still pair up.
    """
    text = "" if raw is None else str(raw)
    if _TOOL_ID_RE.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    cleaned = re.sub(r"[^a-zA-Z0-9_.:-]", "_", text)[:51]
    return f"{cleaned or 'call'}_{digest}"


def _text_of(content: Any, param: str) -> str:
    """Text of a system/tool message: a string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") not in ("text", None):
                raise invalid_request(
                    "Only text parts are allowed here.", f"{param}[{j}]"
                )
            texts.append(str(part.get("text") or ""))
        return "\n".join(t for t in texts if t.strip())
    raise invalid_request("content must be a string or an array of parts.", param)


def image_urls(request: Mapping[str, Any]) -> list[str]:
    """The http(s) image URLs in user messages (the driver fetches and inlines them)."""
    urls: list[str] = []
    for msg in request.get("messages") or []:
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), list):
            continue
        for part in msg["content"]:
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = str((part.get("image_url") or {}).get("url") or "")
                if url.startswith(("http://", "https://")) and url not in urls:
                    urls.append(url)
    return urls


def image_format(data: bytes, content_type: str = "") -> str | None:
    """png/jpeg/gif/webp from the magic bytes, else from the content type."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return _IMAGE_FORMATS.get(content_type.split(";")[0].strip().lower())


def _image_block(
    part: Mapping[str, Any], param: str, images: Mapping[str, tuple[str, str]]
) -> dict[str, Any]:
    url = str((part.get("image_url") or {}).get("url") or "")
    match = _DATA_URL_RE.match(url)
    if match:
        fmt = _IMAGE_FORMATS.get(match.group(1))
        if fmt is None:
            raise invalid_request(
                f"Bedrock accepts png, jpeg, gif and webp, not {match.group(1)}.",
                param,
            )
        payload = re.sub(r"\s+", "", match.group(2))
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_request("The image data URL is not valid base64.", param)
        return {"image": {"format": fmt, "source": {"bytes": payload}}}
    if url in images:
        fmt, payload = images[url]
        return {"image": {"format": fmt, "source": {"bytes": payload}}}
    raise invalid_request(
        "image_url.url must be a data: URL or an http(s) URL to an image.", param
    )


def _user_blocks(
    content: Any, param: str, images: Mapping[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise invalid_request("content must be a string or an array of parts.", param)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = str(part.get("text") or "")
            if text.strip():
                blocks.append({"text": text})
        elif kind == "image_url":
            blocks.append(_image_block(part, f"{param}[{j}].image_url.url", images))
        else:
            raise invalid_request(
                f"Bedrock does not accept content parts of type {kind!r} here.",
                f"{param}[{j}]",
            )
    return blocks


def _parse_arguments(raw: Any, param: str) -> Any:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise invalid_request("Tool call arguments must be valid JSON.", param)
    if not isinstance(value, dict):
        raise invalid_request("Tool call arguments must be a JSON object.", param)
    return value


def _has_tool_history(messages: list[Any]) -> bool:
    return any(
        isinstance(m, dict)
        and (m.get("role") in ("tool", "function") or m.get("tool_calls"))
        for m in messages
    )


def build_messages(
    messages: list[Any],
    *,
    native_tools: bool,
    images: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Canonical messages → (Converse ``messages``, ``system`` blocks).

    ``native_tools`` False flattens tool calls and results into text (used when
    the request defines no tools Bedrock will see).
    """
    images = images or {}
    system: list[dict[str, str]] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise invalid_request("Each message must be an object.", f"messages[{i}]")
        role = msg.get("role")
        param = f"messages[{i}].content"
        if role in ("system", "developer"):
            text = _text_of(msg.get("content"), param)
            if text.strip():
                system.append({"text": text})
        elif role == "user":
            add("user", _user_blocks(msg.get("content"), param, images))
        elif role == "assistant":
            add("assistant", _assistant_blocks(msg, i, native_tools))
        elif role in ("tool", "function"):
            call_id = msg.get("tool_call_id") or msg.get("name") or ""
            text = _text_of(msg.get("content"), param)
            if native_tools:
                result: dict[str, Any] = {
                    "toolUseId": tool_id(call_id),
                    "content": [{"text": text}] if text.strip() else [],
                }
                add("user", [{"toolResult": result}])
            else:
                add("user", [{"text": f"[Result of tool call {call_id}]: {text}"}])
        else:
            raise invalid_request(
                f"Unsupported message role {role!r}.", f"messages[{i}].role"
            )

    if not turns:
        raise invalid_request(
            "messages must contain at least one non-empty user or assistant message.",
            "messages",
        )
    if turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"text": FIRST_USER_PLACEHOLDER}]})
    last = turns[-1]
    if last["role"] == "assistant":
        blocks = last["content"]
        if blocks and "text" in blocks[-1]:
            stripped = blocks[-1]["text"].rstrip()
            if stripped:
                blocks[-1] = {"text": stripped}
            else:
                blocks.pop()
        if not blocks:
            turns.pop()
    return turns, system


def _assistant_blocks(
    msg: Mapping[str, Any], i: int, native_tools: bool
) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    content = msg.get("content")
    if isinstance(content, str):
        if content.strip():
            blocks.append({"text": content})
    elif isinstance(content, list):
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("text", "refusal"):
                raise invalid_request(
                    "Assistant content parts must be text or refusal.",
                    f"messages[{i}].content[{j}]",
                )
            text = str(part.get(kind) or "")
            if text.strip():
                blocks.append({"text": text})
    elif content is not None:
        raise invalid_request(
            "content must be a string, an array or null.", f"messages[{i}].content"
        )
    for j, call in enumerate(msg.get("tool_calls") or []):
        param = f"messages[{i}].tool_calls[{j}]"
        if not isinstance(call, dict):
            raise invalid_request("Each tool call must be an object.", param)
        function = call.get("function") or {}
        name = str(function.get("name") or "")
        if not name:
            raise invalid_request("Tool calls need a function name.", param)
        args = _parse_arguments(
            function.get("arguments"), f"{param}.function.arguments"
        )
        if native_tools:
            blocks.append(
                {
                    "toolUse": {
                        "toolUseId": tool_id(call.get("id") or f"{i}_{j}"),
                        "name": name,
                        "input": args,
                    }
                }
            )
        else:
            call_id = call.get("id")
            text = f"[Called tool {name} (id {call_id}): {json.dumps(args)}]"
            blocks.append({"text": text})
    return blocks


def build_tool_config(request: Mapping[str, Any]) -> dict[str, Any] | None:
    """``toolConfig`` for the request, or None when Bedrock should see no tools."""
    tools = request.get("tools") or []
    choice = request.get("tool_choice")
    if not tools:
        if choice == "required" or isinstance(choice, dict):
            raise invalid_request("tool_choice needs tools.", "tool_choice")
        return None
    if choice == "none":
        return None
    specs = []
    names = set()
    for k, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise invalid_request(
                "Bedrock supports only function tools.", f"tools[{k}].type"
            )
        function = tool.get("function") or {}
        name = str(function.get("name") or "")
        if not name:
            raise invalid_request("Tools need a name.", f"tools[{k}].function.name")
        names.add(name)
        spec: dict[str, Any] = {
            "name": name,
            "inputSchema": {
                "json": function.get("parameters")
                or {"type": "object", "properties": {}}
            },
        }
        if function.get("description"):
            spec["description"] = str(function["description"])
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if choice in (None, "auto"):
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = str((choice.get("function") or {}).get("name") or "")
        if name not in names:
            raise invalid_request(
                f"tool_choice names {name!r}, which is not in tools.", "tool_choice"
            )
        config["toolChoice"] = {"tool": {"name": name}}
    else:
        raise invalid_request(
            "Bedrock supports tool_choice none, auto, required or a named function.",
            "tool_choice",
        )
    return config


def build_inference_config(
    cfg: DriverConfig, request: Mapping[str, Any]
) -> dict[str, Any]:
    inference: dict[str, Any] = {}
    max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
    if max_tokens is None:
        max_tokens = cfg.config.get("default_max_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise invalid_request("max_tokens must be an integer.", "max_tokens")
        inference["maxTokens"] = max_tokens
    temperature = request.get("temperature")
    if temperature is not None:
        # Bedrock's range is 0..1; OpenAI's is 0..2. Clamp rather than fail.
        inference["temperature"] = min(float(temperature), 1.0)
    if request.get("top_p") is not None:
        inference["topP"] = float(request["top_p"])
    stop = request.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop:
        sequences = [s for s in stop if isinstance(s, str) and s]
        if sequences:
            inference["stopSequences"] = sequences
    return inference


def build_converse_body(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    images: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The Converse / ConverseStream JSON body for a canonical chat request."""
    if (request.get("n") or 1) != 1:
        raise invalid_request("Bedrock returns a single choice; n must be 1.", "n")
    if request.get("logprobs"):
        raise invalid_request("Bedrock does not return logprobs.", "logprobs")
    response_format = request.get("response_format") or {}
    if isinstance(response_format, dict) and response_format.get("type") not in (
        None,
        "text",
    ):
        raise invalid_request(
            "response_format json modes are not supported for Bedrock providers.",
            "response_format",
        )
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages must be a non-empty array.", "messages")
    tool_config = build_tool_config(request)
    turns, system = build_messages(
        messages, native_tools=tool_config is not None, images=images
    )
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    inference = build_inference_config(cfg, request)
    if inference:
        body["inferenceConfig"] = inference
    if tool_config is not None:
        body["toolConfig"] = tool_config
    return body


def converse_request(
    cfg: DriverConfig,
    request: Mapping[str, Any],
    model_id: str,
    stream: bool,
    images: Mapping[str, tuple[str, str]] | None = None,
) -> UpstreamRequest:
    """The signed Converse (or ConverseStream) request."""
    body = _dumps(build_converse_body(cfg, request, images))
    action = "converse-stream" if stream else "converse"
    accept = EVENT_STREAM if stream else JSON
    return sign_request(cfg, "POST", model_url(cfg, model_id, action), body, accept)


# -- response translation ------------------------------------------------------


def map_stop_reason(reason: str | None) -> str:
    if reason in _STOP_REASONS:
        if reason.startswith("malformed"):
            log.warning("Bedrock stopped with %s", reason)
        return _STOP_REASONS[reason]
    if reason:
        log.warning("Unknown Bedrock stopReason %r", reason)
    return "stop"


def map_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    cache_read = int(usage.get("cacheReadInputTokens") or 0)
    cache_write = int(usage.get("cacheWriteInputTokens") or 0)
    prompt = int(usage.get("inputTokens") or 0) + cache_read + cache_write
    completion = int(usage.get("outputTokens") or 0)
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }
    if cache_write:
        result["cache_creation_tokens"] = cache_write
    return result


def parse_converse_response(
    data: Mapping[str, Any], model: str, request_id: str | None = None
) -> dict[str, Any]:
    """A Converse response → canonical ``chat.completion``."""
    message = ((data.get("output") or {}).get("message")) or {}
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if "text" in block:
            texts.append(str(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            tool_calls.append(
                {
                    "id": str(use.get("toolUseId") or ""),
                    "type": "function",
                    "function": {
                        "name": str(use.get("name") or ""),
                        "arguments": json.dumps(use.get("input") or {}),
                    },
                }
            )
        elif "reasoningContent" in block:
            text = ((block["reasoningContent"] or {}).get("reasoningText") or {}).get(
                "text"
            )
            if text:
                reasoning.append(str(text))
    out: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
    }
    if tool_calls:
        out["tool_calls"] = tool_calls
    if reasoning:
        out["reasoning_content"] = "".join(reasoning)
    return {
        "id": f"chatcmpl-{request_id}" if request_id else new_completion_id(),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": out,
                "finish_reason": map_stop_reason(data.get("stopReason")),
                "logprobs": None,
            }
        ],
        "usage": map_usage(data.get("usage")),
    }


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class StreamTranslator:
    """ConverseStream events → canonical chunks (pure, stateful).

    ``feed(event_type, payload)`` takes one decoded event; tool-call indexes count
    tool blocks (0, 1, …), not Bedrock's ``contentBlockIndex``.
    """

    def __init__(self) -> None:
        self.started = False
        self.finished = False
        self.tool_index: dict[int, int] = {}
        self.pending_usage: dict[str, Any] | None = None
        self.usage_sent = False

    def _start(self) -> list[dict[str, Any]]:
        if self.started:
            return []
        self.started = True
        return [_chunk({"role": "assistant", "content": ""})]

    def feed(self, event: str, payload: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = self._start()
        if event == "contentBlockStart":
            use = (payload.get("start") or {}).get("toolUse")
            if use is not None:
                k = len(self.tool_index)
                self.tool_index[int(payload.get("contentBlockIndex") or 0)] = k
                call = {
                    "index": k,
                    "id": str(use.get("toolUseId") or ""),
                    "type": "function",
                    "function": {"name": str(use.get("name") or ""), "arguments": ""},
                }
                out.append(_chunk({"tool_calls": [call]}))
        elif event == "contentBlockDelta":
            delta = payload.get("delta") or {}
            block = int(payload.get("contentBlockIndex") or 0)
            if delta.get("text"):
                out.append(_chunk({"content": str(delta["text"])}))
            elif "toolUse" in delta:
                fragment = str((delta["toolUse"] or {}).get("input") or "")
                if fragment and block in self.tool_index:
                    call = {
                        "index": self.tool_index[block],
                        "function": {"arguments": fragment},
                    }
                    out.append(_chunk({"tool_calls": [call]}))
            elif "reasoningContent" in delta:
                text = (delta["reasoningContent"] or {}).get("text")
                if text:
                    out.append(_chunk({"reasoning_content": str(text)}))
        elif event == "messageStop":
            if not self.finished:
                self.finished = True
                reason = map_stop_reason(payload.get("stopReason"))
                out.append(_chunk({}, reason))
                out.extend(self._usage())
        elif event == "metadata":
            if payload.get("usage") is not None:
                self.pending_usage = map_usage(payload["usage"])
            if self.finished:
                out.extend(self._usage())
        return out

    def _usage(self) -> list[dict[str, Any]]:
        if self.pending_usage is None or self.usage_sent:
            return []
        self.usage_sent = True
        return [{"choices": [], "usage": self.pending_usage}]

    def finish(self) -> list[dict[str, Any]]:
        """Called at the end of the body; a stream without messageStop is broken."""
        if not self.finished:
            raise DriverError(
                "Bedrock stream ended before the message was complete.",
                status=502,
                code="upstream_error",
                transient=True,
            )
        return self._usage()


def decode_event(
    headers: Mapping[str, Any], payload: bytes
) -> tuple[str, dict[str, Any]]:
    """One event-stream message → (event type, JSON members); raises for exceptions."""
    kind = headers.get(":message-type", "event")
    try:
        body = json.loads(payload or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if kind == "exception":
        name = str(headers.get(":exception-type") or "internalServerException")
        code = name[:1].upper() + name[1:]
        message = str(body.get("message") or body.get("Message") or name)
        raise aws_error(code, message, 500)
    if kind == "error":
        code = str(headers.get(":error-code") or "InternalServerException")
        message = str(headers.get(":error-message") or code)
        raise aws_error(code, message, 500)
    return str(headers.get(":event-type") or ""), body


# -- errors --------------------------------------------------------------------


def aws_error(
    code: str, message: str, status: int, headers: Mapping[str, str] | None = None
) -> DriverError:
    """An AWS exception name (+ message, HTTP status) → the gateway's DriverError."""
    headers = headers or {}
    message = message.strip()[:1000] or code
    if code in _AUTH_ERRORS:
        return DriverError(
            f"Bedrock refused the provider's AWS credentials ({code}): {message}",
            status=502,
            code="upstream_auth_error",
            health="unavailable",
            should_retry=False,
        )
    if code == "ValidationException":
        return DriverError(
            f"Bedrock rejected the request: {message}",
            status=400,
            type="invalid_request_error",
            code="upstream_invalid_request",
            health=None,
        )
    if code == "ResourceNotFoundException":
        return DriverError(
            "Bedrock does not know this model id, or it is not enabled in this "
            f"region: {message}",
            status=502,
            code="upstream_model_not_found",
            should_retry=False,
        )
    if code in ("ThrottlingException", "ServiceQuotaExceededException"):
        return DriverError(
            f"Bedrock rate limit ({code}): {message}",
            status=429,
            type="rate_limit_error",
            code="upstream_rate_limited",
            retry_after=parse_retry_after(headers),
            transient=True,
            health=None,
        )
    if code == "ModelTimeoutException":
        return DriverError(
            f"Bedrock model timed out: {message}",
            status=504,
            code="upstream_timeout",
            transient=True,
        )
    if code in ("ServiceUnavailableException", "ModelNotReadyException"):
        return DriverError(
            f"Bedrock is unavailable ({code}): {message}",
            status=503,
            code="upstream_unavailable",
            retry_after=parse_retry_after(headers),
            transient=True,
        )
    if code in (
        "ModelErrorException",
        "ModelStreamErrorException",
        "InternalServerException",
        "InternalFailure",
    ):
        return DriverError(
            f"Bedrock error ({code}): {message}",
            status=502,
            code="upstream_error",
            transient=True,
        )
    return error_from_status(status, message, headers, VENDOR)


def error_code(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """(AWS exception name, message) from an error response."""
    data: Any = None
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    raw = str(
        headers.get("x-amzn-errortype")
        or headers.get("x-amzn-ErrorType")
        or data.get("__type")
        or data.get("code")
        or ""
    )
    code = raw.split(":", 1)[0].rsplit("#", 1)[-1]
    message = data.get("message") or data.get("Message")
    if not isinstance(message, str):
        message = body.decode("utf-8", "replace").strip()[:500] if not data else ""
    return code, message


def parse_error(status: int, body: bytes, headers: Mapping[str, str]) -> DriverError:
    """A Bedrock HTTP error response → DriverError."""
    code, message = error_code(body, headers)
    return aws_error(code, message or f"HTTP {status}", status, headers)


def scrub(message: str, cfg: DriverConfig) -> str:
    """Remove credential values (AWS may echo the canonical request) from text."""
    for key in ("secret_access_key", "session_token", "access_key_id"):
        value = str(cfg.credentials.get(key) or "")
        if value:
            message = message.replace(value, "***")
    return message


def _scrubbed(err: DriverError, cfg: DriverConfig) -> DriverError:
    err.message = scrub(err.message, cfg)
    err.args = (err.message,)
    return err


# -- embeddings ----------------------------------------------------------------


def embedding_inputs(request: Mapping[str, Any]) -> list[str]:
    value = request.get("input")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise invalid_request("input must be a string or an array of strings.", "input")
    if not all(isinstance(v, str) for v in value):
        raise invalid_request(
            "Bedrock embeddings take text input, not token arrays.", "input"
        )
    if any(not v.strip() for v in value):
        raise invalid_request("input must not contain empty strings.", "input")
    return list(value)


def embedding_family(model_id: str) -> str:
    if "titan-embed" in model_id:
        return "titan"
    if "cohere.embed" in model_id:
        return "cohere"
    raise invalid_request(
        "Bedrock embeddings support Amazon Titan and Cohere embed models only.",
        "model",
    )


def titan_embed_body(model_id: str, text: str, dimensions: Any) -> dict[str, Any]:
    if "titan-embed-text-v1" in model_id or "titan-embed-g1" in model_id:
        if dimensions is not None:
            raise invalid_request(
                "This Titan model has fixed dimensions.", "dimensions"
            )
        return {"inputText": text}
    body: dict[str, Any] = {"inputText": text, "normalize": True}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def cohere_embed_body(texts: list[str], request: Mapping[str, Any]) -> dict[str, Any]:
    if request.get("dimensions") is not None:
        raise invalid_request(
            "Cohere embed on Bedrock does not take dimensions.", "dimensions"
        )
    return {
        "texts": texts,
        "input_type": str(request.get("input_type") or "search_document"),
    }


def cohere_vectors(data: Mapping[str, Any]) -> list[list[float]]:
    embeddings = data.get("embeddings")
    if isinstance(embeddings, dict):
        embeddings = embeddings.get("float")
    return [list(v) for v in embeddings or []]


def embeddings_response(
    vectors: list[list[float]], prompt_tokens: int, model: str, encoding: str | None
) -> dict[str, Any]:
    data = []
    for index, vector in enumerate(vectors):
        embedding: Any = vector
        if encoding == "base64":
            embedding = base64.b64encode(
                struct.pack(f"<{len(vector)}f", *vector)
            ).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


# -- discovery -----------------------------------------------------------------


def parse_models(
    foundation: list[Mapping[str, Any]], profiles: list[Mapping[str, Any]]
) -> list[ModelInfo]:
    """Foundation models (text/embedding, on-demand) plus active inference profiles.

    Models offered only through inference profiles (no ``ON_DEMAND``) cannot be
    invoked by their bare id, so only their profile ids are listed.
    """
    kinds: dict[str, str] = {}
    found: list[ModelInfo] = []
    for summary in foundation:
        outputs = summary.get("outputModalities") or []
        if "EMBEDDING" in outputs:
            kind = "embedding"
        elif "TEXT" in outputs:
            kind = "inference"
        else:
            continue
        model_id = str(summary.get("modelId") or "")
        kinds[model_id] = kind
        if "ON_DEMAND" not in (summary.get("inferenceTypesSupported") or []):
            continue
        found.append(
            ModelInfo(model_id, str(summary.get("modelName") or model_id), kind)
        )
    for profile in profiles:
        if profile.get("status", "ACTIVE") != "ACTIVE":
            continue
        arns = [str(m.get("modelArn") or "") for m in profile.get("models") or []]
        base_ids = [arn.rsplit("/", 1)[-1] for arn in arns]
        known = [kinds[b] for b in base_ids if b in kinds]
        if not known:
            continue
        profile_id = str(profile.get("inferenceProfileId") or "")
        name = str(profile.get("inferenceProfileName") or profile_id)
        found.append(ModelInfo(profile_id, name, known[0]))
    return found


def error_from_botocore(exc: Exception) -> DriverError:
    """A botocore/boto3 exception (control plane) → DriverError."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        meta = exc.response.get("ResponseMetadata") or {}
        headers = {
            str(k).lower(): str(v) for k, v in (meta.get("HTTPHeaders") or {}).items()
        }
        return aws_error(
            str(error.get("Code") or ""),
            str(error.get("Message") or ""),
            int(meta.get("HTTPStatusCode") or 502),
            headers,
        )
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return DriverError(
            "Bedrock control plane timed out",
            status=504,
            code="upstream_timeout",
            transient=True,
        )
    if isinstance(exc, EndpointConnectionError):
        return DriverError(
            "Bedrock control plane is unreachable",
            status=503,
            code="upstream_unavailable",
            transient=True,
        )
    return DriverError(f"Bedrock control plane call failed ({type(exc).__name__})")


_clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_clients_lock = threading.Lock()


def control_client(cfg: DriverConfig) -> Any:
    """A cached boto3 ``bedrock`` client with explicit credentials (blocking)."""
    import boto3
    import botocore.session
    from botocore.config import Config

    creds = cfg.credentials
    region = region_of(cfg)
    endpoint = str(cfg.config.get("control_endpoint") or "") or None
    secret_digest = hashlib.sha256(
        f"{creds.get('secret_access_key')}\0{creds.get('session_token')}".encode()
    ).hexdigest()
    key = (
        region,
        endpoint,
        str(creds.get("access_key_id") or ""),
        secret_digest,
        cfg.timeouts.connect,
        cfg.timeouts.first_byte,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    # A private botocore session: no profile, config or credential files from the
    # machine, and no AWS_ENDPOINT_URL* redirection of our signed requests.
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    core.set_config_variable("config_file", "/dev/null")
    core.set_config_variable("credentials_file", "/dev/null")
    session = boto3.session.Session(botocore_session=core)
    client = session.client(
        "bedrock",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=str(creds.get("access_key_id") or ""),
        aws_secret_access_key=str(creds.get("secret_access_key") or ""),
        aws_session_token=str(creds.get("session_token") or "") or None,
        config=Config(
            connect_timeout=cfg.timeouts.connect,
            read_timeout=cfg.timeouts.first_byte,
            retries={"total_max_attempts": 2, "mode": "standard"},
            ignore_configured_endpoint_urls=True,
        ),
    )
    with _clients_lock:
        _clients[key] = client
        while len(_clients) > 32:
            _clients.popitem(last=False)
    return client


def _list_foundation(cfg: DriverConfig) -> list[dict[str, Any]]:
    response = control_client(cfg).list_foundation_models()
    return list(response.get("modelSummaries") or [])


def _list_profiles(cfg: DriverConfig) -> list[dict[str, Any]]:
    client = control_client(cfg)
    profiles: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(100):
        kwargs: dict[str, Any] = {"maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        response = client.list_inference_profiles(**kwargs)
        profiles.extend(response.get("inferenceProfileSummaries") or [])
        token = response.get("nextToken")
        if not token:
            break
    return profiles


# -- the driver ----------------------------------------------------------------


class BedrockDriver(Driver):
    vendor = VENDOR

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return _scrubbed(parse_error(status, body, headers), self.config)

    async def _control(self, fn: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, self.config)
        except DriverError:
            raise
        except Exception as exc:
            raise _scrubbed(error_from_botocore(exc), self.config) from None

    async def _fetch_image(self, url: str, index: int) -> tuple[str, str]:
        param = "messages"
        try:
            async with self.client.stream(
                "GET", url, timeout=self.config.timeouts.httpx()
            ) as response:
                if response.status_code != 200:
                    raise invalid_request(
                        f"Fetching image {index} answered HTTP {response.status_code}.",
                        param,
                    )
                data = bytearray()
                async for piece in response.aiter_bytes():
                    data.extend(piece)
                    if len(data) > IMAGE_FETCH_LIMIT:
                        raise invalid_request(
                            f"Image {index} is larger than 20 MB.", param
                        )
                content_type = response.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            raise invalid_request(
                f"Could not fetch image {index} ({type(exc).__name__}).", param
            ) from None
        fmt = image_format(bytes(data), content_type)
        if fmt is None:
            raise invalid_request(
                f"Image {index} is not a png, jpeg, gif or webp image.", param
            )
        return fmt, base64.b64encode(bytes(data)).decode()

    async def _images(self, request: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
        urls = image_urls(request)
        if not urls:
            return {}
        fetched = await asyncio.gather(
            *(self._fetch_image(url, i) for i, url in enumerate(urls))
        )
        return dict(zip(urls, fetched, strict=True))

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        images = await self._images(request)
        req = converse_request(self.config, request, model_id, False, images)
        response = await self.send(req)
        try:
            data = response.json()
        except ValueError:
            raise DriverError("Bedrock returned a body that is not JSON.") from None
        return parse_converse_response(
            data, model_id, response.headers.get("x-amzn-requestid")
        )

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        from botocore.eventstream import EventStreamBuffer, ParserError

        images = await self._images(request)
        req = converse_request(self.config, request, model_id, True, images)
        response = await self.open_stream(req)
        try:
            buffer = EventStreamBuffer()
            translator = StreamTranslator()
            try:
                async for data in response.aiter_raw():
                    buffer.add_data(data)
                    for message in buffer:
                        event, payload = decode_event(message.headers, message.payload)
                        for chunk in translator.feed(event, payload):
                            yield chunk
            except httpx.HTTPError as exc:
                raise stream_error(exc, VENDOR) from None
            except ParserError as exc:
                raise DriverError(
                    f"Bedrock sent a malformed event stream ({type(exc).__name__}).",
                    transient=True,
                ) from None
            except DriverError as exc:
                raise _scrubbed(exc, self.config) from None
            for chunk in translator.finish():
                yield chunk
        finally:
            await response.aclose()

    async def _invoke(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        req = sign_request(
            self.config,
            "POST",
            model_url(self.config, model_id, "invoke"),
            _dumps(body),
        )
        response = await self.send(req)
        try:
            data = response.json()
        except ValueError:
            raise DriverError("Bedrock returned a body that is not JSON.") from None
        if not isinstance(data, dict):
            raise DriverError("Bedrock returned an unexpected embeddings body.")
        return data

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        family = embedding_family(model_id)
        texts = embedding_inputs(request)
        encoding = request.get("encoding_format")
        if family == "titan":
            bodies = [
                titan_embed_body(model_id, t, request.get("dimensions")) for t in texts
            ]
            results = await asyncio.gather(*(self._invoke(model_id, b) for b in bodies))
            vectors = [list(r.get("embedding") or []) for r in results]
            tokens = sum(int(r.get("inputTextTokenCount") or 0) for r in results)
            return embeddings_response(vectors, tokens, model_id, encoding)
        batches = [
            texts[i : i + COHERE_BATCH] for i in range(0, len(texts), COHERE_BATCH)
        ]
        bodies = [cohere_embed_body(batch, request) for batch in batches]
        results = await asyncio.gather(*(self._invoke(model_id, b) for b in bodies))
        vectors = [v for r in results for v in cohere_vectors(r)]
        if len(vectors) != len(texts):
            raise DriverError("Bedrock returned the wrong number of embeddings.")
        return embeddings_response(vectors, 0, model_id, encoding)

    async def list_models(self) -> list[ModelInfo]:
        foundation = await self._control(_list_foundation)
        try:
            profiles = await self._control(_list_profiles)
        except DriverError as exc:
            # Many IAM policies allow ListFoundationModels only; the foundation
            # list is still useful without the profiles.
            if exc.code != "upstream_auth_error":
                raise
            log.warning("Bedrock inference profiles not listed: %s", exc.message)
            profiles = []
        return parse_models(foundation, profiles)

    async def health_check(self) -> None:
        await self._control(_list_foundation)


__all__ = [
    "BedrockDriver",
    "StreamTranslator",
    "aws_error",
    "build_converse_body",
    "converse_request",
    "decode_event",
    "parse_converse_response",
    "parse_error",
    "parse_models",
]
