"""The site as people use it: a server started like production, and Chromium.

``SiteServer`` is uvicorn running ``config.asgi`` with ``DEBUG=false`` after
``collectstatic`` (hashed, compressed assets served by WhiteNoise), as
``bin/run`` starts it, on this test run's own database and Redis, so what a
test creates (with ``transaction=True``) is what the server sees. Mail goes to
files a test can read (``EMAIL_URL=filemail://``).

``Visit`` wraps a Playwright page: it signs in through the login form (never
``client.login``), records the browser console and failed requests, saves a
screenshot of each page it checks into ``SCREENSHOTS`` (a test artifact), and
runs axe-core (vendored in ``tests/portal/vendor``) on it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email import message_from_string
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.fakes.server import free_port

ROOT = Path(settings.BASE_DIR)
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# Where every checked page's screenshot is saved; CI keeps the folder.
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOTS_DIR", str(ROOT / "var" / "test-screenshots"))
)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
]
PASSWORD = "browser correct horse battery staple"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def real_password_hash(password: str = PASSWORD) -> str:
    """A PBKDF2 hash the server accepts (the test process hashes with MD5)."""
    return PBKDF2PasswordHasher().encode(password, "browsertestsalt", iterations=1000)


def can_sign_in(user: Any, password: str = PASSWORD) -> Any:
    """Give a factory user a password the site server verifies; returns it."""
    user.password = real_password_hash(password)
    user.save(update_fields=["password"])
    return user


def database_url() -> str:
    """This test run's database (after pytest-django set it up) as a URL."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{auth}@{host}/{db['NAME']}"


def _wait_for_other_sessions_to_end() -> None:
    """PostgreSQL notices a dead client's connection a moment later; the test
    database can be dropped only once it has."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@dataclass
class SiteServer:
    """One production-like web process; ``url`` is what a browser opens."""

    data_dir: Path
    extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DEBUG": "false",
            "DOTENV_PATH": "",
            "SECRET_KEY": "browser-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATA_DIR": str(self.data_dir),
            "STATIC_ROOT": str(self.data_dir / "static"),
            "USAGE_JOURNAL_DIR": str(self.data_dir / "usage-journal"),
            "USAGE_WRITER": "process",
            # Written at once, so a test sees the playground's usage.
            "USAGE_FLUSH_INTERVAL": "0.2",
            "DATABASE_URL": database_url(),
            "EMAIL_URL": f"filemail:///{self.mail_dir}",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "PYTHONUNBUFFERED": "1",
            # Production settings, forgetting content types the tests recreate.
            "DJANGO_SETTINGS_MODULE": "tests.portal.site_settings",
            **self.extra,
        }

    def start(self) -> None:
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application",
             "--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "on",
             "--no-access-log", "--no-proxy-headers", "--log-level", "warning",
             "--http", "config.http_protocol:HttpToolsProtocol"],
            cwd=ROOT,
            env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, "the site server exited at start-up"
            try:
                httpx.get(f"{self.url}/accounts/login/", timeout=2)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the site server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        _wait_for_other_sessions_to_end()

    def mails(self) -> list[Any]:
        """Every message sent so far (``email.message.Message``), oldest first."""
        found = []
        for path in sorted(self.mail_dir.glob("*.log"), key=os.path.getmtime):
            for raw in path.read_text().split("-" * 79):
                if raw.strip():
                    found.append(message_from_string(raw.strip()))
        return found

    def links_in_mail_to(self, address: str) -> list[str]:
        links = []
        for mail in self.mails():
            if address in str(mail["To"]):
                body = mail.get_payload(decode=False)
                if isinstance(body, list):
                    body = body[0].get_payload(decode=False)
                links.extend(re.findall(r"https?://\S+", str(body)))
        return links


class Visit:
    """A browser tab on the site, with what a careful tester watches for."""

    def __init__(self, page: Any, server: SiteServer, name: str) -> None:
        self.page = page
        self.server = server
        self.name = name
        self.console: list[str] = []
        self.failed: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.on(
            "response",
            lambda r: (
                self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
            ),
        )

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.server.url}{path}")

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        """Through the login form, as a person signs in."""
        self.goto("/accounts/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def screenshot(self, label: str) -> Path:
        """Save the page (full height) as ``<visit name>-<label>.png``."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check(
        self, label: str, *, allow_status: tuple[int, ...] = ()
    ) -> list[dict[str, Any]]:
        """Screenshot, then axe-core; asserts no serious or critical violation,
        no console error and no failed request.

        ``allow_status``: answers the test expects (a lockout's 429, a dead
        link's 410); their requests and the console line Chromium logs for
        each ("Failed to load resource: ... status of 429") are not failures.
        """
        self.screenshot(label)
        # Evaluated through the DevTools protocol: the page's CSP (no inline
        # script) stays on and still reports anything the site itself breaks.
        self.page.evaluate(AXE.read_text())
        result = self.page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations']})"
        )
        bad = [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"]][:5],
            }
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], f"{label}: accessibility violations {bad}"
        failures = [f for f in self.failed if int(f.split()[0]) not in allow_status]
        assert failures == [], f"{label}: failed requests {failures}"
        expected = tuple(f"status of {status} " for status in allow_status)
        console = [
            line
            for line in self.console
            if not (
                "Failed to load resource" in line and any(e in line for e in expected)
            )
        ]
        assert console == [], f"{label}: console {console}"
        return list(result["violations"])
