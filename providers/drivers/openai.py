"""OpenAI and every OpenAI-compatible preset (PROTOCOLS.md section 3).

The canonical format *is* OpenAI Chat Completions, so requests pass through
(unknown fields kept) with ``model`` replaced by the vendor id, and answers come
back nearly untouched. The work is in the stream: compatible servers differ, so
``OpenAIStreamTranslator`` re-emits every stream in the canonical chunk sequence
(PROTOCOLS.md 1.6) whatever the upstream got slightly wrong.

Pure functions (no I/O): ``build_chat_body``, ``parse_chat_response``,
``OpenAIStreamTranslator``, ``completion_to_chunks``, ``build_embeddings_body``,
``parse_embeddings_response``, ``parse_models``, ``openai_error``,
``error_from_stream_event``. ``OpenAIDriver`` is the thin I/O layer; the Azure
driver subclasses it and overrides URLs, body and error hooks.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import orjson

from providers.catalog import TYPES
from providers.drivers.base import (
    Driver,
    DriverConfig,
    DriverError,
    ModelInfo,
    UpstreamRequest,
    error_from_status,
    error_message_from_body,
    iter_sse,
    malformed_stream,
    stream_error,
)
from providers.drivers.common import floats_to_base64, synth_tool_id

# The default transport is aiohttp; its errors can escape httpx's mapping.
_STREAM_ERRORS: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    aiohttp.ClientError,
    OSError,
    asyncio.TimeoutError,
)

# Model ids whose API rejects ``max_tokens`` (reasoning models).
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
FINISH_REASONS = frozenset(
    {"stop", "length", "tool_calls", "content_filter", "function_call"}
)
# Non-standard values seen from compatible servers (anything else -> "stop").
_FINISH_ALIASES = {
    "max_tokens": "length",
    "max_length": "length",
    "model_length": "length",
    "tool_use": "tool_calls",
    "tool_call": "tool_calls",
    "content_filtered": "content_filter",
    "safety": "content_filter",
}


def is_reasoning_model(model_id: str) -> bool:
    """o1/o3/o4/gpt-5 ids (a routing prefix such as ``openai/`` is ignored)."""
    return model_id.rsplit("/", 1)[-1].lower().startswith(REASONING_PREFIXES)


def use_max_completion_tokens(body: dict[str, Any]) -> None:
    """Move ``max_tokens`` to ``max_completion_tokens`` (the caller's value wins)."""
    if "max_tokens" not in body:
        return
    value = body.pop("max_tokens")
    if value is not None and body.get("max_completion_tokens") is None:
        body["max_completion_tokens"] = value


def build_chat_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str, stream: bool
) -> dict[str, Any]:
    """The upstream body: the caller's fields, the vendor model, stream settings.

    ``cfg.config["drop_params"]`` (list) removes fields a preset rejects;
    ``cfg.config["stream_usage"]`` False stops sending ``stream_options``.
    """
    drop = set(cfg.config.get("drop_params") or ())
    body = {k: v for k, v in request.items() if k not in drop}
    body["model"] = model_id
    if is_reasoning_model(model_id):
        use_max_completion_tokens(body)
    body.pop("stream", None)
    options = body.pop("stream_options", None)
    if stream:
        body["stream"] = True
        if cfg.config.get("stream_usage", True):
            merged = dict(options) if isinstance(options, dict) else {}
            merged["include_usage"] = True
            body["stream_options"] = merged
    return body


def normalize_finish_reason(value: Any) -> str:
    if value in FINISH_REASONS:
        return str(value)
    return _FINISH_ALIASES.get(str(value).lower(), "stop")


