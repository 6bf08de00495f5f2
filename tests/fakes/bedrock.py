"""A fake AWS Bedrock (runtime + control plane) that checks SigV4 on every request.

Routes: ``POST /model/{modelId}/converse``, ``/converse-stream`` (real binary
event-stream frames with CRCs), ``/invoke`` (Titan v2 and Cohere embeddings;
for the Claude ids, with ``/invoke-with-response-stream``, the native
Anthropic body: ``bedrock_anthropic``),
``POST /rerank`` (Bedrock Agent Runtime's Rerank API, validated against its
service model: one TEXT query, 1-1000 INLINE TEXT sources, a foundation-model
ARN of a rerank model, numberOfResults 1-1000),
``GET /foundation-models`` and ``GET /inference-profiles`` (paginated), shaped as
botocore's service models say. The signature is recomputed here from what
actually arrived (raw path, query, signed header values, body) with an
independent HMAC chain, so a client that signs one URL and sends another fails
exactly like it would against AWS. Converse bodies are validated strictly
(alternation, blank text, toolConfig, unknown fields, union blocks).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import struct
import time
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from tests.fakes import schemas

ACCESS_KEY = "AKIDFAKEBEDROCK00001"
SECRET_KEY = "fake/secret+Key0000000000000000000000000"
REGION = "us-east-1"
CHAT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE_ONLY_MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
TITAN_EMBED = "amazon.titan-embed-text-v2:0"
CLAUDE_MODELS = (CHAT_MODEL, f"us.{PROFILE_ONLY_MODEL}")
# A model that is not Claude: Converse only (no Anthropic body).
NOVA_MODEL = "amazon.nova-lite-v1:0"
# A family whose Converse has no forcing toolChoice (any / tool).
LLAMA_MODEL = "meta.llama3-1-70b-instruct-v1:0"
CONVERSE_MODELS = (*CLAUDE_MODELS, NOVA_MODEL, LLAMA_MODEL)
COHERE_EMBED = "cohere.embed-english-v3"
RERANK_MODELS = ("amazon.rerank-v1:0", "cohere.rerank-v3-5:0")
RERANK_ARN = re.compile(
    r"^arn:aws:bedrock:([a-z0-9-]+)::foundation-model/([a-z0-9.:-]+)$"
)

CONVERSE_FIELDS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
    }
)
CONTENT_KEYS = frozenset(
    {
        "text",
        "image",
        "document",
        "video",
        "audio",
        "toolUse",
        "toolResult",
        "guardContent",
        "cachePoint",
        "reasoningContent",
        "citationsContent",
        "searchResult",
    }
)
TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_.:-]{1,64}$")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
SIG_MISMATCH = (
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult the "
    "service documentation for details."
)
AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$"
)
FAIL_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


class Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def aws_error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    out = {
        "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": "00000000-fake-0000-0000-000000000000",
    }
    out.update(headers or {})
    return web.json_response({"message": message}, status=status, headers=out)


def invalid(message: str) -> Reject:
    return Reject(400, "ValidationException", message)


# -- event-stream encoding -----------------------------------------------------


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", 7, len(raw_value))
        + raw_value
    )


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message (prelude, CRCs big-endian, string headers)."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)


def event(name: str, members: dict[str, Any]) -> bytes:
    payload = dict(members, p="abcdefghijklmnop"[: len(name) % 16])
    return frame(
        {
            ":event-type": name,
            ":content-type": "application/json",
            ":message-type": "event",
        },
        json.dumps(payload).encode(),
    )


def exception_frame(name: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": name,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message}).encode(),
    )


# -- SigV4 verification (independent of botocore) ------------------------------


def _sign_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _canonical_query(raw: str) -> str:
    pairs = []
    for item in raw.split("&") if raw else []:
        name, _, value = item.partition("=")
        pairs.append(
            (quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~"))
        )
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def verify_sigv4(
    request: web.Request,
    body: bytes,
    secrets: Mapping[str, str],
    tokens: Mapping[str, str],
    region: str,
) -> None:
    """Raise Reject unless the request carries a valid SigV4 signature."""
    auth = request.headers.get("Authorization", "")
    if not auth:
        raise Reject(
            403, "MissingAuthenticationTokenException", "Missing Authentication Token"
        )
    match = AUTH_RE.match(auth)
    if not match:
        raise Reject(
            403, "IncompleteSignatureException", "Authorization header malformed."
        )
    akid, date, scope_region, service, signed, signature = match.groups()
    if akid not in secrets:
        raise Reject(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    if service != "bedrock":
        raise Reject(
            403,
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'bedrock'.",
        )
    if scope_region != region:
        raise Reject(
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{scope_region}'.",
        )
    amz_date = request.headers.get("X-Amz-Date", "")
    names = signed.split(";")
    if (
        "host" not in names
        or "x-amz-date" not in names
        or not amz_date.startswith(date)
    ):
        raise Reject(403, "InvalidSignatureException", SIG_MISMATCH)
    try:
        stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise Reject(403, "InvalidSignatureException", SIG_MISMATCH) from None
    if abs(stamp.timestamp() - time.time()) > 900:
        raise Reject(403, "InvalidSignatureException", "Signature expired.")
    expected_token = tokens.get(akid)
    sent_token = request.headers.get("X-Amz-Security-Token")
    if expected_token is not None and (
        sent_token != expected_token or "x-amz-security-token" not in names
    ):
        raise Reject(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    path, _, query = request.raw_path.partition("?")
    headers_block = ""
    for name in names:
        values = request.headers.getall(name, [])
        if not values:
            raise Reject(403, "InvalidSignatureException", SIG_MISMATCH)
        joined = ",".join(" ".join(v.split()) for v in values)
        headers_block += f"{name}:{joined}\n"
    canonical = "\n".join(
        [
            request.method,
            # Non-S3 services URI-encode the (already encoded) path once more.
            quote(path, safe="/~"),
            _canonical_query(query),
            headers_block,
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            f"{date}/{scope_region}/{service}/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = _sign_key(secrets[akid], date, scope_region, service)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Reject(403, "InvalidSignatureException", SIG_MISMATCH)


def _only(obj: Any, allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise invalid(f"{where} must be an object.")
    if set(obj) - allowed:
        raise invalid(f"Unknown field(s) in {where}: {sorted(set(obj) - allowed)}")
    if required - set(obj):
        raise invalid(f"{where} is missing {sorted(required - set(obj))}.")


def _rerank_text(obj: Any, where: str) -> None:
    _only(obj, {"text"}, {"text"}, where)
    if not isinstance(obj["text"], str) or not 1 <= len(obj["text"]) <= 32000:
        raise invalid(f"{where}.text must have length between 1 and 32000.")


def validate_rerank(body: Any, region: str) -> None:
    """The Rerank request as botocore's bedrock-agent-runtime model has it."""
    _only(
        body,
        {"queries", "sources", "rerankingConfiguration", "nextToken"},
        {"queries", "sources", "rerankingConfiguration"},
        "request",
    )
    queries = body["queries"]
    if not isinstance(queries, list) or len(queries) != 1:
        raise invalid("queries must have exactly 1 member.")
    _only(queries[0], {"type", "textQuery"}, {"type", "textQuery"}, "queries[0]")
    if queries[0]["type"] != "TEXT":
        raise invalid("queries[0].type must be TEXT.")
    _rerank_text(queries[0]["textQuery"], "queries[0].textQuery")
    sources = body["sources"]
    if not isinstance(sources, list) or not 1 <= len(sources) <= 1000:
        raise invalid("sources must have between 1 and 1000 members.")
    for j, source in enumerate(sources):
        where = f"sources[{j}]"
        _only(
            source,
            {"type", "inlineDocumentSource"},
            {"type", "inlineDocumentSource"},
            where,
        )
        if source["type"] != "INLINE":
            raise invalid(f"{where}.type must be INLINE.")
        doc = source["inlineDocumentSource"]
        _only(doc, {"type", "textDocument", "jsonDocument"}, {"type"}, where)
        if doc["type"] != "TEXT" or "textDocument" not in doc:
            raise invalid(f"{where}: a TEXT document needs textDocument.")
        _rerank_text(doc["textDocument"], f"{where}.textDocument")
    config = body["rerankingConfiguration"]
    _only(
        config,
        {"type", "bedrockRerankingConfiguration"},
        {"type", "bedrockRerankingConfiguration"},
        "rerankingConfiguration",
    )
    if config["type"] != "BEDROCK_RERANKING_MODEL":
        raise invalid("rerankingConfiguration.type must be BEDROCK_RERANKING_MODEL.")
    bedrock = config["bedrockRerankingConfiguration"]
    _only(
        bedrock,
        {"modelConfiguration", "numberOfResults"},
        {"modelConfiguration"},
        "bedrockRerankingConfiguration",
    )
    number = bedrock.get("numberOfResults")
    if number is not None and (
        not isinstance(number, int)
        or isinstance(number, bool)
        or not 1 <= number <= 1000
    ):
        raise invalid("numberOfResults must be between 1 and 1000.")
    model = bedrock["modelConfiguration"]
    _only(
        model,
        {"modelArn", "additionalModelRequestFields"},
        {"modelArn"},
        "modelConfiguration",
    )
    match = RERANK_ARN.match(str(model["modelArn"]))
    if not match:
        raise invalid("modelArn is not a valid ARN.")
    if match.group(1) != region or match.group(2) not in RERANK_MODELS:
        raise Reject(
            404, "ResourceNotFoundException", "The specified model was not found."
        )


