"""Provider types and auth methods: their defaults and the rules that validate them.

The types, their defaults and vendor-specific settings are declared by the
vendor packages (``providers/drivers/<vendor>/__init__.py``, collected by
``drivers/registry.py``); this module applies the rules every type shares. Pure
data and pure functions (no ORM), used by the Provider model, the admin form,
the bootstrap command and the drivers, so every surface applies the same rules.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from providers.drivers.registry import vendor_specs
from providers.drivers.vendor import (
    AUTH_METHOD_CHOICES,
    RERANK_APIS,
    WIRE_APIS,
    AuthMethod,
    VendorSpec,
)

__all__ = ["AUTH_METHOD_CHOICES", "TYPES", "AuthMethod", "ProviderType", "validate"]


class ProviderType:
    OPENAI = "openai"
    AZURE_OPENAI = "azure_openai"
    ANTHROPIC = "anthropic"
    BEDROCK = "bedrock"
    OLLAMA = "ollama"
    GEMINI = "gemini"
    COHERE = "cohere"
    OPENAI_COMPATIBLE = "openai_compatible"
    OPENROUTER = "openrouter"
    GROQ = "groq"
    TOGETHER = "together"
    FIREWORKS = "fireworks"
    DEEPSEEK = "deepseek"
    MISTRAL = "mistral"
    XAI = "xai"
    VLLM = "vllm"


# Provider types are declared by the vendor packages (providers/drivers/*/).
TypeSpec = VendorSpec
TYPES: dict[str, VendorSpec] = vendor_specs()

TYPE_CHOICES = [(name, spec.label) for name, spec in TYPES.items()]

# Header names a provider's custom headers may never set: they belong to the
# HTTP client, and letting a tenant set them enables request smuggling.
FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "connection", "transfer-encoding"}
)
# \Z, not $: "$" also matches before a trailing newline.
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
AWS_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+\Z")

# Which credential keys each auth method stores (all encrypted, write-only).
CREDENTIAL_KEYS: dict[str, tuple[str, ...]] = {
    AuthMethod.BEARER: ("api_key",),
    AuthMethod.X_API_KEY: ("api_key",),
    AuthMethod.API_KEY: ("api_key",),
    AuthMethod.CUSTOM_HEADERS: ("headers",),
    AuthMethod.AWS_SIGV4: ("access_key_id", "secret_access_key", "session_token"),
    AuthMethod.OAUTH2: ("client_secret",),
    AuthMethod.NONE: (),
}

# Per-type defaults for the ``api_key`` method's header and prefix.
API_KEY_HEADER_DEFAULTS: dict[str, tuple[str, str]] = {
    name: spec.api_key_header for name, spec in TYPES.items() if spec.api_key_header[0]
}


def default_auth_method(provider_type: str) -> str:
    spec = TYPES.get(provider_type)
    return spec.default_auth if spec else AuthMethod.BEARER


def form_auth_method(provider_type: str) -> str:
    """The auth method the form preselects for a new provider of this type."""
    spec = TYPES.get(provider_type)
    return (spec.form_auth or spec.default_auth) if spec else AuthMethod.BEARER


def api_key_header_problem(provider_type: str, config: dict[str, Any]) -> str:
    """Why the ``api_key`` method cannot send the key (its header), or ''."""
    header = (
        config.get("auth_header")
        or API_KEY_HEADER_DEFAULTS.get(provider_type, ("", ""))[0]
    )
    if not header:
        return "The api_key method needs a header name ('auth_header')."
    if (
        not isinstance(header, str)
        or header.lower() in FORBIDDEN_HEADERS
        or not HEADER_NAME_RE.match(header)
    ):
        return f"{header!r} cannot be used as the API key header."
    return ""


def is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def effective_endpoint(
    provider_type: str, endpoint: str, config: dict[str, Any] | None
) -> str:
    """The base URL requests go to: explicit endpoint, config base_url, or default."""
    config = config or {}
    chosen = (endpoint or "").strip() or str(config.get("base_url") or "").strip()
    if not chosen:
        spec = TYPES.get(provider_type)
        chosen = spec.default_endpoint if spec else ""
        if "{region}" in chosen:
            region = str(config.get("region") or "")
            chosen = chosen.format(region=region) if region else ""
    return chosen.rstrip("/")


def validate(
    provider_type: str,
    auth_method: str,
    endpoint: str,
    config: dict[str, Any],
    credentials: dict[str, Any],
) -> dict[str, list[str]]:
    """Every problem with a provider's settings, keyed by field; empty when valid.

    ``credentials`` is the value that will be stored (after merging new input
    with what was kept), so "missing secret" checks see the final state.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    spec = TYPES.get(provider_type)
    if spec is None:
        add("provider_type", f"Unknown provider type {provider_type!r}.")
        return errors
    if auth_method not in CREDENTIAL_KEYS:
        add("auth_method", f"Unknown auth method {auth_method!r}.")
        return errors
    if not isinstance(config, dict):
        add("provider_config", "Provider config must be a JSON object.")
        return errors

    for label, url in (("endpoint", endpoint), ("base_url", config.get("base_url"))):
        if url and not (isinstance(url, str) and is_http_url(url.strip())):
            field = "endpoint" if label == "endpoint" else "provider_config"
            add(field, f"The {label} must be an http:// or https:// URL with a host.")

    region = config.get("region")
    if region is not None and (
        not isinstance(region, str) or not AWS_REGION_RE.match(region)
    ):
        add(
            "provider_config", f"{region!r} is not an AWS region name (like us-east-1)."
        )

    for key, message in spec.required_config.items():
        if not config.get(key):
            add("provider_config", message)
    if (
        spec.endpoint_required
        and not (endpoint or "").strip()
        and not config.get("base_url")
    ):
        add("endpoint", f"{spec.label} needs an endpoint URL.")
    for message in spec.check(config) if spec.check else ():
        add("provider_config", message)
    if spec.only_auth and auth_method != spec.only_auth[0]:
        add("auth_method", spec.only_auth[1])

    if auth_method == AuthMethod.AWS_SIGV4:
        if "region" not in spec.required_config and not region:
            add(
                "provider_config",
                "AWS SigV4 needs a region (provider config 'region').",
            )
        for key, label in (
            ("access_key_id", "an access key id"),
            ("secret_access_key", "a secret access key"),
        ):
            if not credentials.get(key):
                add("credentials", f"AWS SigV4 needs {label}.")

    if auth_method in (
        AuthMethod.BEARER,
        AuthMethod.X_API_KEY,
        AuthMethod.API_KEY,
    ) and not credentials.get("api_key"):
        add("credentials", "This auth method needs an API key.")
    if auth_method == AuthMethod.API_KEY:
        problem = api_key_header_problem(provider_type, config)
        if problem:
            add("provider_config", problem)
    if auth_method == AuthMethod.CUSTOM_HEADERS:
        headers = credentials.get("headers")
        if not isinstance(headers, dict) or not headers:
            add("credentials", "The custom_headers method needs at least one header.")
        else:
            for name in headers:
                errors_for = header_name_problem(str(name))
                if errors_for:
                    add("credentials", errors_for)
    if auth_method == AuthMethod.OAUTH2:
        for key in ("token_url", "client_id"):
            if not config.get(key):
                add("provider_config", f"OAuth2 client credentials need '{key}'.")
        if config.get("token_url") and not is_http_url(str(config["token_url"])):
            add("provider_config", "The OAuth2 token_url must be an http(s) URL.")
        if not credentials.get("client_secret"):
            add("credentials", "OAuth2 client credentials need a client secret.")

    wire_api = config.get("wire_api")
    if wire_api is not None and "wire_api" not in spec.settings:
        add(
            "provider_config",
            f"{spec.label} providers have no 'wire_api': only OpenAI-type "
            "providers can be called through the Responses API.",
        )
    elif wire_api is not None and wire_api not in WIRE_APIS:
        add(
            "provider_config",
            f"{wire_api!r} is not a wire API: use 'chat_completions' or 'responses'.",
        )

    rerank = config.get("rerank_api")
    if rerank not in (None, "") and "rerank_api" not in spec.settings:
        add("provider_config", f"{spec.label} providers have no 'rerank_api'.")
    elif rerank not in (None, "") and rerank not in RERANK_APIS:
        add(
            "provider_config",
            f"{rerank!r} is not a rerank API: use one of {', '.join(RERANK_APIS)}.",
        )

    for name in config.get("extra_headers") or {}:
        problem = header_name_problem(str(name))
        if problem:
            add("provider_config", problem)
    return errors


