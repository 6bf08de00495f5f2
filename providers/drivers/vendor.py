"""What a vendor package declares: ``VendorSpec`` and the auth methods.

Each vendor package's ``__init__.py`` lists ``VENDORS``: one ``VendorSpec`` per
provider type it serves. The spec names the driver class by dotted path
(imported on first use), the default endpoint and auth method, the ``api_key``
method's default header, and the provider config the vendor requires
(``required_config``), the one auth method it accepts (``only_auth``) or other
rules (``check``), and what the provider form shows for it (``help``,
``settings``, ``placeholders``). ``providers/drivers/registry.py`` collects the
specs; the provider catalog, forms, bootstrap and auth headers read them there.
Pure data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class AuthMethod:
    BEARER = "bearer"
    X_API_KEY = "x_api_key"
    API_KEY = "api_key"
    CUSTOM_HEADERS = "custom_headers"
    AWS_SIGV4 = "aws_sigv4"
    OAUTH2 = "oauth2"
    NONE = "none"


AUTH_METHOD_CHOICES = [
    (AuthMethod.BEARER, "Bearer token (Authorization: Bearer …)"),
    (AuthMethod.X_API_KEY, "x-api-key header"),
    (AuthMethod.API_KEY, "API key in a named header"),
    (AuthMethod.CUSTOM_HEADERS, "Custom headers"),
    (AuthMethod.AWS_SIGV4, "AWS Signature V4"),
    (AuthMethod.OAUTH2, "OAuth2 client credentials"),
    (AuthMethod.NONE, "No authentication"),
]

#: The protocols an OpenAI-type provider may be called with (provider config
#: ``wire_api``, the first the default), for types whose ``settings`` have it.
WIRE_APIS = ("chat_completions", "responses")

#: The rerank dialects an OpenAI-type provider may speak (provider config
#: ``rerank_api``; each type's spec names its default): ``jina`` (vLLM, Jina,
#: Together and other Cohere-v1-style servers: ``POST {base}/rerank``), ``tei``
#: (Hugging Face text-embeddings-inference: ``POST /rerank`` at the server's
#: root) and ``voyage`` (``POST {base}/rerank`` with ``top_k``, answers in
#: ``data``). The Cohere type has its own (``drivers/cohere/``).
RERANK_APIS = ("jina", "tei", "voyage")

#: ``check(config)`` → the problems with a vendor's provider config (messages).
ConfigCheck = Callable[[Mapping[str, Any]], list[str]]


@dataclass(frozen=True)
class VendorSpec:
    """One provider type as its vendor package declares it."""

    provider_type: str
    label: str
    #: Dotted path of the ``Driver`` subclass serving this type.
    driver: str
    #: May contain ``{region}``, filled from provider config ``region``.
    default_endpoint: str
    default_auth: str
    #: The auth method the provider form preselects, when not ``default_auth``:
    #: ``none`` for servers whose key is optional. Stored rows with a blank auth
    #: method keep meaning ``default_auth``.
    form_auth: str = ""
    #: Whether the driver speaks the OpenAI protocol (presets and compatibles).
    openai_family: bool = False
    endpoint_required: bool = False
    #: The ``api_key`` auth method's default (header name, value prefix).
    api_key_header: tuple[str, str] = ("", "")
    #: Provider config keys that must be set: ``{key: message when missing}``.
    required_config: Mapping[str, str] = field(default_factory=dict)
    #: The one auth method this type accepts, and the message when another is set.
    only_auth: tuple[str, str] | None = None
    check: ConfigCheck | None = None
    #: What the vendor expects, in a sentence or two (the form's help for the type).
    help: str = ""
    #: The vendor settings the form shows for this type (beyond its auth method's),
    #: named like the provider form's fields: ``region``, ``api_version``, ...
    settings: tuple[str, ...] = ()
    #: Form field → placeholder (the vendor's default or an example value).
    placeholders: Mapping[str, str] = field(default_factory=dict)
    #: The rerank dialect when provider config ``rerank_api`` is unset (types
    #: whose ``settings`` have ``rerank_api``; ``RERANK_APIS``).
    rerank_api: str = ""
