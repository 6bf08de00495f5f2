"""The API's documentation page in Chromium, served like production.

Swagger UI (vendored by drf-spectacular-sidecar, collected and hashed like
every asset) renders every operation of the schema under the site's CSP: no
console error (a CSP violation is one), no failed request, nothing from
another host.
"""

from __future__ import annotations

import pytest

from tests.portal.conftest import site_server, visit  # noqa: F401  # the fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_documentation_page_renders_every_operation(visit):  # noqa: F811
    page = visit("api-docs")
    requested: list[str] = []
    page.page.on("request", lambda r: requested.append(r.url))
    page.goto("/api/v1/docs/")
    page.page.wait_for_selector(".opblock", timeout=15_000)
    operations = page.page.locator(".opblock").count()
    assert operations == 55
    page.screenshot("operations")
    assert page.failed == []
    assert page.console == []
    assert all(url.startswith(page.server.url) for url in requested), requested