def normalize_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical usage: ints for the three totals, vendor extras kept."""
    out = dict(usage)
    prompt = out.get("prompt_tokens")
    if prompt is None:
        prompt = out.pop("input_tokens", 0)
    completion = out.get("completion_tokens")
    if completion is None:
        completion = out.pop("output_tokens", 0)
    out["prompt_tokens"] = int(prompt or 0)
    out["completion_tokens"] = int(completion or 0)
    if out.get("total_tokens") is None:
        out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    return out


# -- errors -------------------------------------------------------------------


def _error_object(body: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return {}
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else {}


def openai_error(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    vendor: str = "OpenAI",
    cfg: DriverConfig | None = None,
) -> DriverError:
    """An upstream error answer (OpenAI envelope or anything else) → DriverError."""
    # Credentials are scrubbed at the driver boundary (drivers/boundary.py).
    message = error_message_from_body(body)
    err = error_from_status(status, message, headers, vendor)
    upstream = _error_object(body)
    if err.status == 400 and isinstance(upstream.get("param"), str):
        err.param = upstream["param"]
    if str(headers.get("x-should-retry", "")).lower() == "false":
        err.should_retry = False
    return err


def error_from_stream_event(
    data: Mapping[str, Any], vendor: str = "OpenAI", cfg: DriverConfig | None = None
) -> DriverError:
    """``{"error": ...}`` inside a 200 answer (stream or body) → DriverError."""
    err = data.get("error")
    if isinstance(err, Mapping):
        message = str(err.get("message") or "")
        code, kind = err.get("code"), str(err.get("type") or "")
    else:
        message, code, kind = str(err or ""), None, ""
    status = 0
    if isinstance(code, int) or (isinstance(code, str) and code.isdigit()):
        status = int(code)
    if not 400 <= status <= 599:
        hint = f"{kind} {code or ''}".lower()
        if "rate_limit" in hint:
            status = 429
        elif "overloaded" in hint or "unavailable" in hint:
            status = 503
        elif "timeout" in hint:
            status = 504
        elif "invalid_request" in hint:
            status = 400
        else:
            status = 500
    message = message or f"{vendor} reported an error mid-answer"
    return error_from_status(status, message, {}, vendor)


# -- responses ------------------------------------------------------------------


def parse_chat_response(
    data: Any, vendor: str = "OpenAI", cfg: DriverConfig | None = None
) -> dict[str, Any]:
    """The upstream body as-is, with finish_reason values and usage totals fixed."""
    if not isinstance(data, dict):
        raise DriverError(f"{vendor} returned an unexpected answer.", status=502)
    if data.get("error"):
        raise error_from_stream_event(data, vendor, cfg)
    if not isinstance(data.get("choices"), list):
        raise DriverError(f"{vendor} returned an answer without choices.", status=502)
    out = dict(data)
    choices = []
    for choice in data["choices"]:
        if isinstance(choice, dict):
            choice = dict(choice)
            choice["finish_reason"] = normalize_finish_reason(
                choice.get("finish_reason")
            )
        choices.append(choice)
    out["choices"] = choices
    if isinstance(out.get("usage"), dict):
        out["usage"] = normalize_usage(out["usage"])
    return out


@dataclass
class _ToolSlot:
    id: str | None = None
    name: str | None = None
    out_index: int = -1
    pending: str = ""

    @property
    def started(self) -> bool:
        return self.out_index >= 0


@dataclass
class _ChoiceState:
    started: bool = False
    finish_reason: str | None = None
    slots: list[_ToolSlot] = field(default_factory=list)
    by_index: dict[int, _ToolSlot] = field(default_factory=dict)
    by_id: dict[str, _ToolSlot] = field(default_factory=dict)
    next_tool: int = 0


def _chunk(index: int, delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "choices": [{"index": index, "delta": delta, **extra, "finish_reason": None}]
    }


class OpenAIStreamTranslator:
    """Upstream chunk dicts → canonical chunks (PROTOCOLS.md 1.6), defensively.

    Drops envelope fields, empty choices and choices without a delta; sends a
    role chunk first; tool-call ``id``/``type``/``name`` exactly once with
    indexes 0, 1, 2…; ``finish_reason`` on its own final chunk (non-standard
    values → ``stop``); the usage (wherever it arrived) as the last chunk.
    """

    def __init__(self, vendor: str = "OpenAI", cfg: DriverConfig | None = None):
        self.vendor = vendor
        self.cfg = cfg
        self.usage: dict[str, Any] | None = None
        self.choices: dict[int, _ChoiceState] = {}

    @property
    def finished(self) -> bool:
        """Every choice seen so far has its finish_reason."""
        return bool(self.choices) and all(
            c.finish_reason is not None for c in self.choices.values()
        )

    def feed(self, event: Any) -> list[dict[str, Any]]:
        if not isinstance(event, dict):
            return []
        if event.get("error"):
            raise error_from_stream_event(event, self.vendor, self.cfg)
        usage = event.get("usage")
        if not isinstance(usage, dict):  # Groq's older streams
            usage = (event.get("x_groq") or {}).get("usage")
        if isinstance(usage, dict):
            self.usage = normalize_usage(usage)
        out: list[dict[str, Any]] = []
        for choice in event.get("choices") or ():
            if isinstance(choice, dict):
                out.extend(self._choice(choice))
        return out

    def finish(self) -> list[dict[str, Any]]:
        """Close every open choice, then emit the usage chunk."""
        out: list[dict[str, Any]] = []
        if not self.choices:
            self.choices[0] = _ChoiceState(started=True)
            out.append(_chunk(0, {"role": "assistant", "content": ""}))
        for index, state in self.choices.items():
            if state.finish_reason is None:
                out.extend(self._close(index, state, None))
        if self.usage is not None:
            out.append({"choices": [], "usage": self.usage})
            self.usage = None
        return out

    # -- internals --

    def _choice(self, choice: dict[str, Any]) -> list[dict[str, Any]]:
        index = choice.get("index") or 0
        delta = choice.get("delta")
        finish = choice.get("finish_reason")
        if not isinstance(delta, dict) and finish is None:
            return []  # e.g. Azure's trailing content-filter annotations
        state = self.choices.setdefault(index, _ChoiceState())
        if state.finish_reason is not None:
            return []
        out: list[dict[str, Any]] = []
        if not state.started:
            state.started = True
            out.append(_chunk(index, {"role": "assistant", "content": ""}))
        delta = dict(delta or {})
        delta.pop("role", None)
        tool_calls = delta.pop("tool_calls", None)
        clean = {k: v for k, v in delta.items() if v not in (None, "", [])}
        if clean:
            extra = {
                k: v
                for k, v in choice.items()
                if k not in ("index", "delta", "finish_reason") and v is not None
            }
            out.append(_chunk(index, clean, **extra))
        for call in tool_calls or ():
            if isinstance(call, dict):
                out.extend(self._tool_delta(index, state, call))
        if finish is not None:
            out.extend(self._close(index, state, finish))
        return out

    def _tool_delta(
        self, index: int, state: _ChoiceState, call: dict[str, Any]
    ) -> list[dict[str, Any]]:
        up_index = call.get("index")
        call_id = call.get("id") or None
        function = call.get("function") or {}
        name = function.get("name") or None
        args = function.get("arguments") or ""
        if not isinstance(args, str):
            args = json.dumps(args, separators=(",", ":"))
        slot: _ToolSlot | None = None
        if isinstance(up_index, int) and up_index in state.by_index:
            slot = state.by_index[up_index]
            # A new call reusing an index (some servers send every call as 0).
            if call_id and name and slot.id and call_id != slot.id:
                slot = None
        elif call_id and call_id in state.by_id:
            slot = state.by_id[call_id]
        elif up_index is None and not call_id and state.slots:
            slot = state.slots[-1]
        if slot is None:
            slot = _ToolSlot()
            state.slots.append(slot)
        if isinstance(up_index, int):
            state.by_index[up_index] = slot
        if call_id and not slot.id:
            slot.id = call_id
        if call_id:
            state.by_id.setdefault(call_id, slot)
        if name and not slot.name:
            slot.name = name
        out: list[dict[str, Any]] = []
        if not slot.started:
            if slot.name is None:  # wait for the name before starting the call
                slot.pending += args
                return out
            out.append(self._start(index, state, slot))
            args, slot.pending = slot.pending + args, ""
        if args:
            out.append(
                _chunk(
                    index,
                    {
                        "tool_calls": [
                            {"index": slot.out_index, "function": {"arguments": args}}
                        ]
                    },
                )
            )
        return out

    def _start(self, index: int, state: _ChoiceState, slot: _ToolSlot) -> dict:
        slot.out_index = state.next_tool
        state.next_tool += 1
        if not slot.id:
            slot.id = synth_tool_id()
        start = {
            "index": slot.out_index,
            "id": slot.id,
            "type": "function",
            "function": {"name": slot.name or "", "arguments": ""},
        }
        return _chunk(index, {"tool_calls": [start]})

    def _close(
        self, index: int, state: _ChoiceState, finish: Any
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for slot in state.slots:  # calls that never got a name still go out
            if not slot.started:
                out.append(self._start(index, state, slot))
                if slot.pending:
                    fragment = {"index": slot.out_index, "function": {}}
                    fragment["function"]["arguments"] = slot.pending
                    out.append(_chunk(index, {"tool_calls": [fragment]}))
                    slot.pending = ""
        if finish is None:
            reason = "tool_calls" if state.slots else "stop"
        else:
            reason = normalize_finish_reason(finish)
        state.finish_reason = reason
        out.append(
            {"choices": [{"index": index, "delta": {}, "finish_reason": reason}]}
        )
        return out


def completion_to_chunks(
    data: Any, vendor: str = "OpenAI", cfg: DriverConfig | None = None
) -> list[dict[str, Any]]:
    """A whole ``chat.completion`` as canonical chunks (upstream ignored stream)."""
    data = parse_chat_response(data, vendor, cfg)
    translator = OpenAIStreamTranslator(vendor, cfg)
    out: list[dict[str, Any]] = []
    for position, choice in enumerate(data["choices"]):
        if not isinstance(choice, dict):
            continue
        index = choice.get("index", position)
        message = dict(choice.get("message") or {})
        calls = message.pop("tool_calls", None) or []
        message["tool_calls"] = [
            {"index": i, **call}
            for i, call in enumerate(calls)
            if isinstance(call, dict)
        ]
        finish = choice["finish_reason"]
        out += translator.feed({"choices": [{"index": index, "delta": message}]})
        out += translator.feed(
            {"choices": [{"index": index, "delta": {}, "finish_reason": finish}]}
        )
    if isinstance(data.get("usage"), dict):
        translator.usage = data["usage"]
    return out + translator.finish()


# -- embeddings and models -------------------------------------------------------


def build_embeddings_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str
) -> dict[str, Any]:
    drop = set(cfg.config.get("drop_params") or ())
    body = {k: v for k, v in request.items() if k not in drop}
    body["model"] = model_id
    return body


def base64_to_floats(data: str) -> list[float]:
    raw = base64.b64decode(data)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def parse_embeddings_response(
    data: Any, encoding_format: str | None = None, vendor: str = "OpenAI"
) -> dict[str, Any]:
    """The upstream list, each vector in the encoding the caller asked for."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DriverError(f"{vendor} returned an unexpected embeddings answer.")
    want_base64 = encoding_format == "base64"
    items = []
    for position, item in enumerate(data["data"]):
        item = dict(item)
        vector = item.get("embedding")
        if want_base64 and isinstance(vector, list):
            item["embedding"] = floats_to_base64(vector)
        elif not want_base64 and isinstance(vector, str):
            item["embedding"] = base64_to_floats(vector)
        item.setdefault("object", "embedding")
        item.setdefault("index", position)
        items.append(item)
    out = dict(data)
    out["object"] = "list"
    out["data"] = items
    usage = out.get("usage")
    if isinstance(usage, dict):
        usage = dict(usage)
        usage["prompt_tokens"] = int(usage.get("prompt_tokens") or 0)
        if usage.get("total_tokens") is None:
            usage["total_tokens"] = usage["prompt_tokens"]
        out["usage"] = usage
    return out


