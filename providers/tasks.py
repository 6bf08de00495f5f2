"""Celery tasks for provider health: thin wrappers that take ids."""

from __future__ import annotations

import logging

from celery import current_app, shared_task
from django.conf import settings
from django.db import transaction

from providers.drivers.errors import TransientDriverError
from providers.health import check_provider
from providers.models import Provider

logger = logging.getLogger(__name__)


@shared_task(
    name="providers.check_provider_health",
    autoretry_for=(TransientDriverError,),
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=3,
)
def check_provider_health(provider_id: int) -> str | None:
    provider = Provider.objects.filter(pk=provider_id).first()
    if provider is None:
        logger.info("provider %s is gone; no health check", provider_id)
        return None
    result = check_provider(provider)
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


def after_provider_saved(provider_id: int) -> None:
    """A new or re-pointed provider: check its health and discover its models."""
    enqueue("providers.check_provider_health", provider_id)
    enqueue("models_catalog.discover_models", provider_id)
