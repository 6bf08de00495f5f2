"""The control plane: model listing through boto3 (blocking; the driver runs it in
a thread) and the pure reading of what it returns.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from providers.drivers.base import DriverConfig, ModelInfo
from providers.drivers.bedrock.signing import region_of


def parse_models(
    foundation: list[Mapping[str, Any]], profiles: list[Mapping[str, Any]]
) -> list[ModelInfo]:
    """Foundation models (text/embedding, on-demand) plus active inference profiles.

    Models offered only through inference profiles (no ``ON_DEMAND``) cannot be
    invoked by their bare id, so only their profile ids are listed.
    """
    kinds: dict[str, str] = {}
    found: list[ModelInfo] = []
    for summary in foundation:
        outputs = summary.get("outputModalities") or []
        if "EMBEDDING" in outputs:
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


_clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


_clients_lock = threading.Lock()


def control_client(cfg: DriverConfig) -> Any:
    """A cached boto3 ``bedrock`` client with explicit credentials (blocking)."""
    import boto3
    import botocore.session
    from botocore.config import Config

    creds = cfg.credentials
    region = region_of(cfg)
    endpoint = str(cfg.config.get("control_endpoint") or "") or None
    secret_digest = hashlib.sha256(
        f"{creds.get('secret_access_key')}\0{creds.get('session_token')}".encode()
    ).hexdigest()
    key = (
        region,
        endpoint,
        str(creds.get("access_key_id") or ""),
        secret_digest,
        cfg.timeouts.connect,
        cfg.timeouts.first_byte,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            _clients.move_to_end(key)
            return client
    # A private botocore session: no profile, config or credential files from the
    # machine, and no AWS_ENDPOINT_URL* redirection of our signed requests.
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    core.set_config_variable("config_file", "/dev/null")
    core.set_config_variable("credentials_file", "/dev/null")
    session = boto3.session.Session(botocore_session=core)
    client = session.client(
        "bedrock",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=str(creds.get("access_key_id") or ""),
        aws_secret_access_key=str(creds.get("secret_access_key") or ""),
        aws_session_token=str(creds.get("session_token") or "") or None,
        config=Config(
            connect_timeout=cfg.timeouts.connect,
            read_timeout=cfg.timeouts.first_byte,
            retries={"total_max_attempts": 2, "mode": "standard"},
            ignore_configured_endpoint_urls=True,
        ),
    )
    with _clients_lock:
        _clients[key] = client
        while len(_clients) > 32:
            _clients.popitem(last=False)
    return client


def list_foundation_models(cfg: DriverConfig) -> list[dict[str, Any]]:
    response = control_client(cfg).list_foundation_models()
    return list(response.get("modelSummaries") or [])


def list_inference_profiles(cfg: DriverConfig) -> list[dict[str, Any]]:
    client = control_client(cfg)
    profiles: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(100):
        kwargs: dict[str, Any] = {"maxResults": 1000}
        if token:
            kwargs["nextToken"] = token
        response = client.list_inference_profiles(**kwargs)
        profiles.extend(response.get("inferenceProfileSummaries") or [])
        token = response.get("nextToken")
        if not token:
            break
    return profiles
