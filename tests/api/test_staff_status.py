"""Staff status gates the API as it gates the admin: a user a superuser took it
from keeps neither their session's scope nor their tokens."""

from __future__ import annotations

from rest_framework.test import APIClient

from accounts.models import User


def test_an_admin_without_staff_status_has_no_token_and_no_session_scope(world, api):
    assert api.alice.get("organizations/acme/").status_code == 200
    User.objects.filter(pk=world.alice.pk).update(is_staff=False)
    assert api.alice.get("organizations/acme/").status_code == 401
    session = APIClient()
    session.force_login(world.alice)
    assert session.get("/api/v1/organizations/").json()["results"] == []
    assert session.get("/api/v1/organizations/acme/providers/").status_code == 404
    admin = APIClient()
    admin.force_login(world.alice)
    assert admin.get("/admin/providers/provider/").status_code != 200
