"""Every vendor setting the admin's provider form takes, the API takes too."""

from __future__ import annotations

from providers.models import Provider

URL = "organizations/acme/providers/"


def test_the_rerank_api_is_set_shown_and_changed(world, api):
    body = {
        "name": "tei",
        "provider_type": "vllm",
        "endpoint": "http://127.0.0.1:9/v1",
        "auth_method": "none",
        "config": {"rerank_api": "tei"},
        "verify": False,
    }
    created = api.alice.post(URL, body)
    assert created.status_code == 201, created.json()
    assert created.json()["config"]["rerank_api"] == "tei"
    assert Provider.objects.get(name="tei").get_config()["rerank_api"] == "tei"
    changed = api.alice.patch(
        URL + "tei/", {"config": {"rerank_api": "voyage"}, "verify": False}
    )
    assert changed.json()["config"]["rerank_api"] == "voyage"
    refused = api.alice.patch(URL + "tei/", {"config": {"rerank_api": "nope"}})
    assert refused.status_code == 400