def header_name_problem(name: str) -> str:
    """Why ``name`` may not be set as a custom header, or '' when it may."""
    if name.strip().lower() in FORBIDDEN_HEADERS:
        return f"Custom headers may not set {name.strip()}."
    if not HEADER_NAME_RE.match(name):
        return f"{name!r} is not a valid HTTP header name."
    return ""


# Provider config keys that say where requests (and so credentials) go.
DESTINATION_CONFIG_KEYS = ("token_url", "control_endpoint", "agent_endpoint")


def destinations(
    provider_type: str, endpoint: str, config: dict[str, Any] | None
) -> dict[str, str]:
    """Where a provider's credentials are sent: base URL, token URL, control endpoint.

    Compared before and after an edit: any change means the credentials must be
    entered again (DESIGN.md, "Changing where credentials go").
    """
    config = config or {}
    found = {"endpoint": effective_endpoint(provider_type, endpoint, config)}
    for key in DESTINATION_CONFIG_KEYS:
        found[key] = str(config.get(key) or "").strip().rstrip("/")
    return found


def changed_destinations(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The destination names whose value differs (``endpoint``, ``token_url``, …)."""
    return [name for name in after if before.get(name, "") != after[name]]


# The provider form's fields that apply only to some auth methods or types.
# Each auth method's fields (its secrets and settings); a type adds its vendor's
# ``settings``. Every other form field applies to every provider.
AUTH_FORM_FIELDS: dict[str, tuple[str, ...]] = {
    AuthMethod.BEARER: ("api_key",),
    AuthMethod.X_API_KEY: ("api_key",),
    AuthMethod.API_KEY: ("api_key", "auth_header", "auth_prefix"),
    AuthMethod.CUSTOM_HEADERS: ("custom_headers",),
    AuthMethod.AWS_SIGV4: (
        "region",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    ),
    AuthMethod.OAUTH2: ("token_url", "client_id", "scope", "client_secret"),
    AuthMethod.NONE: (),
}
CONDITIONAL_FORM_FIELDS: frozenset[str] = frozenset(
    name
    for names in (
        *AUTH_FORM_FIELDS.values(),
        *(spec.settings for spec in TYPES.values()),
    )
    for name in names
)


def auth_methods_for(provider_type: str) -> list[str]:
    """The auth methods a type accepts, the one the form preselects first."""
    spec = TYPES.get(provider_type)
    if spec is not None and spec.only_auth:
        return [spec.only_auth[0]]
    default = form_auth_method(provider_type)
    return [default, *(m for m in CREDENTIAL_KEYS if m != default)]


def form_fields_for(provider_type: str, auth_method: str) -> frozenset[str]:
    """The conditional form fields a type with this auth method uses."""
    spec = TYPES.get(provider_type)
    settings = spec.settings if spec else ()
    return frozenset((*AUTH_FORM_FIELDS.get(auth_method, ()), *settings))


def placeholders_for(provider_type: str) -> dict[str, str]:
    """The type's defaults (or examples) shown as placeholders in the form.

    Only a default the server applies is shown: ``auth_header`` only for
    types that declare one (``API_KEY_HEADER_DEFAULTS``).
    """
    spec = TYPES.get(provider_type)
    if spec is None:
        return {}
    found: dict[str, str] = {}
    if spec.default_endpoint:
        found["endpoint"] = spec.default_endpoint.replace("{region}", "<region>")
    header, prefix = spec.api_key_header
    if header:
        found["auth_header"] = header
    if prefix:
        found["auth_prefix"] = prefix
    found.update(spec.placeholders)
    return found


def form_field_map() -> dict[str, Any]:
    """What the provider form shows per type and auth method (JSON for its script).

    ``types``: per type, its default auth method first in ``auths``, its vendor
    ``settings`` fields, ``placeholders`` and ``help`` (the script selects
    ``auths[0]`` when the type changes); ``auth``: per method, its
    fields; ``conditional``: every field the map shows or hides.
    """
    return {
        "types": {
            name: {
                "auths": auth_methods_for(name),
                "settings": list(spec.settings),
                "placeholders": placeholders_for(name),
                "help": spec.help,
            }
            for name, spec in TYPES.items()
        },
        "auth": {method: list(names) for method, names in AUTH_FORM_FIELDS.items()},
        "conditional": sorted(CONDITIONAL_FORM_FIELDS),
    }
