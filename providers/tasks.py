"""Celery tasks for provider health: thin wrappers that take ids.

Logging: a vendor that is down or slow (a transient failure) and a
misconfigured provider are each one WARNING line without a traceback; the
retry that follows is Celery's, declared (``autoretry_for``), and its final
failure is an expected one (``throws``), not an error. Anything else raised
is our bug: Celery logs it as an ERROR with its traceback.
"""

from __future__ import annotations

import logging

from celery import current_app, shared_task
from django.conf import settings
from django.db import transaction

from providers.drivers.errors import TransientDriverError
from providers.health import CheckResult, probe, record
from providers.models import Provider

logger = logging.getLogger(__name__)

Health = Provider.Health
# models_catalog's AIModel.Source.DISCOVERED (this app may not import it).
DISCOVERED = "discovered"


def has_discovered_models(provider: Provider) -> bool:
    return provider.models.filter(source=DISCOVERED).exists()


def log_result(provider: Provider, result: CheckResult) -> None:
    """One line per failed check; the message is scrubbed already."""
    if result.health == Health.UNAVAILABLE:
        logger.warning(
            "provider %s (id %s) unavailable%s: %s",
            provider.name,
            provider.pk,
            " (may pass)" if result.transient else "",
            result.message,
        )
    elif result.health == Health.FAILED:
        logger.warning(
            "provider %s (id %s) misconfigured: %s",
            provider.name,
            provider.pk,
            result.message,
        )


def check_and_follow(provider: Provider, *, discover: bool = False) -> CheckResult:
    """Check a provider, store the outcome, and queue discovery when it is due.

    Discovery is queued when the provider is available and either ``discover``
    asks for it (a new or re-pointed provider) or it has just become available
    without any discovered model (say, after the operator allowed private
    addresses): its models then appear without waiting for the next run.
    """
    return follow(provider, probe(provider), discover=discover)


def follow(
    provider: Provider, result: CheckResult, *, discover: bool = False
) -> CheckResult:
    """Store a check's outcome and queue discovery when it is due (see above).

    Also used for the vendor check a provider's save passed, so that result is
    the status shown, without a second call to the vendor.
    """
    changed = record(provider.pk, result)
    if result.health == Health.AVAILABLE and (
        discover or (changed and not has_discovered_models(provider))
    ):
        enqueue("models_catalog.discover_models", provider.pk)
    log_result(provider, result)
    return result


@shared_task(
    name="providers.check_provider_health",
    autoretry_for=(TransientDriverError,),
    throws=(TransientDriverError,),
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=3,
)
def check_provider_health(provider_id: int, discover: bool = False) -> str | None:
    provider = Provider.objects.filter(pk=provider_id).first()
    if provider is None:
        logger.info("provider %s is gone; no health check", provider_id)
        return None
    result = check_and_follow(provider, discover=discover)
    # The status is stored already; a retry notices a recovery sooner.
    result.raise_if_transient()
    return result.health


@shared_task(name="providers.check_all_providers")
def check_all_providers() -> int:
    """Queue one check per active provider; never waits on them."""
    ids = list(
        Provider.objects.filter(status=Provider.Status.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    expires = settings.HEALTH_CHECK_INTERVAL
    for provider_id in ids:
        check_provider_health.apply_async((provider_id,), expires=expires)
    return len(ids)


def enqueue(task_name: str, *args: object) -> None:
    """Queue a task by name once the current transaction commits.

    By name, so this app can start work owned by apps that build on it (model
    discovery lives in the catalog) without importing them.
    """

    def send() -> None:
        if task_name not in current_app.tasks:
            # Outside a worker, apps' task modules load on first need.
            current_app.loader.import_default_modules()
        current_app.tasks[task_name].delay(*args)

    transaction.on_commit(send)


def after_provider_saved(provider_id: int, *, discover: bool = True) -> None:
    """A new or re-pointed provider: check its health, then discover its models.

    Discovery follows the check (when it passes), so a provider the vendor
    refuses costs one call, not two. ``discover=False``: a re-check of an
    unchanged provider, which discovers only if it recovers without models.
    """
    enqueue("providers.check_provider_health", provider_id, discover)
