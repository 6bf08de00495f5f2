"""The ``api_keys`` section: gateway keys whose secret the operator provides.

Keys are issued through ``ApiKey.issue`` with the operator's secret, and a changed
secret is stored through ``ApiKey.set_secret``: only its hash and display prefix.
"""

from __future__ import annotations

from typing import Any

from accounts.models import Organization, User
from bootstrap.document import Context, Fields, Item
from bootstrap.plan import (
    ApiKeySpec,
    Plan,
    Report,
    assign,
    is_member,
    org_exists,
    save,
    section_entries,
)
from gateway.apikeys import hash_secret, validate_operator_secret
from gateway.models import ApiKey

API_KEY_FIELDS = (
    "organization",
    "user",
    "name",
    "secret",
    "models",
    "requests_per_minute",
)


def parse_api_keys(ctx: Context, item: Item, path: str, plan: Plan) -> None:
    for i, entry in enumerate(section_entries(ctx, item, path)):
        f = Fields(ctx, entry, f"{path}[{i}]", API_KEY_FIELDS)
        org = f.text("organization", required=True)
        name = f.text("name", required=True, max_length=100)
        secret = f.text("secret", required=True)
        if secret:
            problem = validate_operator_secret(secret)
            if problem:
                f.error("secret", problem)  # the reason only, never the value
        models = None
        if f.get("models") is not None:
            models = []
            for j, model in enumerate(f.entries("models")):
                if isinstance(model.value, str) and model.value:
                    models.append(model.value)
                else:
                    ctx.error(model.line, f"{f.sub('models')}[{j}]", "must be a name")
        if org and name and secret:
            plan.api_keys.append(
                ApiKeySpec(
                    path=f.path,
                    lines={k: f.line_of(k) for k in API_KEY_FIELDS},
                    organization=org,
                    name=name,
                    secret=secret,
                    user=f.text("user"),
                    models=models,
                    requests_per_minute=f.integer("requests_per_minute", minimum=1),
                )
            )


def resolve_api_keys(ctx: Context, plan: Plan) -> None:
    names: dict[tuple[str, str], str] = {}
    hashes: dict[str, str] = {}
    for spec in plan.api_keys:
        if not org_exists(plan, spec.organization):
            ctx.error(
                spec.lines["organization"],
                f"{spec.path}.organization",
                f"unknown organization {spec.organization!r}",
            )
        if spec.user is not None and not is_member(plan, spec.user, spec.organization):
            ctx.error(
                spec.lines["user"],
                f"{spec.path}.user",
                f"{spec.user!r} is not a member of {spec.organization!r}",
            )
        key = (spec.organization, spec.name)
        if key in names:
            ctx.error(spec.lines["name"], spec.path, f"same key as {names[key]}")
        names.setdefault(key, spec.path)
        digest = hash_secret(spec.secret)
        if digest in hashes:
            ctx.error(
                spec.lines["secret"], f"{spec.path}.secret", f"reuses {hashes[digest]}"
            )
        hashes.setdefault(digest, f"{spec.path}.secret")
        taken = (
            ApiKey.objects.filter(secret_hash=digest)
            .exclude(organization__slug=spec.organization, name=spec.name)
            .exists()
        )
        if taken:
            ctx.error(
                spec.lines["secret"],
                f"{spec.path}.secret",
                "this secret already belongs to another key",
            )


def apply_api_keys(plan: Plan, report: Report) -> None:
    for spec in plan.api_keys:
        org = Organization.objects.get(slug=spec.organization)
        user = User.objects.get(username=spec.user) if spec.user else None
        values: dict[str, Any] = {
            "requests_per_minute": spec.requests_per_minute,
            "allowed_models": spec.models,
        }
        key = ApiKey.objects.filter(organization=org, name=spec.name).first()
        if key is None:
            given = {k: v for k, v in values.items() if v is not None}
            ApiKey.issue(org, user, spec.name, secret=spec.secret, **given)
            report.add("api_keys", "created")
            continue
        changed = assign(key, values)
        if key.secret_hash != hash_secret(spec.secret):
            key.set_secret(spec.secret)
            changed += ["secret_hash", "prefix"]
        if key.user_id != (user.pk if user else None):
            key.user = user
            changed.append("user")
        save(report, "api_keys", key, False, changed)
