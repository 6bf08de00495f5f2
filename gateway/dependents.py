"""What still depends on a provider or model: the check before deleting one.

A provider or model is in use when a live API key's allow-list names it (by
model id, alias or ``provider/model-id``) or when the gateway served it within
the last ``RECENT_DAYS`` days. Keys of the owner's organization are named;
another organization's keys and calls are only counted (never named), and its
keys only when it can reach the object (a grant names it, or the object is
instance-wide): a name in an allow-list of an organization it is not shared
with means that organization's own model, and counting it would tell the
owner what other tenants' keys name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db.models import Q
from django.utils import timezone

from gateway.models import ApiKey, UsageRecord
from models_catalog.models import Grant

if TYPE_CHECKING:
    from models_catalog.models import AIModel
    from providers.models import Provider

RECENT_DAYS = 7


@dataclass
class Dependents:
    """Keys naming the object (own organization's names; others counted), and
    gateway calls it served recently."""

    api_keys: list[str] = field(default_factory=list)
    other_organizations_api_keys: int = 0
    recent_calls: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.api_keys or self.other_organizations_api_keys or self.recent_calls
        )

    def describe(self) -> str:
        """One sentence saying what still uses it (empty when nothing does)."""
        parts = []
        if self.api_keys:
            parts.append(f"named by the API keys {', '.join(self.api_keys)}")
        if self.other_organizations_api_keys:
            parts.append(
                f"named by {self.other_organizations_api_keys} API key(s) of "
                "other organizations"
            )
        if self.recent_calls:
            parts.append(
                f"served {self.recent_calls} gateway call(s) in the last "
                f"{RECENT_DAYS} days"
            )
        return f"Still in use: {'; '.join(parts)}." if parts else ""


def _model_names(model: AIModel) -> set[str]:
    names = {model.model_id, f"{model.provider.name}/{model.model_id}"}
    if model.alias:
        names.add(model.alias)
    return names


def _reaching(provider: Provider, models: list[AIModel]) -> set[int] | None:
    """Organizations the objects are shared with (None: every one)."""
    if provider.instance_wide or any(m.instance_wide for m in models):
        return None
    grants = Grant.objects.filter(
        Q(provider=provider) | Q(model__in=models), organization__isnull=False
    )
    return set(grants.values_list("organization_id", flat=True))


def _keys_naming(
    names: set[str], organization_id: int, reaching: set[int] | None
) -> tuple[list[str], int]:
    live = ApiKey.objects.filter(revoked_at__isnull=True).exclude(allowed_models=[])
    if reaching is not None:
        live = live.filter(organization_id__in={organization_id, *reaching})
    naming = [
        (key.organization_id, key.name)
        for key in live.only("organization_id", "name", "allowed_models")
        if names & {str(m) for m in key.allowed_models or []}
    ]
    own = sorted(name for org, name in naming if org == organization_id)
    return own, len(naming) - len(own)


def _recent_calls(q: Q) -> int:
    since = timezone.now() - timedelta(days=RECENT_DAYS)
    return UsageRecord.objects.filter(q, created_at__gte=since).count()


def of_model(model: AIModel) -> Dependents:
    reaching = _reaching(model.provider, [model])
    own, others = _keys_naming(_model_names(model), model.organization_id, reaching)
    return Dependents(own, others, _recent_calls(Q(model=model)))


def of_provider(provider: Provider) -> Dependents:
    models = list(provider.models.select_related("provider"))
    names: set[str] = set()
    for model in models:
        names |= _model_names(model)
    reaching = _reaching(provider, models)
    own, others = _keys_naming(names, provider.organization_id, reaching)
    return Dependents(own, others, _recent_calls(Q(provider=provider)))
