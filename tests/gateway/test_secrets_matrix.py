"""No credential reaches any answer, page, log line, task result or stored message.

For every vendor shape, an echoing upstream on loopback (tests/fakes/echo.py)
answers every request with each error status, in the vendor's error JSON and as
plain text, quoting back every request header and the body; streams end in an
in-stream error event or break off mid-way. Through the real gateway (uvicorn)
we call chat, streaming chat and embeddings; then the health check and model
discovery (the functions and the Celery tasks), and the admin's "check health
now", "discover" and "verify with the vendor" (Django test client). Every
answer body and header, page, log record (DEBUG, all loggers), stored health
message, HealthEvent and task result/traceback is grepped for every secret in
its raw, base64 and URL-encoded forms: 0 hits.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets as random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from django.conf import settings
from django.test import Client

from gateway.models import ApiKey
from models_catalog.discovery import sync_provider_models
from models_catalog.models import AIModel, Grant
from models_catalog.tasks import discover_models
from providers.forms import CONFIG_TEXT_FIELDS, HEADERS_FIELD, SECRET_FIELDS
from providers.health import check_provider
from providers.models import HealthEvent, Provider
from providers.tasks import check_provider_health
from tests.conftest import World
from tests.fakes.echo import STATUSES, make_app
from tests.fakes.server import serve
from tests.gateway import upstreams


def _tag(vendor: str) -> str:
    return f"{vendor}-{random.token_hex(6)}"


@dataclass
class Shape:
    """One vendor shape: how the provider is set up against the echo server."""

    family: str
    provider_type: str
    auth_method: str
    credentials: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    chat_model: str = "chat-model"
    embed_model: str | None = "embed-model"
    token: str | None = None
    rerank_model: str | None = None


def shape(vendor: str) -> Shape:
    """Distinctive credentials (``sk-SECRET-<vendor>-<random>``) per vendor."""
    key = f"sk-SECRET-{_tag(vendor)}"
    if vendor == "openai":
        return Shape("openai", "openai", "bearer", {"api_key": key}, path="/v1")
    if vendor == "azure_openai":
        return Shape(
            "openai",
            "azure_openai",
            "api_key",
            {"api_key": key},
            {"deployments": {"chat-model": "chat-prod"}},
        )
    if vendor == "anthropic":
        return Shape(
            "anthropic", "anthropic", "x_api_key", {"api_key": key}, embed_model=None
        )
    if vendor == "bedrock":
        return Shape(
            "bedrock",
            "bedrock",
            "aws_sigv4",
            {
                "access_key_id": f"AKIDSECRET{random.token_hex(5).upper()}",
                "secret_access_key": f"AWS/SECRET+{_tag('bedrock')}",
                "session_token": f"FwoG/SECRET+token={_tag('bedrock')}",
            },
            {"region": "us-east-1"},
            chat_model="anthropic.claude-3-haiku-20240307-v1:0",
            embed_model="amazon.titan-embed-text-v2:0",
            rerank_model="amazon.rerank-v1:0",
        )
    if vendor == "cohere":  # chat through its Compatibility API, rerank on v2
        return Shape(
            "openai",
            "cohere",
            "bearer",
            {"api_key": key},
            path="/compatibility/v1",
            embed_model=None,
            rerank_model="rerank-v3.5",
        )
    if vendor == "ollama":  # behind an authenticating proxy, as the finding had it
        return Shape("ollama", "ollama", "bearer", {"api_key": key})
    if vendor == "gemini":
        return Shape("gemini", "gemini", "api_key", {"api_key": key}, path="/v1beta")
    if vendor in ("oauth2", "oauth2_token_endpoint"):
        # The token endpoint answers (and the API echoes the token), or the token
        # endpoint itself echoes the form carrying the client secret.
        return Shape(
            "openai",
            "openai_compatible",
            "oauth2",
            {"client_secret": f"cs/SECRET+{_tag(vendor)}="},
            {"client_id": f"client-{random.token_hex(4)}"},
            path="/v1",
            token=f"tok-SECRET-{_tag(vendor)}" if vendor == "oauth2" else None,
        )
    raise LookupError(vendor)


# groq's shape (an OpenAI preset on its own base path) is cohere's too, which
# adds its rerank, /v1/models and health paths: cohere stands for both.
VENDORS = [
    "openai",
    "azure_openai",
    "anthropic",
    "bedrock",
    "ollama",
    "gemini",
    "cohere",
    "oauth2",
    "oauth2_token_endpoint",
]


def needles(values: list[str]) -> set[str]:
    """Each secret as it could leak: raw, base64 (both alphabets), URL-encoded."""
    found: set[str] = set()
    for value in values:
        raw = value.encode()
        found |= {
            value,
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            quote(value, safe=""),
            quote_plus(value, safe=""),
        }
    return found


class Ledger:
    """Every observed text, with where it came from."""

    def __init__(self) -> None:
        self.cells: list[tuple[str, str]] = []

    def add(self, where: str, text: Any) -> None:
        self.cells.append((where, text if isinstance(text, str) else repr(text)))

    def hits(self, secrets: set[str]) -> list[str]:
        return [
            f"{where}: ...{text[max(0, text.find(s) - 80) : text.find(s) + 40]}..."
            for where, text in self.cells
            for s in secrets
            if s in text
        ]


# Third-party loggers whose DEBUG lines print signed request headers: the
# settings pin them to WARNING whatever LOG_LEVEL says (checked below).
PINNED = ("botocore", "boto3", "urllib3", "s3transfer")


@contextmanager
def all_logs_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger at DEBUG into caplog, httpx included; PINNED stay pinned."""
    for name in PINNED:
        assert settings.LOGGING["loggers"][name]["level"] == "WARNING"
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
    names = [None, *logging.root.manager.loggerDict]
    for name in names:
        if name is None or name.split(".")[0] not in PINNED:
            caplog.set_level(logging.DEBUG, logger=name)
    yield


