"""Odd input in paths and filters is a 4xx, never a 500."""

from __future__ import annotations

from tests.factories import ProviderFactory


def test_a_nul_in_a_path_name_is_404(world, api):
    ProviderFactory(organization=world.acme, name="main")
    acme = "organizations/acme/"
    for url in (acme + "providers/main/models/a%00b/", acme + "api-keys/k%00/"):
        assert api.alice.get(url).status_code == 404, url
        assert api.alice.patch(url, {}).status_code == 404, url
        assert api.alice.delete(url).status_code == 404, url
    put = api.alice.put(acme + "providers/main/models/a%00b/", {})
    assert put.status_code == 404


def test_a_nul_in_a_model_filter_is_400(world, api):
    for name in ("provider", "model_type", "status"):
        response = api.alice.get(f"organizations/acme/models/?{name}=%00")
        assert response.status_code == 400, name
        assert list(response.json()) == [name]
