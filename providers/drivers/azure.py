"""Azure OpenAI (PROTOCOLS.md section 4): the OpenAI driver with Azure's URLs.

``provider_config``: ``api_surface`` ``"classic"`` (default: deployment in the
path, dated ``api_version``, default ``2024-10-21``) or ``"v1"`` (``/openai/v1``,
body ``model`` = deployment); ``deployments`` maps gateway model ids to
deployment names (default: the model id is the deployment name). Auth defaults
to the ``api-key`` header (catalog). Stream quirks (the prompt-filter-only first
chunk, trailing choices without ``delta``) are absorbed by the shared
``OpenAIStreamTranslator``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from providers.drivers.config import DriverConfig, ModelInfo
from providers.drivers.errors import DriverError
from providers.drivers.openai import (
    OpenAIDriver,
    build_chat_body,
    build_embeddings_body,
    classify_model,
    is_reasoning_model,
    openai_error,
    use_max_completion_tokens,
)

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


def build_azure_embeddings_body(
    cfg: DriverConfig, request: Mapping[str, Any], model_id: str
) -> dict[str, Any]:
    body = build_embeddings_body(cfg, request, model_id)
    if api_surface(cfg) == "v1":
        body["model"] = deployment_for(cfg, model_id)
    else:
        body.pop("model", None)
    return body


def azure_error(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    vendor: str = "Azure OpenAI",
    cfg: DriverConfig | None = None,
) -> DriverError:
    """Azure's variant of the envelope: content filter, missing deployment/route."""
    err = openai_error(status, body, headers, vendor, cfg)
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        data = {}
    upstream = data.get("error") if isinstance(data, dict) else None
    upstream = upstream if isinstance(upstream, dict) else {}
    code = str(upstream.get("code") or "")
    inner = upstream.get("innererror") or {}
    inner_code = str(inner.get("code") or "") if isinstance(inner, dict) else ""
    if status == 400 and (
        code == "content_filter" or inner_code == "ResponsibleAIPolicyViolation"
    ):
        err.code = "content_filter"
        err.param = upstream.get("param") or "prompt"
    elif status == 404 and code != "DeploymentNotFound":
        # No such route: the endpoint or the api-version is wrong (configuration).
        err = DriverError(
            err.message + " (check the endpoint and api_version)",
            code="provider_misconfigured",
        )
    return err


def parse_deployments(data: Any) -> list[ModelInfo]:
    """``GET /openai/deployments`` → one ModelInfo per usable deployment."""
    rows = data.get("data") if isinstance(data, dict) else None
    models = []
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, dict) or not row.get("id"):
            continue
        if row.get("status") not in (None, "succeeded"):
            continue
        base_model = str(row.get("model") or "")
        models.append(
            ModelInfo(
                model_id=str(row["id"]),
                name=base_model,
                model_type=classify_model(base_model or str(row["id"])),
            )
        )
    return models


class AzureOpenAIDriver(OpenAIDriver):
    vendor = "Azure OpenAI"

    def chat_url(self, model_id: str) -> str:
        return chat_url(self.config, model_id)

    def embeddings_url(self, model_id: str) -> str:
        return embeddings_url(self.config, model_id)

    def models_url(self) -> str:
        return deployments_url(self.config)

    def chat_body(
        self, request: dict[str, Any], model_id: str, stream: bool
    ) -> dict[str, Any]:
        return build_azure_chat_body(self.config, request, model_id, stream)

    def embeddings_body(self, request: dict[str, Any], model_id: str) -> dict:
        return build_azure_embeddings_body(self.config, request, model_id)

    def parse_models(self, data: Any) -> list[ModelInfo]:
        return parse_deployments(data)

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> DriverError:
        return azure_error(status, body, headers, self.vendor, self.config)