def _form(provider: Provider) -> dict[str, Any]:
    """The provider's change form with its credentials entered again, so the
    save is checked with the vendor (an unchanged save is not)."""
    config = provider.get_config()
    data: dict[str, Any] = {
        "organization": provider.organization_id,
        "name": provider.name,
        "provider_type": provider.provider_type,
        "endpoint": provider.endpoint,
        "auth_method": provider.auth_method,
        "status": "active",
        "priority": "100",
        "timeout_connect": "5.0",
        "timeout_first_byte": "60.0",
        "timeout_total": "600.0",
        "verify_credentials": "on",
        "_save": "Save",
    }
    extra = dict(config)
    for key in CONFIG_TEXT_FIELDS:
        if key in extra:
            data[key] = extra.pop(key)
    if "deployments" in extra:
        data["deployments"] = json.dumps(extra.pop("deployments"))
    if extra:
        data["extra_config"] = json.dumps(extra)
    fields = {key: name for name, key in SECRET_FIELDS.items()}
    for key, value in provider.get_credentials().items():
        if key == "headers":
            data[HEADERS_FIELD] = "\n".join(f"{k}: {v}" for k, v in value.items())
        elif key in fields:
            data[fields[key]] = value
    return data


def _gateway_calls(
    ledger: Ledger, http: httpx.Client, spec: Shape, label: str, stream_only: bool
) -> None:
    chat = {"model": spec.chat_model, "messages": [{"role": "user", "content": "hi"}]}
    calls: list[tuple[str, dict[str, Any], bool]] = [
        ("stream", {**chat, "stream": True}, True)
    ]
    if not stream_only:
        calls.append(("chat", chat, False))
        # Anthropic's Messages API: its error envelope and error events too.
        calls.append(("messages", {**chat, "max_tokens": 10, "stream": True}, True))
        # OpenAI's Responses API: its failure events (the whole answer shares
        # the chat route's error path, covered above).
        responses = {"model": spec.chat_model, "input": "hi", "stream": True}
        calls.append(("responses", responses, True))
        # Legacy completions: passed through (OpenAI family) or through chat.
        completions = {"model": spec.chat_model, "prompt": "hi", "stream": True}
        calls.append(("completions", completions, True))
        if spec.embed_model:
            calls.append(
                ("embeddings", {"model": spec.embed_model, "input": "hi"}, False)
            )
        if spec.rerank_model:
            rerank = {"model": spec.rerank_model, "query": "q", "documents": ["d"]}
            calls.append(("rerank", rerank, False))
    for name, body, stream in calls:
        path = {
            "embeddings": "/embeddings",
            "messages": "/messages",
            "responses": "/responses",
            "completions": "/completions",
            "rerank": "/rerank",
        }.get(name, "/chat/completions")
        where = f"{label} /v1 {name}"
        try:
            with http.stream("POST", path, json=body) as response:
                text = response.read().decode("utf-8", "replace")
                ledger.add(f"{where} status", str(response.status_code))
                ledger.add(f"{where} headers", str(dict(response.headers)))
                ledger.add(f"{where} body", text)
                if not stream and response.status_code < 400:
                    raise AssertionError(f"{where}: an echo answered {text[:200]}")
        except httpx.HTTPError as exc:
            ledger.add(f"{where} transport", repr(exc))


