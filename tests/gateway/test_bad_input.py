"""Bad input over every field of every /v1 route, against every vendor shape.

Each cell puts one wrong value (wrong type, out of range, huge, empty, NUL,
nested, too deep) at one field path of an otherwise valid request and sends
it through the live gateway to a vendor fake. Whatever the answer, it is never
a 5xx; every 4xx is OpenAI's envelope; a request the gateway refuses never
reaches the upstream. Then the bodies themselves: malformed, not an object,
wrong content type, empty, oversize (declared and chunked), wrong method.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import pytest

from gateway.models import ApiKey
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.gateway import upstreams


def deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


BAD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**70,  # orjson reads it as a float
    -(2**70),
    "",
    "NaN",
    "-Infinity",
    "x" * 100_000,
    "nul\x00byte",
    [],
    [None],
    [[[1]]],
    {},
    {"a": {"b": [1, {"c": None}]}},
    deep(80),
]

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
    "nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
)


def chat_base(model: str) -> dict[str, Any]:
    """A valid chat request that holds every structure a path below points into."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Paris?"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        "tools": [copy.deepcopy(TOOL)],
        "tool_choice": "auto",
        "response_format": {"type": "text"},
        "stream_options": {"include_usage": True},
        "max_tokens": 50,
    }


CHAT_PATHS: list[tuple[Any, ...]] = [
    ("model",),
    ("messages",),
    ("messages", 0),
    ("messages", 0, "role"),
    ("messages", 0, "content"),
    ("messages", 1, "content"),
    ("messages", 1, "content", 0),
    ("messages", 1, "content", 0, "type"),
    ("messages", 1, "content", 0, "text"),
    ("messages", 1, "content", 1, "image_url"),
    ("messages", 1, "content", 1, "image_url", "url"),
    ("messages", 1, "content", 1, "image_url", "detail"),
    ("messages", 1, "name"),
    ("messages", 2, "content"),
    ("messages", 2, "tool_calls"),
    ("messages", 2, "tool_calls", 0),
    ("messages", 2, "tool_calls", 0, "id"),
    ("messages", 2, "tool_calls", 0, "type"),
    ("messages", 2, "tool_calls", 0, "function"),
    ("messages", 2, "tool_calls", 0, "function", "name"),
    ("messages", 2, "tool_calls", 0, "function", "arguments"),
    ("messages", 3, "tool_call_id"),
    ("messages", 3, "content"),
    ("temperature",),
    ("top_p",),
    ("n",),
    ("max_tokens",),
    ("max_completion_tokens",),
    ("stop",),
    ("presence_penalty",),
    ("frequency_penalty",),
    ("logit_bias",),
    ("logprobs",),
    ("top_logprobs",),
    ("seed",),
    ("stream",),
    ("stream_options",),
    ("stream_options", "include_usage"),
    ("tools",),
    ("tools", 0),
    ("tools", 0, "type"),
    ("tools", 0, "function"),
    ("tools", 0, "function", "name"),
    ("tools", 0, "function", "description"),
    ("tools", 0, "function", "parameters"),
    ("tools", 0, "function", "strict"),
    ("tool_choice",),
    ("parallel_tool_calls",),
    ("response_format",),
    ("response_format", "type"),
    ("user",),
    ("reasoning_effort",),
    ("metadata",),
    ("modalities",),
    ("store",),
    ("service_tier",),
    ("functions",),
    ("function_call",),
    ("an_unknown_field",),
]

EMBED_PATHS: list[tuple[Any, ...]] = [
    ("model",),
    ("input",),
    ("input", 0),
    ("dimensions",),
    ("encoding_format",),
    ("user",),
    ("an_unknown_field",),
]

VENDORS = ["openai", "azure", "anthropic", "bedrock", "ollama", "gemini"]


