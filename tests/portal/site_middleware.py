"""Test-only middleware of the browser tests' site server (``site_settings``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.contrib.contenttypes.models import ContentType
from django.utils.decorators import sync_and_async_middleware


@sync_and_async_middleware
def fresh_content_types(get_response: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Forget cached content types: the tests recreate them between tests."""
    if iscoroutinefunction(get_response):

        async def middleware(request: Any) -> Any:
            ContentType.objects.clear_cache()
            response: Awaitable[Any] = get_response(request)
            return await response

        return middleware

    def sync_middleware(request: Any) -> Any:
        ContentType.objects.clear_cache()
        return get_response(request)

    return sync_middleware
