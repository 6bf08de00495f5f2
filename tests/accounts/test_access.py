"""accounts.access: the one place that says who administers and who belongs."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings
from django.test import RequestFactory

from accounts.access import (
    administers,
    is_member,
    member_role,
    organization_context,
    request_admin_org_ids,
)
from models_catalog.visibility import Principal

APPS = ["accounts", "providers", "models_catalog", "gateway", "bootstrap", "config"]
# The model defines the role; access.py is the one place that interprets it.
ROLE_OWNERS = {"accounts/models.py", "accounts/access.py"}


def signed_in(user):
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}
    return request


def test_roles_and_memberships_are_answered_by_access(world):
    assert administers(member_role(world.alice.pk, world.acme.pk))
    assert not administers(member_role(world.bob.pk, world.acme.pk))
    assert not administers(member_role(world.charlie.pk, world.acme.pk))
    assert is_member(world.bob.pk, world.acme.pk)
    assert not is_member(world.charlie.pk, world.acme.pk)


def test_visibility_takes_the_admin_flag_from_access(world):
    alice = Principal.for_member(world.alice.pk, world.acme.pk)
    bob = Principal.for_member(world.bob.pk, world.acme.pk)
    assert alice is not None and alice.is_org_admin
    assert bob is not None and not bob.is_org_admin
    assert Principal.for_member(world.charlie.pk, world.acme.pk) is None


def test_the_administered_organizations_are_computed_once_per_request(
    world, django_assert_num_queries
):
    request = signed_in(world.alice)
    with django_assert_num_queries(1):
        first = request_admin_org_ids(request)
        second = request_admin_org_ids(request)
    assert first == second == {world.acme.pk}


def test_the_organization_context_is_computed_once_per_request(
    world, django_assert_num_queries
):
    request = signed_in(world.bob)
    with django_assert_num_queries(1):
        first = organization_context(request)
        second = organization_context(request)
    assert first is second and first.organization == world.acme


def test_no_module_but_access_interprets_the_admin_role():
    """``Membership.Role.ADMIN`` is compared to in accounts/access.py alone."""
    base = Path(settings.BASE_DIR)
    offenders = []
    for app in APPS:
        for path in sorted((base / app).rglob("*.py")):
            relative = path.relative_to(base).as_posix()
            if "/migrations/" in relative or relative in ROLE_OWNERS:
                continue
            for node in ast.walk(ast.parse(path.read_text(), relative)):
                if isinstance(node, ast.Compare) and "Role.ADMIN" in ast.unparse(node):
                    offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []
