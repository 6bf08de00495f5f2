"""Browser fixtures: one production-like site server and one Chromium per run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections

from tests.portal.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, SiteServer, Visit


@pytest.fixture(scope="session")
def site_server(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SiteServer]:
    server = SiteServer(tmp_path_factory.mktemp("site"))
    server.start()
    try:
        yield server
    finally:
        with django_db_blocker.unblock():
            server.stop()


@pytest.fixture
def visit(
    site_server: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Visit]]:
    """``visit(name, viewport=DESKTOP)``: a new browser context (own cookies).

    Chromium is started per test, after the database is set up: Playwright's
    sync API runs an event loop in this thread while it lives, and Django
    refuses ORM calls beside a running loop unless told they are safe (they
    are: plain synchronous calls of the test itself).
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def open_visit(name: str, viewport: dict[str, int] = DESKTOP) -> Visit:
            context = browser.new_context(viewport=viewport)
            return Visit(context.new_page(), site_server, name)

        try:
            yield open_visit
        finally:
            # The test's ORM calls ran beside Playwright's loop, on connections
            # bound to that context: close them before it ends, or they
            # outlive the test and hold the test database open.
            connections.close_all()
            browser.close()