# -- Converse validation -------------------------------------------------------


def _check_text(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise invalid(f"{where}.text must be a string.")
    if not value.strip():
        raise invalid(
            f"The text field in the ContentBlock object at {where} is blank. Add "
            "text to the text field, and try again."
        )


def _check_block(block: Any, role: str, where: str) -> None:
    if not isinstance(block, dict) or len(block) != 1:
        raise invalid(f"{where} must set exactly one member of ContentBlock.")
    ((key, value),) = block.items()
    if key not in CONTENT_KEYS:
        raise invalid(f"Unknown ContentBlock member {key!r} at {where}.")
    if key == "text":
        _check_text(value, where)
    elif key == "image":
        if role != "user":
            raise invalid("Images are only allowed in user messages.")
        if not isinstance(value, dict) or value.get("format") not in (
            "png",
            "jpeg",
            "gif",
            "webp",
        ):
            raise invalid(f"{where}.image.format is invalid.")
        try:
            base64.b64decode(
                (value.get("source") or {}).get("bytes", ""), validate=True
            )
        except (binascii.Error, ValueError, TypeError):
            raise invalid(f"{where}.image.source.bytes is not valid base64.") from None
    elif key == "toolUse":
        if role != "assistant":
            raise invalid("toolUse blocks are only allowed in assistant messages.")
        if not TOOL_USE_ID.match(str(value.get("toolUseId", ""))):
            raise invalid(f"{where}.toolUse.toolUseId does not match the pattern.")
        if not TOOL_NAME.match(str(value.get("name", ""))):
            raise invalid(f"{where}.toolUse.name does not match the pattern.")
        if not isinstance(value.get("input"), dict):
            raise invalid(f"{where}.toolUse.input must be an object.")
    elif key == "toolResult":
        if role != "user":
            raise invalid("toolResult blocks are only allowed in user messages.")
        if not TOOL_USE_ID.match(str(value.get("toolUseId", ""))):
            raise invalid(f"{where}.toolResult.toolUseId does not match the pattern.")
        if set(value) - {"toolUseId", "content", "status"}:
            raise invalid(f"Unknown member in {where}.toolResult.")
        for k, part in enumerate(value.get("content") or []):
            if not isinstance(part, dict) or len(part) != 1:
                raise invalid(f"{where}.toolResult.content[{k}] is not a union.")
            if "text" in part:
                _check_text(part["text"], f"{where}.toolResult.content[{k}]")


def validate_converse(body: Any, model_id: str = CHAT_MODEL) -> None:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    unknown = set(body) - CONVERSE_FIELDS
    if unknown:
        raise invalid(f"Unknown field(s) in the request: {', '.join(sorted(unknown))}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("A conversation must start with a user message.")
    uses_tools = False
    previous_tool_ids: set[str] = set()
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or set(msg) != {"role", "content"}:
            raise invalid(f"messages.{i} must have exactly role and content.")
        role = msg["role"]
        expected = "user" if i % 2 == 0 else "assistant"
        if i == 0 and role != "user":
            raise invalid(
                "A conversation must start with a user message. Try again with a "
                "conversation that starts with a user message."
            )
        if role != expected:
            raise invalid(
                "A conversation must alternate between user and assistant roles. "
                "Make sure the conversation alternates between user and assistant "
                "roles and try again."
            )
        if not isinstance(msg["content"], list) or not msg["content"]:
            raise invalid(f"messages.{i}.content must not be empty.")
        tool_ids: set[str] = set()
        for j, block in enumerate(msg["content"]):
            _check_block(block, role, f"messages.{i}.content.{j}")
            if "toolUse" in block:
                uses_tools = True
                tool_ids.add(block["toolUse"]["toolUseId"])
            if "toolResult" in block:
                uses_tools = True
                if block["toolResult"]["toolUseId"] not in previous_tool_ids:
                    raise invalid(
                        "The toolResult blocks at messages."
                        f"{i}.content contain an unknown toolUseId."
                    )
        previous_tool_ids = tool_ids
    for k, block in enumerate(body.get("system") or []):
        if not isinstance(block, dict) or len(block) != 1:
            raise invalid(f"system.{k} must set exactly one member.")
        if "text" in block:
            _check_text(block["text"], f"system.{k}")
    inference = body.get("inferenceConfig") or {}
    if set(inference) - {"maxTokens", "temperature", "topP", "stopSequences"}:
        raise invalid("Unknown field in inferenceConfig.")
    if "maxTokens" in inference and (
        not isinstance(inference["maxTokens"], int) or inference["maxTokens"] < 1
    ):
        raise invalid("inferenceConfig.maxTokens must be at least 1.")
    for name in ("temperature", "topP"):
        value = inference.get(name)
        if value is not None and not (
            isinstance(value, int | float) and 0 <= value <= 1
        ):
            raise invalid(f"inferenceConfig.{name} must be between 0 and 1.")
    for seq in inference.get("stopSequences") or []:
        if not isinstance(seq, str) or not seq:
            raise invalid("inferenceConfig.stopSequences entries must be non-empty.")
    tool_config = body.get("toolConfig")
    if tool_config is None:
        if uses_tools:
            raise invalid(
                "The toolConfig field must be defined when using toolUse and "
                "toolResult content blocks."
            )
        return
    if set(tool_config) - {"tools", "toolChoice"}:
        raise invalid("Unknown field in toolConfig.")
    tools = tool_config.get("tools")
    if not isinstance(tools, list) or not tools:
        raise invalid("toolConfig.tools must contain at least 1 tool.")
    names = set()
    for k, tool in enumerate(tools):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or set(spec) - {
            "name",
            "description",
            "inputSchema",
            "strict",
        }:
            raise invalid(f"toolConfig.tools.{k} must be a toolSpec.")
        if not TOOL_NAME.match(str(spec.get("name", ""))):
            raise invalid(f"toolConfig.tools.{k}.toolSpec.name is invalid.")
        if not isinstance((spec.get("inputSchema") or {}).get("json"), dict):
            raise invalid(
                f"toolConfig.tools.{k}.toolSpec.inputSchema.json is required."
            )
        names.add(spec["name"])
    choice = tool_config.get("toolChoice")
    if choice is not None:
        if not isinstance(choice, dict) or len(choice) != 1:
            raise invalid("toolChoice must set exactly one member.")
        ((kind, value),) = choice.items()
        if kind not in ("auto", "any", "tool") or not isinstance(value, dict):
            raise invalid(f"Unknown toolChoice member {kind!r}.")
        if kind == "tool" and value.get("name") not in names:
            raise invalid("toolChoice.tool.name must name a tool in toolConfig.tools.")
        if kind != "auto" and kind not in forcing_choices(model_id):
            raise invalid(
                f"This model doesn't support the toolConfig.toolChoice.{kind} "
                f"field. Remove toolConfig.toolChoice.{kind} and try again."
            )
    for k, tool in enumerate(tools):
        schema = tool["toolSpec"]["inputSchema"]["json"]
        if schema.get("type") != "object":
            # A tool's input is an object (Claude, Nova, Llama... all refuse
            # another root through Converse).
            raise invalid(
                f"toolConfig.tools.{k}.toolSpec.inputSchema.json.type must be 'object'."
            )
        problem = schemas.check(schema)
        if problem:
            raise invalid(f"toolConfig.tools.{k}.toolSpec.inputSchema: {problem}")


def forcing_choices(model_id: str) -> tuple[str, ...]:
    """The toolChoice members beyond ``auto`` a model family takes (AWS
    ToolChoice: ``tool`` for Claude 3+ and Nova, ``any`` also Mistral Large)."""
    if "anthropic.claude-" in model_id or "amazon.nova-" in model_id:
        return ("any", "tool")
    if "mistral.mistral-large" in model_id:
        return ("any",)
    return ()


# -- scenario ------------------------------------------------------------------


def _last_user(body: dict[str, Any]) -> tuple[str, str | None]:
    """(last user text, tool result text or None) of the final user turn."""
    last = body["messages"][-1]
    if last["role"] != "user":
        return "", None
    texts, result = [], None
    for block in last["content"]:
        if "text" in block:
            texts.append(block["text"])
        if "toolResult" in block:
            parts = block["toolResult"].get("content") or []
            result = " ".join(p.get("text", json.dumps(p.get("json"))) for p in parts)
    return " ".join(texts), result


def _usage(options: Mapping[str, Any]) -> dict[str, Any]:
    usage = {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18}
    if options.get("cache_tokens"):
        usage.update(cacheReadInputTokens=5, cacheWriteInputTokens=3, totalTokens=26)
    return usage


def _fail_status(text: str) -> int | None:
    match = re.search(r"\bFAIL (\d{3})\b", text)
    return int(match.group(1)) if match else None


def _answer(body: dict[str, Any]) -> tuple[list[str], dict[str, Any] | None, str]:
    """(text pieces, tool call or None, stopReason) for a validated request."""
    text, result = _last_user(body)
    tools = (body.get("toolConfig") or {}).get("tools") or []
    if result is not None:
        return ["The tool said: ", result], None, "end_turn"
    if tools and "NOCALL" not in text:
        # A forced choice is honoured: the named tool, else the first one.
        wanted = (body["toolConfig"].get("toolChoice") or {}).get("tool", {})
        spec = next(
            (
                t["toolSpec"]
                for t in tools
                if t["toolSpec"]["name"] == wanted.get("name")
            ),
            tools[0]["toolSpec"],
        )
        arguments = schemas.tool_input(spec["inputSchema"]["json"])
        call = {"toolUseId": "tooluse_fake01", "name": spec["name"], "input": arguments}
        return ["Checking."], call, "tool_use"
    if "LENGTH" in text:
        return ["Hello from ", "Bedrock: cut"], None, "max_tokens"
    reply = f"Hello from Bedrock: {text}"
    third = max(1, len(reply) // 3)
    return (
        [reply[:third], reply[third : 2 * third], reply[2 * third :]],
        None,
        "end_turn",
    )


# -- the application -----------------------------------------------------------


def make_app(
    *,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    session_token: str | None = None,
    region: str = REGION,
    cache_tokens: bool = False,
    profiles_page_size: int = 1,
) -> web.Application:
    """The fake. Credentials other than (access_key, secret_key[, token]) fail."""
    app = web.Application(client_max_size=32 * 1024 * 1024)
    with warnings.catch_warnings():  # the shared fake convention uses a str key
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["requests"] = []
        app["events"] = {}  # the Anthropic fake's STALL notes its cancellation
        app["cache_seen"] = set()
    secrets = {access_key: secret_key}
    tokens = {access_key: session_token} if session_token else {}
    options = {"cache_tokens": cache_tokens}

    @web.middleware
    async def sigv4(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        app["requests"].append(
            {
                "method": request.method,
                "path": request.raw_path.partition("?")[0],
                "query": dict(request.query),
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "json": parsed,
            }
        )
        try:
            verify_sigv4(request, body, secrets, tokens, region)
            return await handler(request)  # type: ignore[no-any-return]
        except Reject as exc:
            extra = {"Retry-After": "7"} if exc.status == 429 else None
            return aws_error(exc.status, exc.code, exc.message, extra)

    app.middlewares.append(sigv4)

    async def runtime(request: web.Request) -> web.StreamResponse:
        path = request.raw_path.partition("?")[0]
        match = re.match(
            r"^/model/([^/]+)/(converse|converse-stream|invoke"
            r"|invoke-with-response-stream|count-tokens)$",
            path,
        )
        if not match:
            raise Reject(404, "UnknownOperationException", "Unknown operation")
        model_id, action = unquote(match.group(1)), match.group(2)
        if request.content_type != "application/json":
            raise invalid("Content-Type must be application/json.")
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise invalid("The request body is not valid JSON.") from None
        if action == "count-tokens":
            from tests.fakes import bedrock_anthropic

            return bedrock_anthropic.count_tokens(model_id, body)
        if action.startswith("invoke") and model_id in CLAUDE_MODELS:
            from tests.fakes import bedrock_anthropic

            stream = action == "invoke-with-response-stream"
            return await bedrock_anthropic.invoke(request, model_id, body, stream)
        if action == "invoke":
            return await invoke(model_id, body)
        if action != "converse" and action != "converse-stream":
            raise invalid("This model doesn't support response streaming.")
        if model_id in (TITAN_EMBED, COHERE_EMBED):
            raise invalid("This model doesn't support the Converse API.")
        if model_id not in CONVERSE_MODELS:
            raise Reject(
                404,
                "ResourceNotFoundException",
                "The provided model identifier is invalid.",
            )
        validate_converse(body, model_id)
        text, _ = _last_user(body)
        status = _fail_status(text)
        if status is not None:
            raise Reject(
                status,
                FAIL_TYPES.get(status, "InternalServerException"),
                f"Simulated failure {status}",
            )
        slow = re.search(r"\bSLOW ([0-9.]+)", text)
        if slow:
            await asyncio.sleep(float(slow.group(1)))
        if action == "converse":
            return converse(body)
        return await converse_stream(request, body, text)

    def converse(body: dict[str, Any]) -> web.Response:
        pieces, call, stop = _answer(body)
        content: list[dict[str, Any]] = [{"text": "".join(pieces)}]
        if call:
            content.append({"toolUse": call})
        data = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": _usage(options),
            "metrics": {"latencyMs": 12},
        }
        return web.json_response(data, headers={"x-amzn-RequestId": "req-fake-0001"})

    async def converse_stream(
        request: web.Request, body: dict[str, Any], text: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/vnd.amazon.eventstream",
                "x-amzn-RequestId": "req-fake-0002",
            }
        )
        await response.prepare(request)
        await response.write(event("messageStart", {"role": "assistant"}))
        if "BREAK" in text:
            for piece in ("Hello ", "from "):
                await response.write(
                    event(
                        "contentBlockDelta",
                        {"contentBlockIndex": 0, "delta": {"text": piece}},
                    )
                )
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.abort()
            return response
        if "MALFORMED" in text or "UNKNOWN EVENT" in text:
            # An event whose JSON payload is cut, or a frame of no known type;
            # the rest of the stream is complete and well formed.
            await response.write(
                event(
                    "contentBlockDelta",
                    {"contentBlockIndex": 0, "delta": {"text": "Hi"}},
                )
            )
            if "MALFORMED" in text:
                bad = {":event-type": "contentBlockDelta", ":message-type": "event"}
                await response.write(frame(bad, b'{"contentBlockIndex": 0, "del'))
            else:
                await response.write(event("mysteryEvent", {"x": 1}))
            await response.write(event("contentBlockStop", {"contentBlockIndex": 0}))
            await response.write(event("messageStop", {"stopReason": "end_turn"}))
            usage = {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6}
            await response.write(event("metadata", {"usage": usage, "metrics": {}}))
            await response.write_eof()
            return response
        if "STREAM ERROR" in text:
            await response.write(
                event(
                    "contentBlockDelta",
                    {"contentBlockIndex": 0, "delta": {"text": "Hi"}},
                )
            )
            await response.write(
                exception_frame(
                    "modelStreamErrorException", "The model stream failed (simulated)."
                )
            )
            await response.write_eof()
            return response
        pieces, call, stop = _answer(body)
        for piece in pieces:
            await response.write(
                event(
                    "contentBlockDelta",
                    {"contentBlockIndex": 0, "delta": {"text": piece}},
                )
            )
        await response.write(event("contentBlockStop", {"contentBlockIndex": 0}))
        if call:
            start = {"toolUse": {"toolUseId": call["toolUseId"], "name": call["name"]}}
            await response.write(
                event("contentBlockStart", {"contentBlockIndex": 1, "start": start})
            )
            arguments = json.dumps(call["input"])
            half = len(arguments) // 2
            for fragment in (arguments[:half], arguments[half:]):
                await response.write(
                    event(
                        "contentBlockDelta",
                        {
                            "contentBlockIndex": 1,
                            "delta": {"toolUse": {"input": fragment}},
                        },
                    )
                )
            await response.write(event("contentBlockStop", {"contentBlockIndex": 1}))
        await response.write(event("messageStop", {"stopReason": stop}))
        await response.write(
            event("metadata", {"usage": _usage(options), "metrics": {"latencyMs": 9}})
        )
        await response.write_eof()
        return response

    def vector(text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        return [round(b / 255.0, 6) for b in digest[:4]]

    async def invoke(model_id: str, body: Any) -> web.Response:
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object.")
        if model_id == TITAN_EMBED:
            if set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}:
                raise invalid("Malformed input request: extraneous key.")
            text = body.get("inputText")
            if not isinstance(text, str) or not text:
                raise invalid("Malformed input request: inputText is required.")
            if body.get("dimensions", 1024) not in (256, 512, 1024):
                raise invalid(
                    "Malformed input request: dimensions must be 256, 512 or 1024."
                )
            status = _fail_status(text)
            if status is not None:
                raise Reject(
                    status,
                    FAIL_TYPES.get(status, "InternalServerException"),
                    f"Simulated failure {status}",
                )
            return web.json_response(
                {"embedding": vector(text), "inputTextTokenCount": len(text.split())}
            )
        if model_id == COHERE_EMBED:
            if set(body) - {"texts", "input_type", "truncate", "embedding_types"}:
                raise invalid("Malformed input request: extraneous key.")
            texts = body.get("texts")
            if not isinstance(texts, list) or not 0 < len(texts) <= 96:
                raise invalid("Malformed input request: texts must hold 1 to 96 items.")
            if body.get("input_type") not in (
                "search_document",
                "search_query",
                "classification",
                "clustering",
            ):
                raise invalid("Malformed input request: input_type is required.")
            return web.json_response(
                {
                    "id": "emb-fake",
                    "embeddings": [vector(t) for t in texts],
                    "texts": texts,
                    "response_type": "embeddings_floats",
                }
            )
        raise Reject(
            404,
            "ResourceNotFoundException",
            "The provided model identifier is invalid.",
        )

    def summary(
        model_id: str, name: str, outputs: list[str], types: list[str]
    ) -> dict[str, Any]:
        return {
            "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}",
            "modelId": model_id,
            "modelName": name,
            "providerName": model_id.split(".")[0].title(),
            "inputModalities": ["TEXT"],
            "outputModalities": outputs,
            "responseStreamingSupported": "TEXT" in outputs,
            "customizationsSupported": [],
            "inferenceTypesSupported": types,
            "modelLifecycle": {"status": "ACTIVE"},
        }

    foundation = [
        summary(CHAT_MODEL, "Claude 3 Haiku", ["TEXT"], ["ON_DEMAND"]),
        summary(
            PROFILE_ONLY_MODEL, "Claude 3.5 Sonnet v2", ["TEXT"], ["INFERENCE_PROFILE"]
        ),
        summary(TITAN_EMBED, "Titan Text Embeddings V2", ["EMBEDDING"], ["ON_DEMAND"]),
        summary("stability.sd3-large-v1:0", "SD3 Large", ["IMAGE"], ["ON_DEMAND"]),
    ]

    def profile(model_id: str, name: str) -> dict[str, Any]:
        return {
            "inferenceProfileName": name,
            "inferenceProfileArn": (
                f"arn:aws:bedrock:{region}:123456789012:inference-profile/us.{model_id}"
            ),
            "inferenceProfileId": f"us.{model_id}",
            "models": [
                {"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}"}
            ],
            "status": "ACTIVE",
            "type": "SYSTEM_DEFINED",
            "createdAt": "2024-10-22T00:00:00Z",
            "updatedAt": "2024-10-22T00:00:00Z",
        }

    profiles = [
        profile(PROFILE_ONLY_MODEL, "US Claude 3.5 Sonnet v2"),
        profile(CHAT_MODEL, "US Claude 3 Haiku"),
    ]

    async def foundation_models(request: web.Request) -> web.Response:
        allowed = {
            "byProvider",
            "byCustomizationType",
            "byOutputModality",
            "byInferenceType",
        }
        if set(request.query) - allowed:
            raise invalid("Unknown query parameter.")
        return web.json_response({"modelSummaries": foundation})

    async def inference_profiles(request: web.Request) -> web.Response:
        if set(request.query) - {"maxResults", "nextToken", "type"}:
            raise invalid("Unknown query parameter.")
        start = int(request.query.get("nextToken") or 0)
        size = min(int(request.query.get("maxResults") or 1000), profiles_page_size)
        page = profiles[start : start + size]
        data: dict[str, Any] = {"inferenceProfileSummaries": page}
        if start + size < len(profiles):
            data["nextToken"] = str(start + size)
        return web.json_response(data)

    async def rerank(request: web.Request) -> web.Response:
        body = await request.json()
        validate_rerank(body, region)
        query = body["queries"][0]["textQuery"]["text"]
        status = _fail_status(query)
        if status:
            raise Reject(
                status, FAIL_TYPES.get(status, "InternalServerException"), "as asked"
            )
        texts = [
            s["inlineDocumentSource"]["textDocument"]["text"] for s in body["sources"]
        ]
        config = body["rerankingConfiguration"]["bedrockRerankingConfiguration"]
        from tests.fakes.rerank import ranked

        top = config.get("numberOfResults") or len(texts)
        return web.json_response(
            {
                "results": [
                    {"index": i, "relevanceScore": score}
                    for i, score in ranked(query, texts, top)
                ]
            }
        )

    app.router.add_post("/rerank", rerank)
    app.router.add_post("/model/{tail:.+}", runtime)
    app.router.add_get("/foundation-models", foundation_models)
    app.router.add_get("/inference-profiles", inference_profiles)
    return app