def _background(ledger: Ledger, provider: Provider, label: str) -> None:
    result = check_provider(provider)
    ledger.add(f"{label} check_provider", result)
    try:
        ledger.add(f"{label} discovery", sync_provider_models(provider))
    except Exception as exc:
        ledger.add(f"{label} discovery error", f"{exc!r} {exc} {vars(exc)}")
    for task in (check_provider_health, discover_models):
        outcome = task.apply(args=(provider.pk,))
        ledger.add(f"{label} {task.name} result", repr(outcome.result))
        ledger.add(f"{label} {task.name} traceback", outcome.traceback or "")
    provider.refresh_from_db()
    ledger.add(f"{label} health_message", provider.health_message)


def _admin(ledger: Ledger, admin: Client, provider: Provider, label: str) -> None:
    listing = "/admin/providers/provider/"
    for action in ("check_health_now", "discover_models_now"):
        page = admin.post(
            listing,
            {"action": action, "index": 0, "_selected_action": [provider.pk]},
            follow=True,
        )
        ledger.add(f"{label} admin {action}", page.content.decode())
    change = f"{listing}{provider.pk}/change/"
    verify = admin.post(change, _form(provider))
    ledger.add(f"{label} admin verify", verify.content.decode())
    assert "The vendor check did not pass" in verify.content.decode(), label


def _secret_values(spec: Shape, provider: Provider) -> list[str]:
    values = [str(v) for v in spec.credentials.values()]
    if spec.token:
        values.append(spec.token)
    assert provider.get_credentials() == spec.credentials
    return values


@pytest.mark.parametrize("vendor", VENDORS)
def test_no_secret_reaches_any_answer_page_log_or_stored_message(
    vendor: str, gateway: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    spec = shape(vendor)
    app = make_app(spec.family, token=spec.token)
    state = app["state"]
    ledger = Ledger()
    with serve(app) as server, all_logs_at_debug(caplog):
        config = dict(spec.config)
        if spec.provider_type == "bedrock":
            config["control_endpoint"] = config["agent_endpoint"] = server.url
        if spec.auth_method == "oauth2":
            config["token_url"] = f"{server.url}/token"
        upstream = upstreams.Upstream(
            vendor=vendor,
            server=server,
            chat_model=spec.chat_model,
            embed_model=spec.embed_model,
            provider_type=spec.provider_type,
            auth_method=spec.auth_method,
            credentials=spec.credentials,
            config=config,
            endpoint=server.url + spec.path,
        )
        provider = upstreams.register(upstream, world.acme, name=f"echo-{vendor}")
        if spec.rerank_model:
            reranker = AIModel.objects.create(
                provider=provider,
                organization=world.acme,
                model_id=spec.rerank_model,
                model_type=AIModel.ModelType.RERANK,
            )
            Grant.objects.create(model=reranker, organization=world.acme)
        _, api_key = ApiKey.issue(organization=world.acme, user=world.bob, name="k")
        admin = Client()
        admin.force_login(world.alice)
        headers = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=gateway.v1, headers=headers, timeout=30) as http:
            for status in STATUSES:
                for body_shape in ("json", "text"):
                    label = f"{vendor} {status} {body_shape}"
                    state["mode"] = ("http", status, body_shape)
                    _gateway_calls(ledger, http, spec, label, stream_only=False)
                    _background(ledger, provider, label)
                    if body_shape == "json":
                        _admin(ledger, admin, provider, label)
            for mode in ("stream_error", "break"):
                state["mode"] = (mode,)
                _gateway_calls(ledger, http, spec, f"{vendor} {mode}", True)
        for page in (
            "/admin/providers/provider/",
            f"/admin/providers/provider/{provider.pk}/change/",
        ):
            ledger.add(f"{vendor} page {page}", admin.get(page).content.decode())
        for event in HealthEvent.objects.filter(provider=provider):
            ledger.add(f"{vendor} HealthEvent", event.message)
    assert state["requests"] > 0
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        ledger.add(f"{vendor} log {record.name}", text)
    secrets = needles(_secret_values(spec, provider))
    hits = ledger.hits(secrets)
    print(
        f"\n{vendor}: {len(ledger.cells)} cells x {len(secrets)} secret forms "
        f"checked, {len(hits)} hits, {state['requests']} upstream requests"
    )
    sources = sorted({hit.split(": ...")[0] for hit in hits})
    assert hits == [], "\n".join([*sources[:40], *hits[:5]])