def classify_model(model_id: str, declared: str | None = None) -> str:
    """inference | embedding | rerank, from a declared type or the id."""
    declared = (declared or "").lower()
    if declared in ("embedding", "embeddings"):
        return "embedding"
    if declared == "rerank":
        return "rerank"
    lowered = model_id.lower()
    if "rerank" in lowered:
        return "rerank"
    if lowered.startswith("text-embedding") or "embed" in lowered:
        return "embedding"
    return "inference"


_CONTEXT_KEYS = ("context_window", "context_length", "max_model_len")


def parse_models(data: Any) -> list[ModelInfo]:
    """``GET /models`` (``{"data": [...]}`` or, as Together sends, a bare list)."""
    rows = data.get("data") if isinstance(data, dict) else data
    models = []
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict) or not row.get("id"):
            continue
        model_id = str(row["id"])
        context = next(
            (row[k] for k in _CONTEXT_KEYS if isinstance(row.get(k), int)), None
        )
        models.append(
            ModelInfo(
                model_id=model_id,
                name=str(row.get("name") or model_id),
                model_type=classify_model(model_id, row.get("type")),
                context_window=context,
            )
        )
    return models


# -- I/O layer -------------------------------------------------------------------


class OpenAIDriver(Driver):
    """OpenAI, ``openai_compatible`` and the presets (base URL includes /v1)."""

    vendor = "OpenAI"

    def __init__(self, config: DriverConfig, client: httpx.AsyncClient) -> None:
        super().__init__(config, client)
        spec = TYPES.get(config.provider_type)
        if spec is not None:
            self.vendor = spec.label

    # hooks the Azure driver overrides
    @property
    def base(self) -> str:
        return self.config.base_url.rstrip("/")

    def chat_url(self, model_id: str) -> str:
        return f"{self.base}/chat/completions"

    def embeddings_url(self, model_id: str) -> str:
        return f"{self.base}/embeddings"

    def models_url(self) -> str:
        return f"{self.base}/models"

    def chat_body(
        self, request: dict[str, Any], model_id: str, stream: bool
    ) -> dict[str, Any]:
        return build_chat_body(self.config, request, model_id, stream)

    def embeddings_body(self, request: dict[str, Any], model_id: str) -> dict:
        return build_embeddings_body(self.config, request, model_id)

    def parse_models(self, data: Any) -> list[ModelInfo]:
        return parse_models(data)

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return openai_error(status, body, headers, self.vendor, self.config)

    # I/O

    async def headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = await self.auth()
        headers["Content-Type"] = "application/json"
        headers["Accept"] = accept
        return headers

    async def chat(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        req = UpstreamRequest(
            "POST",
            self.chat_url(model_id),
            await self.headers(),
            json=self.chat_body(request, model_id, stream=False),
        )
        response = await self.send(req)
        return parse_chat_response(self.read_json(response), self.vendor, self.config)

    async def chat_stream(
        self, request: dict[str, Any], model_id: str
    ) -> AsyncIterator[dict[str, Any]]:
        req = UpstreamRequest(
            "POST",
            self.chat_url(model_id),
            await self.headers("text/event-stream"),
            json=self.chat_body(request, model_id, stream=True),
        )
        response = await self.open_stream(req)
        translator = OpenAIStreamTranslator(self.vendor, self.config)
        try:
            if "application/json" in response.headers.get("content-type", ""):
                # The server ignored ``stream`` and answered in one piece.
                data = orjson.loads(await response.aread())
                for chunk in completion_to_chunks(data, self.vendor, self.config):
                    yield chunk
                return
            done = False
            async for _event, data in iter_sse(response):
                data = data.strip()
                if data == "[DONE]":
                    done = True
                    break
                if not data:
                    continue
                try:
                    payload = orjson.loads(data)
                except ValueError:
                    raise malformed_stream(self.vendor, "invalid JSON") from None
                if not isinstance(payload, dict):
                    raise malformed_stream(self.vendor, "not a JSON object")
                for chunk in translator.feed(payload):
                    yield chunk
            if not done and not translator.finished:
                raise DriverError(
                    f"{self.vendor} stream ended before the answer was complete.",
                    status=502,
                    code="upstream_error",
                )
            for chunk in translator.finish():
                yield chunk
        except DriverError:
            raise
        except ValueError:
            raise DriverError(
                f"{self.vendor} answered with invalid JSON.", status=502
            ) from None
        except _STREAM_ERRORS as exc:
            raise stream_error(exc, self.vendor) from None  # type: ignore[arg-type]
        finally:
            await response.aclose()

    async def embed(self, request: dict[str, Any], model_id: str) -> dict[str, Any]:
        req = UpstreamRequest(
            "POST",
            self.embeddings_url(model_id),
            await self.headers(),
            json=self.embeddings_body(request, model_id),
        )
        response = await self.send(req)
        return parse_embeddings_response(
            self.read_json(response), request.get("encoding_format"), self.vendor
        )

    async def list_models(self) -> list[ModelInfo]:
        headers = await self.headers()
        headers.pop("Content-Type")
        response = await self.send(UpstreamRequest("GET", self.models_url(), headers))
        return self.parse_models(self.read_json(response))
