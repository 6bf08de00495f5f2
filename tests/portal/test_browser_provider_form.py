"""An org admin adds an OpenAI and a Bedrock provider through the form per type.

In Chromium against the production-like server (issue 11 points 1-3): only the
chosen type's fields show, a wrong key is refused before save with the vendor's
reason next to the key field, the right key saves and the status panel shows
Available with the discovered models; Bedrock shows region and AWS keys, not an
API key. The fake vendors listen on loopback (the test environment sets
PROVIDERS_ALLOW_PRIVATE_IPS=true, which the site server inherits).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from accounts.models import Membership, Organization
from providers.models import Provider
from tests.factories import MembershipFactory, UserFactory
from tests.fakes import bedrock as bedrock_fake
from tests.gateway import upstreams
from tests.portal.browser import Visit, can_sign_in

WRONG_KEY = "sk-wrong-BROWSER-secret-1"
NOT_FOR_OPENAI = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "region",
    "client_secret",
    "token_url",
    "client_id",
    "scope",
    "api_version",
    "deployments",
    "custom_headers",
    "auth_header",
]

pytestmark = pytest.mark.django_db(transaction=True)


def hidden(tab: Visit, field: str) -> bool:
    return bool(tab.page.locator(f".form-row.field-{field}").is_hidden())


def wait_for_status(tab: Visit) -> str:
    tab.page.wait_for_selector("#provider-status[data-done=true]", timeout=30_000)
    return str(tab.page.locator("#provider-status [data-status=label]").inner_text())


def test_an_org_admin_adds_openai_and_bedrock_through_the_form_per_type(
    visit: Callable[..., Visit],
) -> None:
    acme = Organization.objects.create(slug="acme", name="Acme Corp")
    alice = can_sign_in(UserFactory(username="alice", is_staff=True))
    MembershipFactory(user=alice, organization=acme, role=Membership.Role.ADMIN)

    tab = visit("provider-form")
    page = tab.page
    tab.sign_in("alice")
    with upstreams.start("openai") as openai:
        tab.goto("/admin/providers/provider/add/")
        assert page.input_value("#id_provider_type") == "openai"
        assert page.input_value("#id_auth_method") == "bearer"
        assert not hidden(tab, "api_key")
        assert [f for f in NOT_FOR_OPENAI if not hidden(tab, f)] == []
        assert page.get_attribute("#id_endpoint", "placeholder") == (
            "https://api.openai.com/v1"
        )
        assert page.locator("#id_base_url").count() == 0
        tab.screenshot("openai")

        page.fill("#id_name", "browser-openai")
        page.fill("#id_endpoint", openai.endpoint)
        page.fill("#id_api_key", WRONG_KEY)
        page.click("input[name=_continue]")
        page.wait_for_selector(".errornote")
        key_error = page.locator(".form-row.field-api_key .errorlist").inner_text()
        assert "Incorrect API key" in key_error
        assert WRONG_KEY not in page.content()
        assert not Provider.objects.filter(name="browser-openai").exists()
        tab.screenshot("openai-wrong-key")

        page.fill("#id_api_key", "sk-test-key")
        page.click("input[name=_continue]")
        page.wait_for_selector(".messagelist .success")
        assert wait_for_status(tab) == "Available"
        models = page.locator("#provider-status [data-status=model_count]")
        assert models.inner_text() == "4"
        # The panel sits above the form's first fieldset.
        panel_y = page.locator("#provider-status").bounding_box()["y"]
        assert panel_y < page.locator("fieldset").first.bounding_box()["y"]
        tab.screenshot("openai-saved")

    for kind in ("azure_openai", "ollama", "openai_compatible"):
        tab.goto("/admin/providers/provider/add/")
        page.select_option("#id_provider_type", kind)
        tab.screenshot(kind)
    # openai_compatible: no auth preselected (its key is optional), and no
    # header placeholder the server would not apply.
    assert page.input_value("#id_auth_method") == "none"
    assert hidden(tab, "api_key")
    page.select_option("#id_auth_method", "api_key")
    assert not hidden(tab, "api_key") and not hidden(tab, "auth_header")
    assert page.get_attribute("#id_auth_header", "placeholder") == ""
    page.select_option("#id_auth_method", "bearer")
    assert not hidden(tab, "api_key")
    page.select_option("#id_provider_type", "azure_openai")
    assert page.input_value("#id_auth_method") == "api_key"
    assert not hidden(tab, "api_version") and not hidden(tab, "deployments")
    assert page.get_attribute("#id_api_version", "placeholder") == "2024-10-21"
    page.select_option("#id_auth_method", "oauth2")
    assert not hidden(tab, "token_url") and hidden(tab, "api_key")
    tab.screenshot("azure_openai-oauth2")

    with upstreams.start("bedrock") as bedrock:
        tab.goto("/admin/providers/provider/add/")
        page.select_option("#id_provider_type", "bedrock")
        assert page.input_value("#id_auth_method") == "aws_sigv4"
        assert hidden(tab, "api_key")
        for field in ("region", "aws_access_key_id", "aws_secret_access_key",
                      "aws_session_token"):  # fmt: skip
            assert not hidden(tab, field), field
        assert (
            "session token" in page.locator("#id_provider_type_helptext").inner_text()
        )
        tab.screenshot("bedrock")
        page.fill("#id_name", "browser-bedrock")
        page.fill("#id_endpoint", bedrock.endpoint)
        page.fill("#id_region", bedrock_fake.REGION)
        page.fill("#id_aws_access_key_id", bedrock_fake.ACCESS_KEY)
        page.fill("#id_aws_secret_access_key", bedrock_fake.SECRET_KEY)
        page.fill("#id_aws_session_token", "session-token-1")
        page.click("fieldset.collapse summary")
        page.fill(
            "#id_extra_config",
            json.dumps({"control_endpoint": bedrock.server.url}),
        )
        page.click("input[name=_continue]")
        page.wait_for_selector(".messagelist .success")
        assert wait_for_status(tab) == "Available"
        tab.screenshot("bedrock-saved")

    provider = Provider.objects.get(name="browser-bedrock")
    assert provider.get_config()["region"] == bedrock_fake.REGION
    assert "api_key" not in provider.get_credentials()
    assert tab.failed == []
    assert tab.console == []
