"""The control plane (model listing, health): where its requests go and the pure
reading of what it returns.

Requests are signed with SigV4 (botocore's signer, no network) and sent by the
driver through the pooled, guarded httpx client, like the runtime's: no boto3
HTTP, so the address guard covers ``control_endpoint`` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from providers.drivers.bedrock.signing import region_of, sign_request
from providers.drivers.config import DriverConfig, ModelInfo, UpstreamRequest


def parse_models(
    foundation: Sequence[Mapping[str, Any]], profiles: Sequence[Mapping[str, Any]]
) -> list[ModelInfo]:
    """Foundation models (text/embedding, on-demand) plus active inference profiles.

    Models offered only through inference profiles (no ``ON_DEMAND``) cannot be
    invoked by their bare id, so only their profile ids are listed.
    """
    kinds: dict[str, str] = {}
    found: list[ModelInfo] = []
    for summary in foundation:
        outputs = summary.get("outputModalities") or []
        if ".rerank-" in str(summary.get("modelId") or ""):
            # amazon.rerank-v1:0, cohere.rerank-v3-5:0: the Rerank API's models.
            kind = "rerank"
        elif "EMBEDDING" in outputs:
            kind = "embedding"
        elif "TEXT" in outputs:
            kind = "inference"
        else:
            continue
        model_id = str(summary.get("modelId") or "")
        kinds[model_id] = kind
        if "ON_DEMAND" not in (summary.get("inferenceTypesSupported") or []):
            continue
        found.append(
            ModelInfo(model_id, str(summary.get("modelName") or model_id), kind)
        )
    for profile in profiles:
        if profile.get("status", "ACTIVE") != "ACTIVE":
            continue
        arns = [str(m.get("modelArn") or "") for m in profile.get("models") or []]
        base_ids = [arn.rsplit("/", 1)[-1] for arn in arns]
        known = [kinds[b] for b in base_ids if b in kinds]
        if not known:
            continue
        profile_id = str(profile.get("inferenceProfileId") or "")
        name = str(profile.get("inferenceProfileName") or profile_id)
        found.append(ModelInfo(profile_id, name, known[0]))
    return found


def control_url(cfg: DriverConfig, path: str, query: Mapping[str, str]) -> str:
    """``{control endpoint}{path}?{query}``, the query spelled as it is signed.

    The endpoint is config ``control_endpoint``, else AWS's ``bedrock.{region}``.
    Only unreserved characters stay literal, so both transports send the query
    exactly as SigV4 canonicalises it.
    """
    base = str(cfg.config.get("control_endpoint") or "").strip().rstrip("/")
    base = base or f"https://bedrock.{region_of(cfg)}.amazonaws.com"
    spelled = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(query.items())
    )
    return f"{base}{path}?{spelled}" if spelled else f"{base}{path}"


def control_request(
    cfg: DriverConfig, path: str, query: Mapping[str, str] | None = None
) -> UpstreamRequest:
    """A SigV4-signed GET to the control plane, sent by the guarded client."""
    return sign_request(cfg, "GET", control_url(cfg, path, query or {}), b"")
