"""Model discovery: list a provider's models through its driver, upsert the catalog.

Repeatable: running it twice changes nothing. New models arrive with what the
vendor reports (name, type, context window) and a status the provider decides
(``activate_discovered``) and the bundled catalog's list prices and context
window where it knows the model (``price_catalog``). Existing rows only gain
what they lack: an admin's edits (names, types, prices, status, aliases) are
kept; prices are filled in while they are unset. Discovered models the
vendor no longer lists get ``missing_since`` (never deleted) and come back when
they reappear. Models added by hand are never marked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from models_catalog import price_catalog
from models_catalog.models import AIModel
from providers.drivers import get_driver
from providers.drivers.config import DriverConfig, ModelInfo
from providers.drivers.errors import TransientDriverError
from providers.http import build_client
from providers.models import Provider

MODEL_TYPES = {choice.value for choice in AIModel.ModelType}


@dataclass
class DiscoveryResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.gone)} gone, {len(self.returned)} back, "
            f"{self.unchanged} unchanged"
        )


async def _list(cfg: DriverConfig, timeout: float) -> list[ModelInfo]:
    async with build_client() as client:
        async with asyncio.timeout(timeout):
            return await get_driver(cfg, client).list_models()


def fetch_models(provider: Provider) -> list[ModelInfo]:
    """The vendor's list (sync; opens its own event loop). Raises DriverError."""
    cfg = provider.driver_config()
    timeout = min(provider.timeout_total, settings.DISCOVERY_TIMEOUT)
    try:
        return asyncio.run(_list(cfg, timeout))
    except TimeoutError:
        raise TransientDriverError(
            f"Model listing did not answer within {timeout:g} s.",
            status=504,
            code="upstream_timeout",
        ) from None


def sync_provider_models(
    provider: Provider, infos: list[ModelInfo] | None = None
) -> DiscoveryResult:
    """Upsert the vendor's models into the catalog; see the module docstring."""
    if infos is None:
        infos = fetch_models(provider)
    listed: dict[str, ModelInfo] = {}
    for info in infos:
        if info.model_id and len(info.model_id) <= 255:
            listed.setdefault(info.model_id, info)
    if provider.starter:
        # The platform's key serves the starter model alone: discovery confirms
        # it is still listed, and never adds the vendor's whole catalogue.
        own = set(
            AIModel.objects.filter(provider=provider).values_list("model_id", flat=True)
        )
        listed = {
            model_id: info for model_id, info in listed.items() if model_id in own
        }
    try:
        return _apply(provider, listed)
    except IntegrityError:
        # Another worker inserted the same model between our read and write.
        return _apply(provider, listed)


def _apply(provider: Provider, listed: dict[str, ModelInfo]) -> DiscoveryResult:
    result = DiscoveryResult()
    now = timezone.now()
    catalog = price_catalog.current()
    with transaction.atomic():
        existing = {
            m.model_id: m
            for m in AIModel.objects.select_for_update().filter(provider=provider)
        }
        for model_id, info in listed.items():
            model = existing.get(model_id)
            if model is None:
                model = AIModel(
                    provider=provider,
                    organization_id=provider.organization_id,
                    owner_id=provider.owner_id,
                    model_id=model_id,
                    name=(info.name or "")[:200],
                    model_type=info.model_type
                    if info.model_type in MODEL_TYPES
                    else AIModel.ModelType.INFERENCE,
                    context_window=info.context_window,
                    source=AIModel.Source.DISCOVERED,
                    status=AIModel.Status.ACTIVE
                    if provider.activate_discovered
                    else AIModel.Status.INACTIVE,
                )
                price_catalog.apply_prices(model, provider.provider_type, catalog)
                model.save()
                result.added.append(model_id)
                continue
            changed: list[str] = []
            if model.missing_since is not None:
                model.missing_since = None
                changed.append("missing_since")
                result.returned.append(model_id)
            if not model.name and info.name:
                model.name = info.name[:200]
                changed.append("name")
            if model.context_window is None and info.context_window:
                model.context_window = info.context_window
                changed.append("context_window")
            if model.price_source == AIModel.PriceSource.UNSET:
                changed += price_catalog.apply_prices(
                    model, provider.provider_type, catalog
                )
            if changed:
                model.save(update_fields=[*changed, "updated_at"])
                if "missing_since" not in changed or len(changed) > 1:
                    result.updated.append(model_id)
            else:
                result.unchanged += 1
        for model_id, model in existing.items():
            if (
                model_id not in listed
                and model.source == AIModel.Source.DISCOVERED
                and model.missing_since is None
            ):
                model.missing_since = now
                model.save(update_fields=["missing_since", "updated_at"])
                result.gone.append(model_id)
    return result
