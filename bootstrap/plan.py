"""The plan (what the file asks for, validated), the report, and shared helpers.

Sections record their specs on ``Plan``; ``Report`` counts outcomes per kind in
``KINDS``. The helpers look rows up in the plan or the database (``*_exists``,
``is_member``) and write rows only when a value differs (``assign``, ``seal``,
``save``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from accounts.models import Membership, Organization, User
from bootstrap.document import Context, Item, kind_of
from models_catalog.models import AIModel
from providers.crypto import CryptoError
from providers.models import Provider

KINDS = (
    "organizations",
    "users",
    "memberships",
    "providers",
    "models",
    "grants",
    "api_keys",
)


@dataclass
class UserSpec:
    username: str
    line: int
    email: str | None = None
    password: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    staff: bool = False


@dataclass
class MemberSpec:
    organization: str
    username: str
    role: str


@dataclass
class ModelSpec:
    model_id: str
    values: dict[str, Any]
    config: dict[str, Any] | None  # None: keep what is stored


@dataclass
class ProviderSpec:
    organization: str
    name: str
    path: str
    line: int
    lines: dict[str, int]  # field path (relative) -> line
    values: dict[str, Any]
    auth: tuple[str, dict[str, Any], dict[str, Any]] | None  # method, creds, config
    config: dict[str, Any] | None
    models: dict[str, ModelSpec] = field(default_factory=dict)
    final_credentials: dict[str, Any] = field(default_factory=dict)
    final_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class GrantSpec:
    path: str
    lines: dict[str, int]
    target: tuple[str, str]  # ("model" | "provider", reference)
    grantee: tuple[str, str]  # ("user" | "organization", username or slug)
    resolved: tuple[str, ...] = ()  # (org, provider) or (org, provider, model_id)


@dataclass
class ApiKeySpec:
    path: str
    lines: dict[str, int]
    organization: str
    name: str
    secret: str
    user: str | None
    models: list[str] | None
    requests_per_minute: int | None


@dataclass
class Plan:
    source: str
    organizations: dict[str, str | None] = field(default_factory=dict)  # slug: name
    users: dict[str, UserSpec] = field(default_factory=dict)
    memberships: list[MemberSpec] = field(default_factory=list)
    providers: dict[tuple[str, str], ProviderSpec] = field(default_factory=dict)
    grants: list[GrantSpec] = field(default_factory=list)
    api_keys: list[ApiKeySpec] = field(default_factory=list)


@dataclass
class Report:
    counts: dict[str, Counter[str]] = field(
        default_factory=lambda: {kind: Counter() for kind in KINDS}
    )

    def add(self, kind: str, outcome: str) -> None:
        self.counts[kind][outcome] += 1

    @property
    def changed(self) -> bool:
        return any(c["created"] or c["updated"] for c in self.counts.values())

    def lines(self) -> list[str]:
        return [
            f"{kind}: {c['created']} created, {c['updated']} updated, "
            f"{c['unchanged']} unchanged"
            for kind, c in self.counts.items()
        ]


def section_entries(ctx: Context, item: Item, path: str) -> list[Item]:
    if not isinstance(item.value, list):
        ctx.error(item.line, path, f"must be a list, not {kind_of(item.value)}")
        return []
    return list(item.value)


def org_exists(plan: Plan, slug: str) -> bool:
    return slug in plan.organizations or Organization.objects.filter(slug=slug).exists()


def user_exists(plan: Plan, username: str) -> bool:
    return username in plan.users or User.objects.filter(username=username).exists()


def provider_exists(plan: Plan, org: str, name: str) -> bool:
    return (org, name) in plan.providers or Provider.objects.filter(
        organization__slug=org, name=name
    ).exists()


def model_exists(plan: Plan, org: str, provider: str, model_id: str) -> bool:
    spec = plan.providers.get((org, provider))
    if spec is not None and model_id in spec.models:
        return True
    return AIModel.objects.filter(
        provider__organization__slug=org, provider__name=provider, model_id=model_id
    ).exists()


def is_member(plan: Plan, username: str, org: str) -> bool:
    if any(m.username == username and m.organization == org for m in plan.memberships):
        return True
    return Membership.objects.filter(
        user__username=username, organization__slug=org
    ).exists()


def assign(obj: models.Model, values: Mapping[str, Any]) -> list[str]:
    """Set the given (non-None) values; return the names of fields that changed."""
    changed: list[str] = []
    for name, value in values.items():
        if value is not None and getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name)
    return changed


def seal(obj: Provider | AIModel, name: str, value: dict[str, Any]) -> list[str]:
    """Encrypt ``value`` unless it is what is stored (each seal is a new ciphertext)."""
    stored, ok = reveal(obj, name)
    if ok and stored == value:
        return []
    obj.seal(name, value or None)
    return [name]


def reveal(obj: Provider | AIModel | None, name: str) -> tuple[dict[str, Any], bool]:
    """The decrypted value (``{}`` when unset) and whether it decrypted."""
    if obj is None:
        return {}, True
    try:
        value = obj.reveal(name, default={})
    except (CryptoError, ValueError):
        return {}, False
    return (value if isinstance(value, dict) else {}), True


def save(
    report: Report, kind: str, obj: models.Model, created: bool, changed: list[str]
) -> None:
    if created:
        obj.save()
        report.add(kind, "created")
    elif changed:
        auto = [
            f.name for f in obj._meta.concrete_fields if getattr(f, "auto_now", False)
        ]
        obj.save(update_fields=[*changed, *auto])
        report.add(kind, "updated")
    else:
        report.add(kind, "unchanged")
