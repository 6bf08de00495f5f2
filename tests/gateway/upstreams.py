"""Fake vendors wired into the catalog: one provider + models per vendor fake.

``start(vendor)`` serves the vendor's strict fake on loopback; ``register(...)``
creates the provider (with the credentials the fake expects) and its models,
granted to an organization, so gateway tests can call them with the SDK.
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


def _spec(vendor: str) -> tuple[Any, dict[str, Any]]:
    """(app, settings) for a vendor's fake."""
    if vendor == "openai":
        from tests.fakes import openai as fake

        app = fake.make_app(api_key="sk-test-key")
        return app, {
            "provider_type": "openai",
            "auth_method": "bearer",
            "credentials": {"api_key": "sk-test-key"},
            "config": {},
            "path": "/v1",
            "chat_model": "gpt-4o-mini",
            "embed_model": "text-embedding-3-small",
        }
    raise LookupError(vendor)


@contextmanager
def start(vendor: str) -> Iterator[Upstream]:
    app, spec = _spec(vendor)
    with serve(app) as server:
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