def with_value(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict:
    body = copy.deepcopy(base)
    node: Any = body
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = copy.deepcopy(value)
    return body


class Cells:
    """Sends cells and checks the three rules; counts what it checked."""

    def __init__(self, client: httpx.Client, upstream: upstreams.Upstream) -> None:
        self.client = client
        self.upstream = upstream
        self.count = 0
        self.statuses: dict[int, int] = {}

    def check(self, label: str, response: httpx.Response, before: int) -> None:
        self.count += 1
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert status < 500, f"{label}: {status} {response.text[:300]}"
        if status >= 400:
            error = orjson.loads(response.content)["error"]
            assert set(error) == {"message", "type", "param", "code"}, label
            assert isinstance(error["message"], str) and error["message"], label
            if not str(error["code"] or "").startswith("upstream_"):
                # The gateway refused it itself: nothing went upstream.
                assert len(self.upstream.requests) == before, label
        elif response.headers["content-type"].startswith("text/event-stream"):
            assert b'"code":"internal_error"' not in response.content, label

    def send(self, label: str, method: str, path: str, **kw: Any) -> None:
        before = len(self.upstream.requests)
        response = self.client.request(method, path, **kw)
        self.check(label, response, before)


@contextmanager
def serving_cells(vendor: str, gateway: Any, world: Any) -> Iterator[Cells]:
    with upstreams.start(vendor) as upstream:
        upstreams.register(upstream, world.acme)
        _, secret = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=gateway.v1, headers=headers, timeout=30) as client:
            yield Cells(client, upstream)


@pytest.fixture(params=VENDORS)
def cells(request, gateway, world) -> Iterator[Cells]:
    with serving_cells(request.param, gateway, world) as served:
        yield served


@pytest.fixture(params=["openai", "anthropic"])
def completion_cells(request, gateway, world) -> Iterator[Cells]:
    """One provider that takes a completions body as sent (OpenAI, whose
    completion model is an instruct one) and one reached through chat (every
    translated vendor shares the translation)."""
    with serving_cells(request.param, gateway, world) as served:
        yield served


def test_no_bad_field_value_answers_5xx_or_leaves_the_envelope(cells, capsys):
    upstream = cells.upstream
    base = chat_base(upstream.chat_model)
    for stream in (False, True):
        # The request every cell starts from is a good one.
        valid = cells.client.post("/chat/completions", json={**base, "stream": stream})
        assert valid.status_code == 200, valid.text
        for path in CHAT_PATHS:
            for value in BAD_VALUES:
                body = with_value({**base, "stream": stream}, path, value)
                label = f"chat stream={stream} {path}={str(value)[:40]!r}"
                cells.send(label, "POST", "/chat/completions", json=body)
        for value in BAD_VALUES:
            choice = {"type": "function", "function": {"name": value}}
            body = {**base, "stream": stream, "tool_choice": choice}
            label = f"chat stream={stream} tool_choice.function.name={value!r:.40}"
            cells.send(label, "POST", "/chat/completions", json=body)
    if upstream.embed_model:
        embed = {"model": upstream.embed_model, "input": ["hello", "world"]}
        for path in EMBED_PATHS:
            for value in BAD_VALUES:
                label = f"embeddings {path}={str(value)[:40]!r}"
                body = with_value(embed, path, value)
                cells.send(label, "POST", "/embeddings", json=body)
        for value in BAD_VALUES:
            body = with_value({**embed, "input": [[1, 2], [3]]}, ("input", 0), value)
            cells.send(
                f"embeddings tokens {value!r:.40}", "POST", "/embeddings", json=body
            )
    with capsys.disabled():
        print(
            f"\n{upstream.vendor}: {cells.count} field cells, statuses {cells.statuses}"
        )
    assert cells.statuses.get(400, 0) > cells.count // 2


