"""What a driver is given: one provider's settings, decrypted, ORM-free.

``DriverConfig`` carries the base URL, auth method, decrypted credentials,
provider config and ``Timeouts``; ``ModelInfo`` is a model as discovery reports
it; ``UpstreamRequest`` is one fully built (and signed) vendor request. Pure data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect, to wait for the first byte (and each gap), and in all."""

    connect: float = 5.0
    first_byte: float = 60.0
    total: float = 600.0

    def httpx(self) -> httpx.Timeout:
        # Read timeout bounds the wait for the first byte and every gap after it;
        # the gateway bounds the whole call with ``total``.
        return httpx.Timeout(
            connect=self.connect,
            read=self.first_byte,
            write=self.first_byte,
            pool=self.connect,
        )


@dataclass(frozen=True)
class DriverConfig:
    """Everything a driver needs about one provider, decrypted, ORM-free."""

    provider_type: str
    base_url: str
    auth_method: str
    credentials: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    timeouts: Timeouts = field(default_factory=Timeouts)
    name: str = ""

    def __repr__(self) -> str:  # never print credentials
        return (
            f"DriverConfig(type={self.provider_type!r}, name={self.name!r}, "
            f"base_url={self.base_url!r}, auth={self.auth_method!r})"
        )


@dataclass(frozen=True)
class ModelInfo:
    """A model as the vendor lists it (discovery)."""

    model_id: str
    name: str = ""
    model_type: str = "inference"  # inference | embedding | rerank
    context_window: int | None = None


@dataclass
class UpstreamRequest:
    """One HTTP request to the vendor, fully built (and signed, when needed)."""

    method: str
    url: str
    headers: dict[str, str]
    json: Any = None
    content: bytes | None = None

    def body_bytes(self) -> bytes:
        if self.content is not None:
            return self.content
        if self.json is None:
            return b""
        return orjson.dumps(self.json)
