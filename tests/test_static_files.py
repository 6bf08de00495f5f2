"""Static files are served by the app itself, started as ``bin/run`` starts it.

The browser test uses Django's ``live_server``, which serves static files on its
own, so only a server started like production (uvicorn, ``DEBUG=false``, after
``collectstatic``) can show whether the admin is styled.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.fakes.server import free_port

BASE_DIR = Path(settings.BASE_DIR)
YEAR = 365 * 24 * 3600


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("static-data")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEBUG": "false",
        "SECRET_KEY": "static-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        "CREDENTIALS_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            manage + command, cwd=BASE_DIR, env=env, check=True, capture_output=True
        )
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "config.asgi:application"),
            *("--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
            *("--lifespan", "on", "--no-proxy-headers"),
            *("--http", "config.http_protocol:HttpToolsProtocol"),
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/admin/login/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def test_the_admin_page_links_hashed_stylesheets_that_are_served(
    production_server: str,
) -> None:
    page = httpx.get(f"{production_server}/admin/login/")
    assert page.status_code == 200
    links = re.findall(r'href="(/static/[^"]+\.css)"', page.text)
    assert any(re.search(r"admin/css/base\.[0-9a-f]{12}\.css", u) for u in links)
    for link in links:
        answer = httpx.get(f"{production_server}{link}")
        assert answer.status_code == 200, link
        assert answer.headers["content-type"].startswith("text/css")
        assert f"max-age={10 * YEAR}" in answer.headers["cache-control"]
        assert "immutable" in answer.headers["cache-control"]


def test_the_sites_pages_link_hashed_assets_cached_for_long(
    production_server: str,
) -> None:
    page = httpx.get(f"{production_server}/accounts/login/")
    assert page.status_code == 200
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    names = {re.sub(r"\.[0-9a-f]{12}\.", ".", link) for link in links}
    assert {
        "/static/portal/site.css",
        "/static/portal/site.js",
        "/static/portal/favicon.svg",
    } <= names
    for link in links:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js|svg)$", link), link
        answer = httpx.get(f"{production_server}{link}")
        assert answer.status_code == 200, link
        assert f"max-age={10 * YEAR}" in answer.headers["cache-control"]
    chart = httpx.get(f"{production_server}/static/vendor/chartjs/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart" in chart.text


def test_the_sites_own_assets_are_served_compressed(production_server: str) -> None:
    for name in ("portal/site.css", "portal/site.js", "providers/admin.css"):
        plain = httpx.get(f"{production_server}/static/{name}")
        assert plain.status_code == 200, name
        assert plain.text.strip()
    gzipped = httpx.get(
        f"{production_server}/static/admin/css/base.css",
        headers={"Accept-Encoding": "gzip"},
    )
    assert gzipped.status_code == 200
    assert gzipped.headers.get("content-encoding") == "gzip"


def test_a_missing_static_file_is_a_404(production_server: str) -> None:
    assert httpx.get(f"{production_server}/static/nope.css").status_code == 404