BAD_BODIES: list[tuple[str, bytes, dict[str, str]]] = [
    ("malformed", b'{"model": ', {"Content-Type": "application/json"}),
    ("NaN literal", b'{"model": NaN}', {"Content-Type": "application/json"}),
    ("array", b"[]", {"Content-Type": "application/json"}),
    ("string", b'"hello"', {"Content-Type": "application/json"}),
    ("number", b"42", {"Content-Type": "application/json"}),
    ("null", b"null", {"Content-Type": "application/json"}),
    ("empty", b"", {"Content-Type": "application/json"}),
    ("no content type", b'{"model": "x"}', {}),
    ("text/plain", b'{"model": "x"}', {"Content-Type": "text/plain"}),
    ("form", b"model=x", {"Content-Type": "application/x-www-form-urlencoded"}),
    ("invalid utf-8", b'{"model": "\xff\xfe"}', {"Content-Type": "application/json"}),
    ("deep", b"[" * 5000 + b"]" * 5000, {"Content-Type": "application/json"}),
]


def test_no_bad_body_answers_5xx_or_leaves_the_envelope(cells, settings, capsys):
    settings.GATEWAY_MAX_BODY_BYTES = 200_000
    settings.GATEWAY_MAX_EMBEDDINGS_BODY_BYTES = 200_000
    settings.GATEWAY_MAX_OTHER_BODY_BYTES = 1_000
    oversize = b'{"model": "x", "input": "' + b"a" * 300_000 + b'"}'

    def chunked() -> Iterator[bytes]:
        for i in range(0, len(oversize), 16_384):
            yield oversize[i : i + 16_384]

    for route in ("/chat/completions", "/embeddings"):
        for label, content, headers in BAD_BODIES:
            cells.send(
                f"{route} {label}", "POST", route, content=content, headers=headers
            )
        cells.send(f"{route} oversize", "POST", route, content=oversize)
        cells.send(f"{route} oversize chunked", "POST", route, content=chunked())
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            cells.send(f"{method} {route}", method, route)
    models = ["", "%00", "a" * 10_000, "..%2F..%2Fadmin", "\u2603", "x/" * 200]
    for name in models:
        cells.send(f"GET /models/{name[:20]}", "GET", f"/models/{name}")
    cells.send("GET /models with a body", "GET", "/models", content=b"x" * 2_000)
    cells.send("POST /models", "POST", "/models", json={})
    cells.send("GET /models?limit=-1", "GET", "/models?limit=-1&after=%00")
    with capsys.disabled():
        print(f"\n{cells.upstream.vendor}: {cells.count} body cells, {cells.statuses}")
    assert cells.statuses.get(413, 0) == 5
    assert cells.statuses.get(405, 0) == 9


RESPONSES_PATHS: list[tuple[Any, ...]] = [
    ("model",),
    ("input",),
    ("input", 0),
    ("input", 0, "role"),
    ("input", 0, "content"),
    ("input", 0, "content", 0),
    ("input", 0, "content", 0, "text"),
    ("instructions",),
    ("tools",),
    ("tools", 0),
    ("tools", 0, "name"),
    ("tools", 0, "parameters"),
    ("tool_choice",),
    ("parallel_tool_calls",),
    ("max_output_tokens",),
    ("temperature",),
    ("top_p",),
    ("text",),
    ("text", "format"),
    ("reasoning",),
    ("metadata",),
    ("store",),
    ("truncation",),
    ("include",),
    ("previous_response_id",),
    ("stream",),
    ("an_unknown_field",),
]
MESSAGES_PATHS: list[tuple[Any, ...]] = [
    ("model",),
    ("max_tokens",),
    ("messages",),
    ("messages", 0),
    ("messages", 0, "role"),
    ("messages", 0, "content"),
    ("messages", 0, "content", 0),
    ("messages", 0, "content", 0, "text"),
    ("system",),
    ("tools",),
    ("tools", 0, "name"),
    ("tools", 0, "input_schema"),
    ("tool_choice",),
    ("stop_sequences",),
    ("temperature",),
    ("top_p",),
    ("top_k",),
    ("metadata",),
    ("thinking",),
    ("stream",),
    ("an_unknown_field",),
]


