"""The alert settings endpoint: one object per organization, the webhook secret
returned once (creation, rotation), the URL checked against the outbound guard.

Every answer passes through ``api``'s secret check: once a secret is known,
it is added to the values no later answer may contain.
"""

from __future__ import annotations

from gateway.models import AlertSettings

URL = "organizations/acme/alert-settings/"
# Never contacted: saving checks the address only when private ones are refused.
HOOK = "https://hooks.example.test/modelgate"


def test_the_defaults_show_before_anything_is_saved(api):
    response = api.alice.get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "email_admins": True,
        "webhook_url": "",
        "webhook_secret_configured": False,
        "daily_digest": False,
        "spike_alerts": True,
        "spike_factor": "5.00",
    }
    assert not AlertSettings.objects.exists()


def test_the_secret_is_returned_once_when_the_url_is_first_set(api):
    first = api.alice.put(URL, {"webhook_url": HOOK, "daily_digest": True})
    assert first.status_code == 200, first.content
    body = first.json()
    secret = body.pop("webhook_secret")
    assert secret.startswith("whsec_")
    api.secrets.values.add(secret)  # from now on, no answer may hold it
    assert body["webhook_secret_configured"] is True
    assert body["daily_digest"] is True
    config = AlertSettings.objects.get(organization__slug="acme")
    assert config.reveal("webhook_secret") == secret
    assert "webhook_secret" not in api.alice.get(URL).json()
    patched = api.alice.patch(URL, {"spike_factor": "8"})
    assert patched.status_code == 200
    assert patched.json()["spike_factor"] == "8.00"
    assert patched.json()["daily_digest"] is True  # PATCH keeps what it omits
    assert patched.json()["webhook_url"] == HOOK
    put = api.alice.put(URL, {"webhook_url": HOOK})
    assert put.json()["daily_digest"] is False  # PUT resets what it omits
    assert put.json()["spike_factor"] == "5.00"
    config.refresh_from_db()
    assert config.reveal("webhook_secret") == secret


def test_rotation_returns_a_new_secret_once(api):
    first = api.alice.put(URL, {"webhook_url": HOOK}).json()["webhook_secret"]
    api.secrets.values.add(first)
    rotated = api.alice.post(URL + "rotate-secret/")
    assert rotated.status_code == 200
    api.secrets.values.discard(first)
    new = rotated.json()["webhook_secret"]
    assert new.startswith("whsec_") and new != first
    api.secrets.values.update({first, new})
    config = AlertSettings.objects.get(organization__slug="acme")
    assert config.reveal("webhook_secret") == new
    api.alice.get(URL)


def test_rotation_needs_a_url(api):
    assert api.alice.post(URL + "rotate-secret/").status_code == 409


def test_a_private_url_is_refused(api, settings):
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest/"):
        response = api.alice.put(URL, {"webhook_url": url})
        assert response.status_code == 400
        assert "Outbound connection refused" in response.json()["webhook_url"][0]
    assert api.alice.put(URL, {"webhook_url": "ftp://x.test/"}).status_code == 400
    assert api.alice.patch(URL, {"spike_factor": "1"}).status_code == 400
    assert not AlertSettings.objects.exists()


def test_a_read_only_token_reads_but_does_not_write(api):
    assert api.reader.get(URL).status_code == 200
    assert api.reader.put(URL, {"daily_digest": True}).status_code == 403
    assert api.reader.patch(URL, {"daily_digest": True}).status_code == 403
    assert api.reader.post(URL + "rotate-secret/").status_code == 403
    assert not AlertSettings.objects.exists()


def test_another_organization_gets_404(api):
    assert api.charlie.get(URL).status_code == 404
    assert api.charlie.patch(URL, {"daily_digest": True}).status_code == 404
    assert api.charlie.get("organizations/globex/alert-settings/").status_code == 200
    assert api.anonymous.get(URL).status_code in (401, 403)
