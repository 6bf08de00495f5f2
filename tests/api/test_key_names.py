"""Every API key the API (or the admin) creates can be addressed by its name."""

from __future__ import annotations

from gateway.models import ApiKey

KEYS = "organizations/acme/api-keys/"


def test_a_key_whose_name_has_a_slash_is_read_changed_and_revoked(world, api):
    created = api.alice.post(KEYS, {"name": "team/ci"})
    assert created.status_code == 201
    api.secrets.values.add(created.json()["secret"])
    assert api.alice.get(KEYS + "team/ci/").json()["name"] == "team/ci"
    patched = api.alice.patch(KEYS + "team/ci/", {"requests_per_minute": 5})
    assert patched.json()["requests_per_minute"] == 5
    assert api.alice.delete(KEYS + "team/ci/").status_code == 204
    assert ApiKey.objects.get(name="team/ci").is_revoked
    assert api.charlie.get("organizations/acme/api-keys/team/ci/").status_code == 404