def test_no_bad_responses_or_messages_field_answers_5xx(cells, capsys):
    """The same cells over /v1/responses (OpenAI's envelope) and /v1/messages
    (Anthropic's envelope; an Anthropic provider judges what it takes as sent).

    The translation is the same for every translated vendor: one OpenAI shape,
    plus the two that take Anthropic's body as sent, keep the suite's time.
    """
    upstream = cells.upstream
    if upstream.vendor not in ("openai", "anthropic", "bedrock"):
        pytest.skip("the translation is covered on the openai shape")
    responses = {
        "model": upstream.chat_model,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {}},
            }
        ],
        "text": {"format": {"type": "text"}},
        "store": False,
    }
    messages = {
        "model": upstream.chat_model,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
    }
    statuses: dict[int, int] = {}
    for route, base, paths in (
        ("/responses", responses, RESPONSES_PATHS),
        ("/messages", messages, MESSAGES_PATHS),
    ):
        for stream in (False, True):
            good = cells.client.post(route, json={**base, "stream": stream})
            assert good.status_code == 200, f"{route}: {good.text[:300]}"
            for path in paths:
                for value in BAD_VALUES:
                    body = with_value({**base, "stream": stream}, path, value)
                    label = f"{route} stream={stream} {path}={str(value)[:40]!r}"
                    response = cells.client.post(route, json=body)
                    status = response.status_code
                    statuses[status] = statuses.get(status, 0) + 1
                    assert status < 500, f"{label}: {status} {response.text[:300]}"
                    if status >= 400:
                        error = orjson.loads(response.content)["error"]
                        assert isinstance(error["message"], str), label
                        assert error["message"] and error["type"], label
                    elif response.headers["content-type"].startswith(
                        "text/event-stream"
                    ):
                        assert b"internal_error" not in response.content, label
    with capsys.disabled():
        print(f"\n{upstream.vendor}: responses/messages cells, statuses {statuses}")
    assert statuses.get(400, 0) > sum(statuses.values()) // 2


COMPLETIONS_PATHS: list[tuple[Any, ...]] = [
    ("prompt",),
    ("prompt", 0),
    ("echo",),
    ("suffix",),
    ("logprobs",),
    ("best_of",),
    ("max_tokens",),
    ("n",),
    ("stop",),
    ("stream_options",),
    ("an_unknown_field",),
]
# A few values of each kind: the shared fields are fuzzed on the chat route.
COMPLETIONS_VALUES: list[Any] = [None, True, -1, 1.5, "", [], [None], {}, deep(80)]


def test_no_bad_completions_field_answers_5xx_or_leaves_the_envelope(
    completion_cells, capsys
):
    """/v1/completions' own fields (``completion_cells``' two shapes)."""
    cells = completion_cells
    upstream = cells.upstream
    model = upstream.chat_model
    if upstream.vendor == "openai":
        model = "gpt-3.5-turbo-instruct"
        provider = Provider.objects.get(name="openai-fake")
        row = AIModel.objects.create(
            provider=provider, organization=provider.organization, model_id=model
        )
        Grant.objects.create(model=row, organization=provider.organization)
    for stream in (False, True):
        base: dict[str, Any] = {
            "model": model,
            "prompt": ["hi"],
            "max_tokens": 5,
            "stop": ["\n"],
            "stream": stream,
        }
        if stream:
            base["stream_options"] = {"include_usage": True}
        good = cells.client.post("/completions", json=base)
        assert good.status_code == 200, good.text[:300]
        for path in COMPLETIONS_PATHS:
            for value in COMPLETIONS_VALUES:
                body = with_value(base, path, value)
                label = f"completions stream={stream} {path}={str(value)[:40]!r}"
                cells.send(label, "POST", "/completions", json=body)
    with capsys.disabled():
        print(f"\n{upstream.vendor}: {cells.count} completions cells, {cells.statuses}")
