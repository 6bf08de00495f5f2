"""Resolve a model name to the candidates a principal may call, best first.

A name matches a visible model by its ``model_id``, its alias, or
``<provider name>/<model_id>`` (pinning one provider). Several matches are
ordered by provider health (unavailable and failed last), provider priority,
then model id, and the gateway tries them in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from models_catalog.visibility import Principal, visible_models
from providers.crypto import CryptoError
from providers.drivers.config import DriverConfig
from providers.models import Provider

UNHEALTHY = {Provider.Health.UNAVAILABLE, Provider.Health.FAILED}


@dataclass(frozen=True)
class Candidate:
    model_pk: int
    provider_pk: int
    provider_organization_id: int
    model_id: str
    alias: str
    provider_name: str
    model_type: str
    input_cost: Decimal
    output_cost: Decimal
    # None: the model has no cache price, so cached tokens bill as input.
    cache_read_cost: Decimal | None
    cache_write_cost: Decimal | None
    # Per thousand search units (rerank); None: searches are not priced.
    search_cost: Decimal | None
    model_rpm: int | None
    provider_rpm: int | None
    driver_config: DriverConfig | None
    config_error: str = ""
    model_tpm: int | None = None
    provider_tpm: int | None = None

    def names(self) -> set[str]:
        names = {self.model_id, f"{self.provider_name}/{self.model_id}"}
        if self.alias:
            names.add(self.alias)
        return names


def name_q(name: str) -> Q:
    match = Q(model_id=name) | Q(alias=name)
    head, sep, tail = name.partition("/")
    if sep and head and tail:
        match |= Q(provider__name=head, model_id=tail)
    return match


def candidates_for(principal: Principal, name: str) -> list[Candidate]:
    """Candidates for ``name`` (sync, queries the database; cached by the caller)."""
    rows = (
        visible_models(principal)
        .filter(name_q(name))
        .select_related("provider")
        .order_by("provider__priority", "provider__name", "model_id")
    )
    ranked: list[tuple[bool, Candidate]] = []
    for model in rows:
        provider = model.provider
        try:
            driver_config, error = provider.driver_config(), ""
        except CryptoError as exc:
            driver_config, error = None, str(exc)
        ranked.append(
            (
                provider.health in UNHEALTHY,
                Candidate(
                    model_pk=model.pk,
                    provider_pk=provider.pk,
                    provider_organization_id=provider.organization_id,
                    model_id=model.model_id,
                    alias=model.alias,
                    provider_name=provider.name,
                    model_type=model.model_type,
                    input_cost=model.input_cost_per_million,
                    output_cost=model.output_cost_per_million,
                    cache_read_cost=model.cache_read_cost_per_million,
                    cache_write_cost=model.cache_write_cost_per_million,
                    search_cost=model.cost_per_thousand_searches,
                    model_rpm=model.requests_per_minute,
                    provider_rpm=provider.requests_per_minute,
                    driver_config=driver_config,
                    config_error=error,
                    model_tpm=model.tokens_per_minute,
                    provider_tpm=provider.tokens_per_minute,
                ),
            )
        )
    # Stable sort: healthy (or unknown) providers first, priority order kept.
    ranked.sort(key=lambda pair: pair[0])
    return [candidate for _, candidate in ranked]
