"""The alert settings admin: scoped to the admin's organizations, the webhook
secret shown once (on creation and on rotation) and never on any other page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from gateway.budgets import webhooks
from gateway.models import AlertSent, AlertSettings, Budget

ADD = "/admin/gateway/alertsettings/add/"
LIST = "/admin/gateway/alertsettings/"
SENT = "/admin/gateway/alertsent/"


def form(organization, **fields):
    return {
        "organization": organization.pk,
        "email_admins": "on",
        "webhook_url": "",
        "spike_alerts": "on",
        "spike_factor": "5",
        **fields,
    }


@pytest.fixture
def alice(world) -> Client:
    client = Client()
    client.force_login(world.alice)
    return client


def test_the_secret_is_shown_once_when_the_url_is_first_saved(world, alice, receiver):
    response = alice.post(ADD, form(world.acme, webhook_url=receiver.url))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    config = AlertSettings.objects.get(organization=world.acme)
    secret = config.reveal("webhook_secret")
    assert secret.startswith("whsec_") and len(secret) > 40
    page = response.content.decode()
    assert secret in page and "will not be shown again" in page
    assert receiver.url in page
    change = f"{LIST}{config.pk}/change/"
    for url in (LIST, change, f"{change}../history/"):
        text = alice.get(url).content.decode()
        assert secret not in text
    assert "configured" in alice.get(change).content.decode()
    # Saving again keeps the secret and shows nothing.
    again = alice.post(change, form(world.acme, webhook_url=receiver.url + "?v=2"))
    assert again.status_code == 302
    config.refresh_from_db()
    assert config.reveal("webhook_secret") == secret
    assert config.webhook_url.endswith("?v=2")


def test_a_url_added_later_creates_the_secret_then(world, alice, receiver):
    alice.post(ADD, form(world.acme))
    config = AlertSettings.objects.get(organization=world.acme)
    assert not config.is_configured("webhook_secret")
    response = alice.post(
        f"{LIST}{config.pk}/change/", form(world.acme, webhook_url=receiver.url)
    )
    assert response.status_code == 200
    config.refresh_from_db()
    assert config.reveal("webhook_secret") in response.content.decode()


def test_rotating_shows_a_new_secret_once(world, alice, receiver):
    alice.post(ADD, form(world.acme, webhook_url=receiver.url))
    config = AlertSettings.objects.get(organization=world.acme)
    old = config.reveal("webhook_secret")
    response = alice.post(
        LIST, {"action": "rotate_webhook_secret", "_selected_action": [config.pk]}
    )
    config.refresh_from_db()
    new = config.reveal("webhook_secret")
    assert new != old
    assert new in response.content.decode()
    assert old not in response.content.decode()
    assert new not in alice.get(LIST).content.decode()


def test_a_private_webhook_url_is_refused_in_the_admin(world, alice, settings):
    settings.PROVIDERS_ALLOW_PRIVATE_IPS = False
    response = alice.post(ADD, form(world.acme, webhook_url="http://127.0.0.1:9/x"))
    assert response.status_code == 200
    assert "Outbound connection refused" in response.content.decode()
    assert not AlertSettings.objects.exists()


def test_an_org_admin_sees_and_edits_only_their_organizations(world, alice):
    theirs = AlertSettings.objects.create(
        organization=world.globex, webhook_url="http://example.invalid/globex-hook"
    )
    assert "globex-hook" not in alice.get(LIST).content.decode()
    assert alice.get(f"{LIST}{theirs.pk}/change/").status_code == 404
    add_page = alice.get(ADD).content.decode()
    assert "Acme Corp" in add_page and "Globex" not in add_page
    response = alice.post(ADD, form(world.globex))
    assert response.status_code == 200  # not a choice: the form refuses it
    assert AlertSettings.objects.filter(organization=world.globex).count() == 1
    rotate = alice.post(
        LIST, {"action": "rotate_webhook_secret", "_selected_action": [theirs.pk]}
    )
    assert rotate.status_code == 302  # nothing selected that alice may see
    theirs.refresh_from_db()
    assert not theirs.is_configured("webhook_secret")


def test_a_member_gets_no_alert_admin(world):
    client = Client()
    client.force_login(world.bob)
    assert client.get(LIST).status_code in (302, 403)


def test_the_sent_alerts_list_is_read_only_and_scoped(world, alice):
    for org in (world.acme, world.globex):
        budget = Budget.objects.create(
            organization=org, scope="organization", amount=Decimal(1)
        )
        AlertSent.objects.create(
            organization=org,
            kind="threshold",
            budget=budget,
            subject=str(budget.pk),
            period_start=budget.current_period()[0],
            threshold=80,
            webhook_status=f"attempt 1: HTTP 200 {org.slug}",
        )
    page = alice.get(SENT).content.decode()
    assert "HTTP 200 acme" in page and "HTTP 200 globex" not in page
    assert alice.get(f"{SENT}add/").status_code == 403
    theirs = AlertSent.objects.get(organization=world.globex)
    assert alice.get(f"{SENT}{theirs.pk}/change/").status_code == 404


def test_a_superuser_rotates_any_organizations_secret(world, receiver):
    from tests.factories import UserFactory

    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    config = AlertSettings(organization=world.globex, webhook_url=receiver.url)
    first = webhooks.ensure_secret(config)
    config.save()
    response = client.post(
        LIST, {"action": "rotate_webhook_secret", "_selected_action": [config.pk]}
    )
    config.refresh_from_db()
    assert config.reveal("webhook_secret") != first
    assert config.reveal("webhook_secret") in response.content.decode()
