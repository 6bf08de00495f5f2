"""The provider and model admins' delete pages say what still uses the object.

``gateway.dependents`` decides what "in use" means for the admin and the
management API alike (the API answers 409 unless confirmed; the admin's
confirmation page lists the same dependents above its "Yes, I'm sure"). The
gateway builds on the catalog and providers, so it extends their admins here,
as ``gateway.model_test_admin`` adds its "Test" action.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gateway import dependents
from models_catalog.admin import AIModelAdmin
from providers.admin import ProviderAdmin

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.db.models import QuerySet
    from django.http import HttpRequest

    from gateway.dependents import Dependents


def _listing_dependents(
    admin_class: type[ModelAdmin[Any]], find: Callable[[Any], Dependents]
) -> None:
    original = admin_class.get_deleted_objects

    def get_deleted_objects(
        self: ModelAdmin[Any],
        objs: Sequence[Any] | QuerySet[Any],
        request: HttpRequest,
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        to_delete, counts, perms_needed, protected = original(self, objs, request)
        for obj in objs:
            found = find(obj)
            if found:
                to_delete.append(f"{obj} — {found.describe()}")
        return to_delete, counts, perms_needed, protected

    admin_class.get_deleted_objects = get_deleted_objects  # type: ignore[method-assign]


_listing_dependents(ProviderAdmin, dependents.of_provider)
_listing_dependents(AIModelAdmin, dependents.of_model)
