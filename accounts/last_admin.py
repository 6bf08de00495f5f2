"""Every organization keeps an admin: no removal or demotion takes its last one.

The admin asks ``orphaned_organizations`` before it deletes memberships (one
or in bulk), changes a role, or deletes users, and refuses with
``last_admin_message`` when an organization would be left with no admin. The
check applies to superusers too: the organization stays manageable by its
own people, and an operator who means to end it deletes the organization.

Inside a transaction the organization's admin memberships are locked, so two
admins demoting each other at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.contrib.admin.utils import quote, unquote
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.models import Membership, Organization


def orphaned_organizations(
    leaving: Iterable[Membership], promoted: Iterable[Membership] = ()
) -> list[Organization]:
    """Organizations whose every admin membership is among ``leaving``.

    ``leaving``: memberships about to be deleted or demoted (as stored now);
    ``promoted``: memberships made admins in the same change, which keep their
    organization administered. Only organizations that lose an admin count:
    removing plain members of an organization without admins is not refused.
    """
    leaving_ids = {m.pk for m in leaving if m.pk is not None}
    if not leaving_ids:
        return []
    losing = set(
        Membership.objects.filter(
            pk__in=leaving_ids, role=Membership.Role.ADMIN
        ).values_list("organization_id", flat=True)
    )
    if not losing:
        return []
    admins = Membership.objects.filter(
        organization_id__in=losing, role=Membership.Role.ADMIN
    )
    if transaction.get_connection().in_atomic_block:
        admins = admins.select_for_update()
    remaining: dict[int, int] = dict.fromkeys(losing, 0)
    admin_ids = set()
    for pk, org_id in admins.values_list("pk", "organization_id"):
        admin_ids.add(pk)
        if pk not in leaving_ids:
            remaining[org_id] += 1
    for m in promoted:
        counts = m.pk not in admin_ids and m.pk not in leaving_ids
        if counts and m.organization_id in remaining:
            remaining[m.organization_id] += 1
    orphaned = [org_id for org_id, count in remaining.items() if count == 0]
    return list(Organization.objects.filter(pk__in=orphaned).order_by("name"))


def last_admin_message(organizations: Iterable[Organization]) -> str:
    names = ", ".join(org.name for org in organizations)
    return (
        f"{names} would be left without an admin: make another member an admin "
        "first. Nothing was changed."
    )


# -- The admin's delete paths -------------------------------------------------

MembershipsOf = Callable[[QuerySet[Any]], QuerySet[Membership]]


def memberships_of(memberships: QuerySet[Any]) -> QuerySet[Membership]:
    return memberships


def user_memberships(users: QuerySet[Any]) -> QuerySet[Membership]:
    return Membership.objects.filter(user__in=users)


def guarded_delete_actions(
    actions: dict[str, Any], memberships: MembershipsOf
) -> dict[str, Any]:
    """``actions`` with "delete selected" refusing to take an org's last admin."""
    if "delete_selected" not in actions:
        return actions
    delete, name, description = actions["delete_selected"]

    def delete_selected(
        model_admin: ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponse | None:
        with transaction.atomic():
            orphaned = orphaned_organizations(memberships(queryset))
            if orphaned:
                model_admin.message_user(
                    request, last_admin_message(orphaned), messages.ERROR
                )
                return None
            response: HttpResponse | None = delete(model_admin, request, queryset)
            return response

    return {**actions, "delete_selected": (delete_selected, name, description)}


def refuse_orphaning_delete(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    object_id: str,
    memberships: MembershipsOf,
) -> HttpResponse | None:
    """A redirect with the message when deleting the object takes a last admin.

    None lets the admin's own delete view answer (including its 403 and 404).
    """
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None or not model_admin.has_delete_permission(request, obj):
        return None
    model = model_admin.model
    orphaned = orphaned_organizations(
        memberships(model._default_manager.filter(pk=obj.pk))
    )
    if not orphaned:
        return None
    model_admin.message_user(request, last_admin_message(orphaned), messages.ERROR)
    opts = model._meta
    return HttpResponseRedirect(
        reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=[quote(obj.pk)],
            current_app=model_admin.admin_site.name,
        )
    )
