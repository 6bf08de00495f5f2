"""Drivers: the contract, the shared machinery and one package per vendor.

Shared modules, one concern each: ``config`` (DriverConfig, Timeouts),
``errors`` (DriverError, TransientDriverError, the one status mapping),
``boundary`` and ``scrub`` (the one credential scrub every error leaves
through), ``auth`` (auth headers, OAuth2 token cache), ``images`` (data URLs,
guarded remote fetch), ``canonical`` (response and chunk builders), ``stream``
(the one stream loop), ``passthrough`` (Anthropic Messages bodies as sent:
raw answers, events, usage), ``structured`` (JSON modes and forced tool choice
emulated for vendors or models without them: a canonical → canonical rewrite of
the request and back of the answer; a driver declares ``native_output``),
``base`` (the Driver class), ``vendor`` and ``registry``
(what each vendor package declares, collected). Vendor packages (``openai``,
``azure``, ``anthropic``, ``bedrock``, ``ollama``, ``gemini``) all have
``translate``, ``response``, ``errors``, ``driver`` and ``discovery``, and
declare their provider types in ``__init__.py``; the OpenAI-compatible presets
are declared in ``openai/presets.py`` on the OpenAI driver, and ``cohere``
(its Compatibility API) subclasses it. ``rerank`` holds the canonical rerank
shapes.

Public surface: ``get_driver(config, client)`` returns the driver instance for a
``DriverConfig``; ``driver_class(provider_type)`` the class; the error types and
the canonical id and timestamp helpers the gateway uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.drivers.canonical import new_completion_id, now
from providers.drivers.errors import DriverError, TransientDriverError
from providers.drivers.registry import driver_class

if TYPE_CHECKING:
    import httpx

    from providers.drivers.base import Driver
    from providers.drivers.config import DriverConfig

__all__ = [
    "DriverError",
    "TransientDriverError",
    "driver_class",
    "get_driver",
    "new_completion_id",
    "now",
]


def get_driver(config: DriverConfig, client: httpx.AsyncClient) -> Driver:
    return driver_class(config.provider_type)(config, client)
