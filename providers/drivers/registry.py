"""The provider types: every vendor package's declaration, collected.

``PACKAGES`` names the vendor declaration modules under ``providers/drivers/``
in the order their types are offered (the model field's choices). Each vendor
package's ``__init__.py`` (and ``openai/presets.py``) declares ``VENDORS``
(``vendor.VendorSpec``) and imports nothing else; the driver class is imported
on first use. Adding a vendor is adding a package and its name here.

Public surface: ``vendor_specs()`` (type → spec, in order), ``vendor_spec(type)``
and ``driver_class(type)``.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

from providers.drivers.vendor import VendorSpec

if TYPE_CHECKING:
    from providers.drivers.base import Driver

PACKAGES = (
    "openai",
    "azure",
    "anthropic",
    "bedrock",
    "ollama",
    "gemini",
    "cohere",
    "openai.presets",
)


@cache
def vendor_specs() -> dict[str, VendorSpec]:
    """Every provider type's spec, keyed by type, in the order of ``PACKAGES``."""
    specs: dict[str, VendorSpec] = {}
    for package in PACKAGES:
        for spec in import_module(f"providers.drivers.{package}").VENDORS:
            if spec.provider_type in specs:
                raise ValueError(f"Provider type {spec.provider_type!r} twice.")
            specs[spec.provider_type] = spec
    return specs


def vendor_spec(provider_type: str) -> VendorSpec | None:
    return vendor_specs().get(provider_type)


@cache
def driver_class(provider_type: str) -> type[Driver]:
    """The driver class serving ``provider_type``; LookupError when none does."""
    spec = vendor_spec(provider_type)
    if spec is None:
        raise LookupError(f"No driver for provider type {provider_type!r}.")
    module, _, name = spec.driver.rpartition(".")
    return getattr(import_module(module), name)  # type: ignore[no-any-return]  # the vendor spec names a Driver subclass
