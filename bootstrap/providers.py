"""The ``providers`` section: providers with their models.

Checks each provider against the rules of ``providers.catalog`` once stored
values (credentials, config, endpoint) are merged in; secrets stay encrypted.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from accounts.models import Organization
from bootstrap.document import (
    Context,
    Fields,
    Item,
    Problem,
    kind_of,
    plain,
)
from bootstrap.plan import (
    ModelSpec,
    Plan,
    ProviderSpec,
    Report,
    assign,
    org_exists,
    reveal,
    save,
    seal,
    section_entries,
)
from models_catalog.models import AIModel
from providers import catalog
from providers.models import Provider

if TYPE_CHECKING:
    from django.db.models import Field

_MAX_COST = Decimal("1000000")
_CENT = Decimal("0.000001")  # the catalog stores costs with 6 decimals
PROVIDER_FIELDS = (
    "organization", "name", "type", "endpoint", "auth", "config", "instance_wide",
    "status", "priority", "requests_per_minute", "timeout_connect",
    "timeout_first_byte", "timeout_total", "models",
)  # fmt: skip
MODEL_FIELDS = (
    "model_id", "name", "alias", "type", "status", "instance_wide",
    "input_cost_per_million", "output_cost_per_million", "context_window",
    "requests_per_minute", "config",
)  # fmt: skip
AUTH_FIELDS: dict[str, tuple[str, ...]] = {
    catalog.AuthMethod.BEARER: ("api_key",),
    catalog.AuthMethod.X_API_KEY: ("api_key",),
    catalog.AuthMethod.API_KEY: ("api_key", "header", "prefix"),
    catalog.AuthMethod.CUSTOM_HEADERS: ("headers",),
    catalog.AuthMethod.AWS_SIGV4: (
        "region",
        "access_key_id",
        "secret_access_key",
        "session_token",
    ),
    catalog.AuthMethod.OAUTH2: ("token_url", "client_id", "scope", "client_secret"),
    catalog.AuthMethod.NONE: (),
}
# Provider config keys that ``auth`` owns (written there, stored in the config).
AUTH_CONFIG_KEYS = {
    "auth_header": "header",
    "auth_prefix": "prefix",
    "token_url": "token_url",
    "client_id": "client_id",
    "scope": "scope",
}
SECRET_KEYS = {"api_key", "headers", "access_key_id", "secret_access_key",
               "session_token", "client_secret", "password"}  # fmt: skip
# Where catalog.validate's fields are written in the file, best first.
CATALOG_FIELDS: dict[str, tuple[str, ...]] = {
    "provider_type": ("type",),
    "auth_method": ("auth.method", "auth", "type"),
    "endpoint": ("endpoint", "config.base_url", "config"),
    "provider_config": ("config", "auth"),
    "credentials": ("auth",),
}


def parse_providers(ctx: Context, item: Item, path: str, plan: Plan) -> None:
    for i, entry in enumerate(section_entries(ctx, item, path)):
        f = Fields(ctx, entry, f"{path}[{i}]", PROVIDER_FIELDS)
        org = f.text("organization", required=True)
        name = f.text("name", required=True, slug=True, max_length=100)
        ptype = f.text("type", required=True, choices=catalog.TYPES)
        endpoint = f.text("endpoint", max_length=500)
        if endpoint and not catalog.is_http_url(endpoint.strip()):
            f.error("endpoint", "must be an http:// or https:// URL with a host")
        values: dict[str, Any] = {
            "provider_type": ptype,
            "endpoint": endpoint,
            "instance_wide": f.flag("instance_wide"),
            "status": f.text("status", choices=Provider.Status.values),
            "priority": f.integer("priority"),
            "requests_per_minute": f.integer("requests_per_minute", minimum=1),
        }
        for key in ("timeout_connect", "timeout_first_byte", "timeout_total"):
            seconds = f.number(key)
            if seconds == 0:
                f.error(key, "must be more than 0 seconds")
            values[key] = float(seconds) if seconds else None
        auth_item, config_item = f.mapping("auth"), f.mapping("config")
        default_method = catalog.default_auth_method(ptype) if ptype else None
        auth = (
            _parse_auth(ctx, auth_item, f.sub("auth"), default_method)
            if auth_item
            else None
        )
        config = (
            _parse_config(ctx, config_item, f.sub("config")) if config_item else None
        )
        if auth and config is not None:
            for key, value in auth[2].items():
                if key in config and config[key] != value:
                    f.error("config", f"{key} differs from the one under auth")
        lines = {k: f.line_of(k) for k in f.key_lines}
        if auth_item and isinstance(auth_item.value, dict):
            for key, line in auth_item.key_lines.items():
                lines[f"auth.{key}"] = line
        if config_item and "base_url" in config_item.key_lines:
            lines["config.base_url"] = config_item.key_lines["base_url"]
        if org is None or name is None:
            continue
        if (org, name) in plan.providers:
            first = plan.providers[(org, name)].line
            f.error("name", f"duplicate provider in {org} (first at line {first})")
            continue
        spec = ProviderSpec(org, name, f.path, entry.line, lines, values, auth, config)
        plan.providers[(org, name)] = spec
        for j, model in enumerate(f.entries("models")):
            _parse_model(ctx, model, f"{f.path}.models[{j}]", spec)


def _parse_auth(
    ctx: Context, item: Item, path: str, default_method: str | None
) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    given = item.value.get("method")
    method = default_method if given is None else given.value
    if not isinstance(method, str):
        method = None
    if method not in AUTH_FIELDS:
        everything = {name for names in AUTH_FIELDS.values() for name in names}
        f = Fields(ctx, item, path, ("method", *sorted(everything)))
        f.text("method", required=True, choices=AUTH_FIELDS)
        return None
    f = Fields(ctx, item, path, ("method", *AUTH_FIELDS[method]))
    creds: dict[str, Any] = {}
    config: dict[str, Any] = {}
    needed = {"api_key", "access_key_id", "secret_access_key", "token_url", "client_id"}
    needed.add("client_secret")
    for key in AUTH_FIELDS[method]:
        if key == "headers":
            creds["headers"] = _parse_headers(f)
            continue
        value = f.text(key, required=key in needed)
        if value is None:
            continue
        if key == "region" and not catalog.AWS_REGION_RE.match(value):
            f.error(key, "is not an AWS region name (like us-east-1)")
        elif key == "token_url" and not catalog.is_http_url(value):
            f.error(key, "must be an http:// or https:// URL")
        elif key == "header" and (problem := catalog.header_name_problem(value)):
            f.error(key, problem)
        target = config if key in ("region", *AUTH_CONFIG_KEYS.values()) else creds
        target[_config_key(key)] = value
    return method, creds, config


def _config_key(auth_key: str) -> str:
    return {v: k for k, v in AUTH_CONFIG_KEYS.items()}.get(auth_key, auth_key)


def _parse_headers(f: Fields) -> dict[str, str]:
    item = f.mapping("headers")
    if item is None or not item.value:
        f.error("headers", "must name at least one header")
        return {}
    headers: dict[str, str] = {}
    for name, value in item.value.items():
        path, line = f"{f.sub('headers')}.{name}", item.key_lines[name]
        problem = catalog.header_name_problem(name)
        if problem:
            f.ctx.error(line, path, problem)
        elif isinstance(value.value, dict | list) or value.value is None:
            f.ctx.error(line, path, f"must be a string, not {kind_of(value.value)}")
        else:
            headers[name] = value.value if isinstance(value.value, str) else value.text
    return headers


def _parse_config(ctx: Context, item: Item, path: str) -> dict[str, Any]:
    f = Fields(ctx, item, path, item.value)  # vendor settings: an open map
    config: dict[str, Any] = plain(ctx, item, path)
    for key in config:
        if key in SECRET_KEYS:
            f.error(key, "credentials belong under auth")
        elif key in AUTH_CONFIG_KEYS:
            f.error(key, f"set it under auth (as {AUTH_CONFIG_KEYS[key]})")
    base_url = f.text("base_url")
    if base_url and not catalog.is_http_url(base_url.strip()):
        f.error("base_url", "must be an http:// or https:// URL with a host")
    region = f.text("region")
    if region and not catalog.AWS_REGION_RE.match(region):
        f.error("region", "is not an AWS region name (like us-east-1)")
    for key in ("deployments", "extra_headers"):
        mapping = f.mapping(key)
        for name, value in mapping.value.items() if mapping else ():
            line = mapping.key_lines[name] if mapping else 0
            problem = (
                catalog.header_name_problem(name) if key == "extra_headers" else ""
            )
            if problem:
                ctx.error(line, f"{path}.{key}.{name}", problem)
            elif not isinstance(value.value, str):
                ctx.error(line, f"{path}.{key}.{name}", "must be a string")
    return config


def _parse_model(ctx: Context, item: Item, path: str, provider: ProviderSpec) -> None:
    f = Fields(ctx, item, path, MODEL_FIELDS)
    model_id = f.text("model_id", required=True, max_length=255)
    values: dict[str, Any] = {
        "name": f.text("name", max_length=200),
        "alias": f.text("alias", max_length=255),
        "model_type": f.text("type", choices=AIModel.ModelType.values),
        "status": f.text("status", choices=AIModel.Status.values),
        "instance_wide": f.flag("instance_wide"),
        "context_window": f.integer("context_window", minimum=1),
        "requests_per_minute": f.integer("requests_per_minute", minimum=1),
    }
    for key in ("input_cost_per_million", "output_cost_per_million"):
        cost = f.number(key)
        if cost is not None and (cost >= _MAX_COST or cost != cost.quantize(_CENT)):
            f.error(key, "must be below 1000000 with at most 6 decimals")
            cost = None
        values[key] = cost
    # A price in the file is the operator's, as one an admin enters: the catalog
    # never overwrites it (0 included: a free model is priced, not unpriced).
    given = values["input_cost_per_million"] is not None or (
        values["output_cost_per_million"] is not None
    )
    values["price_source"] = AIModel.PriceSource.MANUAL if given else None
    config_item = f.mapping("config")
    config = plain(ctx, config_item, f.sub("config")) if config_item else None
    if model_id is None:
        return
    if model_id in provider.models:
        f.error("model_id", f"is listed twice for provider {provider.name}")
        return
    provider.models[model_id] = ModelSpec(model_id, values, config)


def resolve_providers(ctx: Context, plan: Plan) -> None:
    for spec in plan.providers.values():
        if not org_exists(plan, spec.organization):
            ctx.error(
                spec.lines["organization"],
                f"{spec.path}.organization",
                f"unknown organization {spec.organization!r}",
            )
            continue
        stored = Provider.objects.filter(
            organization__slug=spec.organization, name=spec.name
        ).first()
        creds, creds_ok = reveal(stored, "credentials")
        config, config_ok = reveal(stored, "provider_config")
        if spec.auth is None and not (creds_ok and config_ok):
            ctx.error(
                spec.line,
                f"{spec.path}.auth",
                "the stored credentials do not decrypt with the configured keys; "
                "give auth in the file",
            )
        if spec.config is not None:
            general = dict(spec.config)
        else:
            general = {k: v for k, v in config.items() if k not in AUTH_CONFIG_KEYS}
        if spec.auth is not None:
            method, creds, auth_config = spec.auth
        else:
            method = stored.auth_method if stored else ""
            auth_config = {k: v for k, v in config.items() if k in AUTH_CONFIG_KEYS}
        spec.final_credentials, spec.final_config = creds, {**general, **auth_config}
        spec.values["auth_method"] = method
        if spec.values["provider_type"] is None:
            continue
        endpoint = spec.values["endpoint"]
        if endpoint is None:
            endpoint = stored.endpoint if stored else ""
        if stored is not None and spec.auth is None and creds:
            _refuse_kept_credentials_for_new_destination(
                ctx, spec, stored, config, endpoint
            )
        problems = catalog.validate(
            spec.values["provider_type"],
            method or catalog.default_auth_method(spec.values["provider_type"]),
            endpoint,
            spec.final_config,
            spec.final_credentials,
        )
        found: list[Problem] = []
        for catalog_field, messages in problems.items():
            where = CATALOG_FIELDS.get(catalog_field, ("type",))
            if ctx.has_problem_under(f"{spec.path}.{w}" for w in where):
                continue  # already reported, with a better line
            at = next((w for w in where if w in spec.lines), where[0])
            line = spec.lines.get(at, spec.line)
            found += [Problem(line, f"{spec.path}.{at}", m) for m in messages]
        ctx.problems += found
        _check_timeouts(ctx, spec, stored)


def _refuse_kept_credentials_for_new_destination(
    ctx: Context,
    spec: ProviderSpec,
    stored: Provider,
    stored_config: dict[str, Any],
    endpoint: str,
) -> None:
    """Stored credentials only go where they were entered for (as in the admin)."""
    before = catalog.destinations(stored.provider_type, stored.endpoint, stored_config)
    after = catalog.destinations(
        spec.values["provider_type"], endpoint, spec.final_config
    )
    changed = catalog.changed_destinations(before, after)
    if changed:
        ctx.error(
            spec.line,
            f"{spec.path}.auth",
            f"the {', '.join(changed)} changed: give auth in the file, so the "
            "stored credentials are not sent to the new destination",
        )


def _check_timeouts(ctx: Context, spec: ProviderSpec, stored: Provider | None) -> None:
    def final(name: str) -> float:
        given = spec.values[name]
        if given is not None:
            return float(given)
        # The timeouts are plain model fields, not relations.
        default = cast("Field[Any, Any]", Provider._meta.get_field(name)).default
        return float(getattr(stored, name) if stored else default)

    if final("timeout_first_byte") > final("timeout_total"):
        line = spec.lines.get("timeout_first_byte", spec.line)
        ctx.error(
            line, f"{spec.path}.timeout_first_byte", "must not exceed timeout_total"
        )


def apply_providers(plan: Plan, report: Report) -> None:
    for spec in plan.providers.values():
        org = Organization.objects.get(slug=spec.organization)
        provider = Provider.objects.filter(organization=org, name=spec.name).first()
        created = provider is None
        provider = provider or Provider(organization=org, name=spec.name)
        changed = assign(provider, spec.values)
        changed += seal(provider, "credentials", spec.final_credentials)
        changed += seal(provider, "provider_config", spec.final_config)
        save(report, "providers", provider, created, changed)
        for mspec in spec.models.values():
            row = AIModel.objects.filter(
                provider=provider, model_id=mspec.model_id
            ).first()
            created = row is None
            row = row or AIModel(
                provider=provider, organization=org, model_id=mspec.model_id
            )
            changed = assign(row, mspec.values)
            if mspec.config is not None:
                changed += seal(row, "model_config", mspec.config)
            save(report, "models", row, created, changed)
