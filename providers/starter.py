"""The starter provider: an organization's use of the platform's own OpenAI key.

The operator sets ``STARTER_OPENAI_API_KEY`` (with ``STARTER_OPENAI_BASE_URL``
and ``STARTER_MODEL``). A provider with ``starter`` set stores no credential and
no endpoint of its own: ``Provider.driver_config`` takes both from the settings
at call time (``starter_driver_settings``), so the key is never stored where the
organization could read it, rotating it reaches every organization, and no edit
of the provider can send the key elsewhere. Unset, a starter provider cannot be
called: ``PlatformKeyMissing`` makes its health ``failed`` with that message and
its calls a ``provider_misconfigured`` error.
"""

from __future__ import annotations

from django.conf import settings

from providers.crypto import CryptoError

NAME = "starter"
PROVIDER_TYPE = "openai"
AUTH_METHOD = "bearer"
NOT_CONFIGURED = (
    "The platform key for the starter model is not configured "
    "(STARTER_OPENAI_API_KEY); ask the operator."
)


class PlatformKeyMissing(CryptoError):
    """The starter provider's key is not configured on this platform.

    A ``CryptoError`` because it is one more reason the provider's secret cannot
    be had: every place that handles an undecryptable credential (routing,
    health, discovery) handles this one the same way, with this message.
    """

    def __init__(self) -> None:
        super().__init__(NOT_CONFIGURED)


def configured() -> bool:
    """Whether the operator has set a platform key for the starter model."""
    return bool(settings.STARTER_OPENAI_API_KEY)


def model_id() -> str:
    return str(settings.STARTER_MODEL)


def starter_driver_settings() -> tuple[str, dict[str, str]]:
    """(base URL, credentials) of the starter provider now; raises when unset."""
    key = str(settings.STARTER_OPENAI_API_KEY)
    if not key:
        raise PlatformKeyMissing()
    return str(settings.STARTER_OPENAI_BASE_URL).rstrip("/"), {"api_key": key}
