"""Vendor declarations (drivers/registry.py): every vendor a package alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from providers import catalog
from providers.drivers.base import Driver
from providers.drivers.errors import DriverError, TransientDriverError
from providers.drivers.registry import PACKAGES, driver_class, vendor_specs
from providers.health import health_of
from providers.models import Provider

DRIVERS = Path(__file__).resolve().parents[3] / "providers" / "drivers"
VENDOR_PACKAGES = sorted(p.split(".")[0] for p in PACKAGES if "." not in p)


@pytest.mark.parametrize("package", VENDOR_PACKAGES)
def test_every_vendor_package_has_the_same_files(package: str) -> None:
    files = {p.name for p in (DRIVERS / package).glob("*.py")}
    assert {"__init__.py", "translate.py", "response.py", "errors.py"} <= files
    assert {"driver.py", "discovery.py"} <= files


@pytest.mark.parametrize("provider_type", list(vendor_specs()))
def test_every_declared_type_has_a_driver_and_is_offered(provider_type: str) -> None:
    assert issubclass(driver_class(provider_type), Driver)
    assert provider_type in dict(catalog.TYPE_CHOICES)
    assert catalog.TYPES[provider_type].default_auth


def test_vendor_settings_are_validated_from_the_declaration() -> None:
    problems = catalog.validate("bedrock", "bearer", "", {}, {"api_key": "k"})
    assert (
        "Bedrock needs a region (provider config 'region')."
        in (problems["provider_config"])
    )
    assert problems["auth_method"] == ["Bedrock providers authenticate with AWS SigV4."]
    bad = catalog.validate("azure_openai", "api_key", "https://a.test", {
        "deployments": {"gpt": 1}
    }, {"api_key": "k"})  # fmt: skip
    assert bad == {
        "provider_config": [
            "Azure 'deployments' must map model names to deployment names."
        ]
    }


@pytest.mark.parametrize(
    ("error", "health"),
    [
        (DriverError("x", code="provider_misconfigured"), Provider.Health.FAILED),
        (TransientDriverError("x", code="upstream_blocked"), Provider.Health.FAILED),
        (DriverError("x", code="upstream_auth_error"), Provider.Health.UNAVAILABLE),
        (TransientDriverError("x", status=503), Provider.Health.UNAVAILABLE),
        (DriverError("x", status=400, code=None), Provider.Health.UNAVAILABLE),
    ],
)
def test_health_is_decided_from_the_error_alone(
    error: DriverError, health: str
) -> None:
    assert health_of(error) == health


def test_no_driver_module_needs_another_imported_first() -> None:
    modules = sorted(
        ".".join(p.relative_to(DRIVERS.parents[1]).with_suffix("").parts).removesuffix(
            ".__init__"
        )
        for p in DRIVERS.rglob("*.py")
    )
    script = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('providers')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *modules],
        capture_output=True,
        text=True,
        cwd=DRIVERS.parents[1],
        env={"DEBUG": "true", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
