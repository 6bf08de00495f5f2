"""Fake vendors wired into the catalog: one provider + models per vendor fake.

``start(vendor, **options)`` serves the vendor's strict fake on loopback (the
options go to its ``make_app``); ``register(...)`` creates the provider (with
the credentials the fake expects) and its models, granted to an organization,
so gateway tests can call them with the SDK.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from accounts.models import Organization
from models_catalog.models import AIModel, Grant
from providers.models import Provider
from tests.fakes.server import FakeServer, serve


@dataclass
class Upstream:
    vendor: str
    server: FakeServer
    chat_model: str
    embed_model: str | None
    provider_type: str
    auth_method: str
    credentials: dict[str, Any]
    config: dict[str, Any]
    endpoint: str

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.app["requests"]


def _spec(vendor: str, **options: Any) -> tuple[Any, dict[str, Any]]:
    """(app, settings) for a vendor's fake; ``options`` go to its ``make_app``."""
    if vendor == "openai":
        from tests.fakes import openai as fake

        app = fake.make_app(api_key="sk-test-key", **options)
        return app, {
            "provider_type": "openai",
            "auth_method": "bearer",
            "credentials": {"api_key": "sk-test-key"},
            "config": {},
            "path": "/v1",
            "chat_model": "gpt-4o-mini",
            "embed_model": "text-embedding-3-small",
        }
    if vendor in ("openai-responses", "azure-responses"):
        # OpenAI-type providers set to call the Responses API upstream.
        app, spec = _spec(vendor.split("-")[0])
        return app, {**spec, "config": {**spec["config"], "wire_api": "responses"}}
    if vendor == "groq":  # an OpenAI-compatible preset with its own base URL
        from tests.fakes import openai as fake

        app = fake.make_app(
            api_key="gsk-test", prefix="/openai/v1", vendor="groq", **options
        )
        return app, {
            "provider_type": "groq",
            "auth_method": "bearer",
            "credentials": {"api_key": "gsk-test"},
            "config": {},
            "path": "/openai/v1",
            "chat_model": "gpt-4o-mini",
            "embed_model": "text-embedding-3-small",
        }
    if vendor == "vllm":  # a compatible server: it completes any model it serves
        from tests.fakes import openai as fake

        options.setdefault("models", ("qwen2.5-7b-instruct", "bge-m3-embed"))
        app = fake.make_app(api_key="vllm-test-key", vendor="vllm", **options)
        return app, {
            "provider_type": "vllm",
            "auth_method": "bearer",
            "credentials": {"api_key": "vllm-test-key"},
            "config": {},
            "path": "/v1",
            "chat_model": options["models"][0],
            "embed_model": None,
        }
    if vendor == "azure":
        from tests.fakes import azure as fake

        app = fake.make_app(api_key="azure-test-key", **options)
        return app, {
            "provider_type": "azure_openai",
            "auth_method": "api_key",
            "credentials": {"api_key": "azure-test-key"},
            "config": {"deployments": {"gpt-4o-mini": "chat-prod"}},
            "path": "",
            "chat_model": "gpt-4o-mini",
            "embed_model": "embed-small",
        }
    if vendor == "anthropic":
        from tests.fakes import anthropic as fake

        app = fake.make_app(api_key="sk-ant-test-key", **options)
        return app, {
            "provider_type": "anthropic",
            "auth_method": "x_api_key",
            "credentials": {"api_key": "sk-ant-test-key"},
            "config": {},
            "path": "",
            "chat_model": "claude-sonnet-4-5-20250929",
            "embed_model": None,
        }
    if vendor in ("bedrock", "bedrock-nova"):
        from tests.fakes import bedrock as fake

        app = fake.make_app(session_token="session-token-1", **options)
        return app, {
            "provider_type": "bedrock",
            "auth_method": "aws_sigv4",
            "credentials": {
                "access_key_id": fake.ACCESS_KEY,
                "secret_access_key": fake.SECRET_KEY,
                "session_token": "session-token-1",
            },
            "config": {"region": fake.REGION},
            "path": "",
            # Claude (Anthropic's body natively), or Nova (Converse only).
            "chat_model": fake.CHAT_MODEL if vendor == "bedrock" else fake.NOVA_MODEL,
            "embed_model": fake.TITAN_EMBED,
        }
    if vendor == "cohere":
        from tests.fakes import cohere as fake

        app = fake.make_app(**options)
        return app, {
            "provider_type": "cohere",
            "auth_method": "bearer",
            "credentials": {"api_key": fake.API_KEY},
            "config": {},
            "path": "/compatibility/v1",
            "chat_model": fake.CHAT_MODEL,
            "embed_model": fake.EMBED_MODEL,
        }
    if vendor == "ollama":
        from tests.fakes import ollama as fake

        app = fake.make_app(**options)
        return app, {
            "provider_type": "ollama",
            "auth_method": "none",
            "credentials": {},
            "config": {},
            "path": "",
            "chat_model": "llama3.2:latest",
            "embed_model": "nomic-embed-text:latest",
        }
    if vendor == "gemini":
        from tests.fakes import gemini as fake

        app = fake.make_app(api_key=fake.API_KEY, **options)
        return app, {
            "provider_type": "gemini",
            "auth_method": "api_key",
            "credentials": {"api_key": fake.API_KEY},
            "config": {},
            "path": "/v1beta",
            "chat_model": "gemini-2.5-flash",
            "embed_model": "gemini-embedding-001",
        }
    raise LookupError(vendor)


@contextmanager
def start(vendor: str, **options: Any) -> Iterator[Upstream]:
    """Serve the vendor's fake; ``options`` configure it (its ``make_app``)."""
    app, spec = _spec(vendor, **options)
    with serve(app) as server:
        if spec["provider_type"] == "bedrock":
            spec["config"] = {
                **spec["config"],
                "control_endpoint": server.url,
                "agent_endpoint": server.url,
            }
        yield Upstream(
            vendor=vendor,
            server=server,
            chat_model=spec["chat_model"],
            embed_model=spec["embed_model"],
            provider_type=spec["provider_type"],
            auth_method=spec["auth_method"],
            credentials=spec["credentials"],
            config=spec["config"],
            endpoint=server.url + spec["path"],
        )


def register(
    upstream: Upstream,
    organization: Organization,
    *,
    name: str | None = None,
    priority: int = 100,
    grant_to: Organization | None = None,
    **provider_fields: Any,
) -> Provider:
    provider = Provider(
        organization=organization,
        name=name or f"{upstream.vendor}-fake",
        provider_type=upstream.provider_type,
        endpoint=upstream.endpoint,
        auth_method=upstream.auth_method,
        priority=priority,
        **provider_fields,
    )
    provider.seal("credentials", upstream.credentials)
    provider.seal("provider_config", upstream.config)
    provider.save()
    models = [(upstream.chat_model, AIModel.ModelType.INFERENCE)]
    if upstream.embed_model:
        models.append((upstream.embed_model, AIModel.ModelType.EMBEDDING))
    for model_id, model_type in models:
        model = AIModel.objects.create(
            provider=provider,
            organization=organization,
            model_id=model_id,
            model_type=model_type,
            input_cost_per_million=3,
            output_cost_per_million=15,
        )
        Grant.objects.create(model=model, organization=grant_to or organization)
    return provider
