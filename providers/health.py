"""Provider health: a cheap authenticated call, then a conditional status update.

``available``: the call succeeded. ``unavailable``: unreachable, timed out, 5xx,
or credentials refused. ``failed``: our configuration is wrong (missing field,
undecryptable secret, bad or forbidden endpoint). Messages are for humans and
never contain a credential. Transitions are kept as ``HealthEvent`` rows.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from providers import catalog
from providers.crypto import CryptoError
from providers.drivers import driver_class, get_driver
from providers.drivers.config import DriverConfig
from providers.drivers.errors import DriverError, TransientDriverError
from providers.drivers.scrub import scrub, secret_values
from providers.http import build_client
from providers.models import HealthEvent, Provider
from providers.starter import PlatformKeyMissing

Health = Provider.Health


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome; ``transient`` when a later check may see it pass.

    ``code`` is the failure's error code (``upstream_auth_error``,
    ``upstream_unavailable``, ...; empty on success): the form uses it to show
    the reason next to the field it concerns.
    """

    health: str
    message: str
    latency_ms: int | None = None
    transient: bool = False
    code: str = ""

    def raise_if_transient(self) -> None:
        """Raise ``TransientDriverError`` (scrubbed message) when it may pass.

        Celery tasks retry that error type by declaration (``autoretry_for``).
        """
        if self.transient:
            raise TransientDriverError(self.message, code="provider_unavailable")


def scrubbed(message: str, cfg: DriverConfig | None) -> str:
    """``message`` without any credential of ``cfg``: the driver boundary's scrub.

    Errors leaving a driver are scrubbed already; this second pass covers every
    message stored or shown here (status, history, admin messages) whatever
    produced it.
    """
    return scrub(message, secret_values(cfg))


# Error codes that mean our configuration is wrong, not that the vendor is down.
MISCONFIGURED_CODES = frozenset({"provider_misconfigured", "upstream_blocked"})


def health_of(err: DriverError) -> str:
    """The health a failed call means: the one place errors become statuses.

    ``failed`` when our configuration is wrong (a forbidden or invalid endpoint,
    missing settings: codes in ``MISCONFIGURED_CODES``); ``unavailable`` for any
    other failure (unreachable, timed out, 5xx, refused credentials).
    """
    return Health.FAILED if err.code in MISCONFIGURED_CODES else Health.UNAVAILABLE


def configuration_problem(provider: Provider) -> tuple[DriverConfig | None, str]:
    """The driver config, or why the provider cannot be called at all."""
    try:
        cfg = provider.driver_config()
    except PlatformKeyMissing as exc:
        return None, str(exc)
    except CryptoError as exc:
        return None, f"The stored credentials cannot be decrypted: {exc}"
    if provider.starter:
        return cfg, ""  # the platform's settings: nothing of the org's to check
    problems = catalog.validate(
        provider.provider_type,
        cfg.auth_method,
        provider.endpoint,
        dict(cfg.config),
        dict(cfg.credentials),
    )
    if problems:
        return cfg, " ".join(m for messages in problems.values() for m in messages)
    if not cfg.base_url:
        return cfg, "No endpoint is configured."
    try:
        driver_class(provider.provider_type)
    except LookupError as exc:
        return cfg, str(exc)
    return cfg, ""


async def _call(cfg: DriverConfig, timeout: float) -> None:
    async with build_client() as client:
        async with asyncio.timeout(timeout):
            await get_driver(cfg, client).health_check()


def probe(provider: Provider) -> CheckResult:
    """Run the provider's health check (sync; opens its own event loop)."""
    cfg, problem = configuration_problem(provider)
    if problem or cfg is None:
        return CheckResult(
            Health.FAILED, scrubbed(problem, cfg), code="provider_misconfigured"
        )
    timeout = min(provider.timeout_total, settings.HEALTH_CHECK_TIMEOUT)
    started = time.monotonic()
    try:
        asyncio.run(_call(cfg, timeout))
    except TimeoutError:
        return CheckResult(
            Health.UNAVAILABLE,
            f"No answer within {timeout:g} s.",
            transient=True,
            code="upstream_timeout",
        )
    except DriverError as err:
        latency = int((time.monotonic() - started) * 1000)
        health = health_of(err)
        # A configuration error (a blocked address) does not pass by retrying.
        transient = err.transient and health != Health.FAILED
        return CheckResult(
            health, scrubbed(err.message, cfg), latency, transient, err.code or ""
        )
    latency = int((time.monotonic() - started) * 1000)
    return CheckResult(Health.AVAILABLE, f"OK in {latency} ms.", latency)


def record(provider_id: int, result: CheckResult) -> bool:
    """Store a result with a conditional update; True when the health changed.

    Two workers checking the same provider at once each write their result in
    turn; the history's transitions stay a consistent chain.
    """
    for _attempt in range(5):
        with transaction.atomic():
            current = (
                Provider.objects.filter(pk=provider_id)
                .values_list("health", flat=True)
                .first()
            )
            if current is None:
                return False  # deleted meanwhile
            updated = Provider.objects.filter(pk=provider_id, health=current).update(
                health=result.health,
                health_message=result.message[:2000],
                health_checked_at=timezone.now(),
                health_latency_ms=result.latency_ms,
            )
            if not updated:
                continue  # another worker got there first: read again
            if current == result.health:
                return False
            HealthEvent.objects.create(
                provider_id=provider_id,
                from_health=current,
                to_health=result.health,
                message=result.message[:2000],
                latency_ms=result.latency_ms,
            )
            stale = HealthEvent.objects.filter(provider_id=provider_id).values_list(
                "pk", flat=True
            )[HealthEvent.KEEP :]
            HealthEvent.objects.filter(pk__in=list(stale)).delete()
            return True
    return False


def check_provider(provider: Provider) -> CheckResult:
    """Check one provider now and store the outcome."""
    result = probe(provider)
    record(provider.pk, result)
    return result
