"""Where Bedrock runtime requests go and how they are signed (SigV4 via botocore).

The region comes from the provider config or the endpoint host; model ids travel
as one path segment, spelled so both transports send what was signed.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlsplit

from providers.drivers.config import DriverConfig, UpstreamRequest
from providers.drivers.errors import DriverError

SERVICE = "bedrock"


JSON = "application/json"


EVENT_STREAM = "application/vnd.amazon.eventstream"


_REGION_HOST_RE = re.compile(r"^bedrock(?:-runtime)?(?:-fips)?\.([a-z0-9-]+)\.")


def region_of(cfg: DriverConfig) -> str:
    """The provider's AWS region: config ``region``, else parsed from the base URL."""
    region = str(cfg.config.get("region") or "").strip()
    if region:
        return region
    match = _REGION_HOST_RE.match(urlsplit(cfg.base_url).hostname or "")
    if match:
        return match.group(1)
    raise DriverError(
        "Bedrock needs a region (provider config 'region').",
        status=502,
        code="provider_misconfigured",
    )


def model_url(cfg: DriverConfig, model_id: str, action: str) -> str:
    """``{base}/model/{modelId}/{action}`` with the id as one path segment.

    ``/`` (ARNs) is sent as ``%2F``; ``:`` stays literal. The signature covers the
    path exactly as it travels, and the aiohttp transport (yarl) rewrites ``%3A``
    to ``:`` before sending, so ``:`` is the only spelling that both transports
    put on the wire unchanged (AWS canonicalises either form to ``%3A``).
    """
    base = cfg.base_url.rstrip("/")
    return f"{base}/model/{quote(model_id, safe=':')}/{action}"


def sign_request(
    cfg: DriverConfig, method: str, url: str, body: bytes, accept: str = JSON
) -> UpstreamRequest:
    """A SigV4-signed request (botocore), ready to send exactly as built."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = cfg.credentials
    access_key = str(creds.get("access_key_id") or "")
    secret = str(creds.get("secret_access_key") or "")
    if not access_key or not secret:
        raise DriverError(
            "Bedrock provider has no AWS access key id / secret access key.",
            status=502,
            code="provider_misconfigured",
        )
    token = str(creds.get("session_token") or "") or None
    headers = {"Content-Type": JSON, "Accept": accept}
    aws_request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(access_key, secret, token), SERVICE, region_of(cfg)).add_auth(
        aws_request
    )
    signed = {str(k): str(v) for k, v in aws_request.headers.items()}
    return UpstreamRequest(method, url, signed, content=body)


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
