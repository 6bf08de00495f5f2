"""The ``grants`` section: a model or provider granted to a user or organization."""

from __future__ import annotations

from typing import Any

from accounts.models import Organization, User
from bootstrap.document import Context, Fields, Item
from bootstrap.plan import (
    GrantSpec,
    Plan,
    Report,
    model_exists,
    org_exists,
    provider_exists,
    section_entries,
    user_exists,
)
from models_catalog.models import AIModel, Grant
from providers.models import Provider

GRANT_FIELDS = ("model", "provider", "user", "organization")


def parse_grants(ctx: Context, item: Item, path: str, plan: Plan) -> None:
    for i, entry in enumerate(section_entries(ctx, item, path)):
        f = Fields(ctx, entry, f"{path}[{i}]", GRANT_FIELDS)
        given = {key: f.text(key) for key in GRANT_FIELDS}
        targets = [(k, v) for k in ("model", "provider") if (v := given[k])]
        grantees = [(k, v) for k in ("user", "organization") if (v := given[k])]
        if len(targets) != 1:
            ctx.error(entry.line, f.path, "give exactly one of model, provider")
        if len(grantees) != 1:
            ctx.error(entry.line, f.path, "give exactly one of user, organization")
        if len(targets) == 1 and len(grantees) == 1:
            lines = {k: f.line_of(k) for k in GRANT_FIELDS}
            plan.grants.append(GrantSpec(f.path, lines, targets[0], grantees[0]))


def resolve_grants(ctx: Context, plan: Plan) -> None:
    seen: dict[tuple[Any, ...], str] = {}
    for grant in plan.grants:
        kind, ref = grant.target
        found = _find_model(plan, ref) if kind == "model" else _find_provider(plan, ref)
        if not found:
            form = "provider-name/model-id" if kind == "model" else "provider-name"
            ctx.error(
                grant.lines[kind],
                f"{grant.path}.{kind}",
                f"unknown {kind} {ref!r} (write {form}, optionally after "
                "org-slug/, for one in this file or the database)",
            )
        elif len(found) > 1:
            names = ", ".join("/".join(f) for f in found)
            ctx.error(
                grant.lines[kind],
                f"{grant.path}.{kind}",
                f"{ref!r} is ambiguous ({names}); prefix the organization slug",
            )
        else:
            grant.resolved = found[0]
        who, name = grant.grantee
        exists = (
            org_exists(plan, name) if who == "organization" else user_exists(plan, name)
        )
        if not exists:
            ctx.error(
                grant.lines[who], f"{grant.path}.{who}", f"unknown {who} {name!r}"
            )
        key = (grant.resolved, grant.grantee)
        if grant.resolved and key in seen:
            ctx.error(grant.lines[kind], grant.path, f"same grant as {seen[key]}")
        seen.setdefault(key, grant.path)


def _find_provider(plan: Plan, ref: str) -> list[tuple[str, ...]]:
    org, _, name = ref.rpartition("/")
    if org:
        return [(org, name)] if provider_exists(plan, org, name) else []
    from_db = Provider.objects.filter(name=name).values_list(
        "organization__slug", flat=True
    )
    orgs = {o for (o, n) in plan.providers if n == name} | set(from_db)
    return [(o, name) for o in sorted(orgs)]


def _find_model(plan: Plan, ref: str) -> list[tuple[str, ...]]:
    """``org/provider/model-id`` when that names a model, else ``provider/model-id``.

    Model ids may hold slashes themselves, so both readings are tried.
    """
    parts = ref.split("/")
    if len(parts) >= 3:
        org, provider, model_id = parts[0], parts[1], "/".join(parts[2:])
        if model_exists(plan, org, provider, model_id):
            return [(org, provider, model_id)]
    if len(parts) < 2:
        return []
    provider, model_id = parts[0], "/".join(parts[1:])
    return [
        (org, provider, model_id)
        for (org, _name) in _find_provider(plan, provider)
        if model_exists(plan, org, provider, model_id)
    ]


def apply_grants(plan: Plan, report: Report) -> None:
    for grant in plan.grants:
        org, provider_name, *rest = grant.resolved
        provider = Provider.objects.get(organization__slug=org, name=provider_name)
        target: dict[str, Any] = (
            {"model": AIModel.objects.get(provider=provider, model_id=rest[0])}
            if rest
            else {"provider": provider}
        )
        who, name = grant.grantee
        if who == "user":
            target["user"] = User.objects.get(username=name)
        else:
            target["organization"] = Organization.objects.get(slug=name)
        _, created = Grant.objects.get_or_create(**target)
        report.add("grants", "created" if created else "unchanged")
