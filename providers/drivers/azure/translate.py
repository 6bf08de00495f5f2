"""Azure OpenAI request translation (pure): URLs, api-version, deployments, body.

``provider_config``: ``api_surface`` ``"classic"`` (default: deployment in the
path, dated ``api_version``, default ``2024-10-21``) or ``"v1"`` (``/openai/v1``,
body ``model`` = deployment); ``deployments`` maps gateway model ids to
deployment names (default: the model id is the deployment name). Auth defaults
to the ``api-key`` header (catalog). Stream quirks (the prompt-filter-only first
chunk, trailing choices without ``delta``) are absorbed by the shared
``OpenAIStreamTranslator``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError
from providers.drivers.openai.translate import (
    ask_stream_usage,
    build_chat_body,
    build_embeddings_body,
    is_reasoning_model,
    use_max_completion_tokens,
)
from providers.drivers.passthrough import raw_body

DEFAULT_API_VERSION = "2024-10-21"
# The deployments listing was removed from newer data-plane versions.
DEPLOYMENTS_API_VERSION = "2023-03-15-preview"
# The first classic api-version that accepts the ``developer`` role.
DEVELOPER_ROLE_SINCE = "2024-12-01"
SURFACES = ("classic", "v1")


def azure_endpoint(base_url: str) -> str:
    """The resource endpoint, tolerating a pasted ``/openai`` or ``/openai/v1``."""
    endpoint = base_url.rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        if endpoint.endswith(suffix):
            endpoint = endpoint[: -len(suffix)]
    return endpoint


def api_surface(cfg: DriverConfig) -> str:
    surface = str(cfg.config.get("api_surface") or "classic")
    if surface not in SURFACES:
        raise DriverError(
            f"Azure api_surface must be 'classic' or 'v1', not {surface!r}.",
            status=502,
            code="provider_misconfigured",
        )
    return surface


def api_version(cfg: DriverConfig) -> str:
    return str(cfg.config.get("api_version") or DEFAULT_API_VERSION)


def deployment_for(cfg: DriverConfig, model_id: str) -> str:
    deployments = cfg.config.get("deployments") or {}
    return str(deployments.get(model_id, model_id))


def _url(cfg: DriverConfig, model_id: str, operation: str) -> str:
    endpoint = azure_endpoint(cfg.base_url)
    if api_surface(cfg) == "v1":
        return f"{endpoint}/openai/v1/{operation}"
    deployment = quote(deployment_for(cfg, model_id), safe="")
    version = quote(api_version(cfg), safe="")
    return (
        f"{endpoint}/openai/deployments/{deployment}/{operation}?api-version={version}"
    )


def chat_url(cfg: DriverConfig, model_id: str) -> str:
    return _url(cfg, model_id, "chat/completions")


def embeddings_url(cfg: DriverConfig, model_id: str) -> str:
    return _url(cfg, model_id, "embeddings")


def completions_url(cfg: DriverConfig, model_id: str) -> str:
    return _url(cfg, model_id, "completions")


def responses_url(cfg: DriverConfig) -> str:
    """The Responses API lives on the v1 surface only (deployment in ``model``)."""
    return f"{azure_endpoint(cfg.base_url)}/openai/v1/responses"


def deployments_url(cfg: DriverConfig) -> str:
    version = cfg.config.get("deployments_api_version") or DEPLOYMENTS_API_VERSION
    return f"{azure_endpoint(cfg.base_url)}/openai/deployments?api-version={version}"


def accepts_developer_role(cfg: DriverConfig) -> bool:
    """v1 does; classic versions do from the 2024-12-01 preview on."""
    if api_surface(cfg) == "v1":
        return True
    version = api_version(cfg)
    return len(version) >= 10 and version[:10] >= DEVELOPER_ROLE_SINCE


def build_azure_chat_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str, stream: bool
) -> dict[str, Any]:
    body = build_chat_body(cfg, request, model_id, stream)
    deployment = deployment_for(cfg, model_id)
    if is_reasoning_model(deployment):
        use_max_completion_tokens(body)
    if api_surface(cfg) == "v1":
        body["model"] = deployment
    else:
        body.pop("model", None)
    if not accepts_developer_role(cfg) and isinstance(body.get("messages"), list):
        body["messages"] = [
            {**m, "role": "system"}
            if isinstance(m, dict) and m.get("role") == "developer"
            else m
            for m in body["messages"]
        ]
    return body


def build_azure_completions_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str, stream: bool
) -> dict[str, Any]:
    """A legacy Completions body as sent, for the deployment.

    Only the v1 surface takes ``stream_options`` on completions (the classic
    surface's completions request has no such field): there the gateway asks
    for the usage chunk, on classic it sends the caller's body as is and a
    stream without usage is estimated.
    """
    body = raw_body(request, model_id, stream)
    if api_surface(cfg) == "v1":
        body["model"] = deployment_for(cfg, model_id)
        if stream:
            ask_stream_usage(cfg, body, body.pop("stream_options", None))
    else:
        body.pop("model", None)
    return body


def build_azure_embeddings_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str
) -> dict[str, Any]:
    body = build_embeddings_body(cfg, request, model_id)
    if api_surface(cfg) == "v1":
        body["model"] = deployment_for(cfg, model_id)
    else:
        body.pop("model", None)
    return body
