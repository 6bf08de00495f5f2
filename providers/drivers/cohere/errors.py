"""Cohere error answers → ``DriverError``.

Its own API (rerank, models) answers ``{"id", "message"}``, the Compatibility
API OpenAI's envelope; ``openai_error`` reads both (the message, then the one
status mapping). Credentials are scrubbed at the driver boundary.
"""

from __future__ import annotations

from collections.abc import Mapping

from providers.drivers.errors import DriverError
from providers.drivers.openai.errors import openai_error

VENDOR = "Cohere"


def cohere_error(status: int, body: bytes, headers: Mapping[str, str]) -> DriverError:
    return openai_error(status, body, headers, VENDOR)
