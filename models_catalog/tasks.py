"""Celery tasks for model discovery: thin wrappers that take ids."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from models_catalog.discovery import sync_provider_models
from providers.crypto import CryptoError
from providers.drivers.errors import DriverError, TransientDriverError
from providers.models import Provider

logger = logging.getLogger(__name__)


@shared_task(
    name="models_catalog.discover_models",
    # A listing that failed for a reason that may pass (timeout, 5xx, 429).
    autoretry_for=(TransientDriverError,),
    retry_backoff=10,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=4,
)
def discover_models(provider_id: int) -> dict[str, int] | None:
    provider = Provider.objects.filter(pk=provider_id).first()
    if provider is None:
        logger.info("provider %s is gone; no discovery", provider_id)
        return None
    try:
        result = sync_provider_models(provider)
    except TransientDriverError:
        raise  # retried by declaration (autoretry_for)
    except DriverError as err:
        logger.warning("discovery for provider %s failed: %s", provider_id, err.message)
        return None
    except CryptoError as exc:
        logger.warning("discovery for provider %s failed: %s", provider_id, exc)
        return None
    logger.info("discovery for provider %s: %s", provider_id, result.summary())
    return {
        "added": len(result.added),
        "updated": len(result.updated),
        "gone": len(result.gone),
        "returned": len(result.returned),
    }


@shared_task(name="models_catalog.discover_all")
def discover_all() -> int:
    """Queue one discovery per active provider; never waits on them."""
    ids = list(
        Provider.objects.filter(status=Provider.Status.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    for provider_id in ids:
        discover_models.apply_async((provider_id,), expires=settings.DISCOVERY_INTERVAL)
    return len(ids)
