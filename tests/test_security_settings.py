"""Production security settings come from the environment; check --deploy is clean.

Every test runs in a fresh interpreter with only the variables it names, as a
deployment would (``tests/test_settings.py`` does the same for start-up rules).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
KEY = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
# check --deploy wants 50+ characters with 5+ distinct ones.
SECRET = "prod-secret-for-this-test-only-0123456789-abcdefghijklmnop"

# The production values documented in the README and .env.example.
PRODUCTION = {
    "SECRET_KEY": SECRET,
    "CREDENTIALS_KEYS": KEY,
    "ALLOWED_HOSTS": "modelgate.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://modelgate.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "TRUSTED_PROXY_COUNT": "1",
}


def run(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATA_DIR": str(tmp_path / "data"),
            # Never a developer's .env (bin/run writes one): only what is given.
            "DOTENV_PATH": "",
            "PATH": "/usr/bin:/bin",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        PRODUCTION,
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_them_check_deploy_names_what_to_set(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        {"SECRET_KEY": SECRET, "CREDENTIALS_KEYS": KEY},
        tmp_path,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "security.W004" in output  # HSTS is opt-in
    assert "security.W008" in output  # so is the HTTPS redirect
    # cookies are Secure without being asked once DEBUG is off
    assert "security.W012" not in output
    assert "security.W016" not in output


RESPONSE_HEADERS = """
import json, django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client(HTTP_HOST="modelgate.example.com")
secure = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
plain = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="http")
cookie = secure.cookies["csrftoken"]
print(json.dumps({
    "status": secure.status_code,
    "headers": dict(secure.headers),
    "csrf_cookie_secure": bool(cookie["secure"]),
    "plain_status": plain.status_code,
    "plain_location": plain.headers.get("Location"),
    "session_cookie_secure": django.conf.settings.SESSION_COOKIE_SECURE,
    "session_cookie_httponly": django.conf.settings.SESSION_COOKIE_HTTPONLY,
}))
"""


def test_pages_carry_hsts_csp_and_secure_cookies_in_production(tmp_path):
    # As deployed: static files collected first (the pages link hashed names).
    collected = run(["manage.py", "collectstatic", "--noinput"], PRODUCTION, tmp_path)
    assert collected.returncode == 0, collected.stderr
    result = run(["-c", RESPONSE_HEADERS], PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    headers = seen["headers"]
    assert seen["status"] == 200
    assert headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert seen["csrf_cookie_secure"] is True
    assert seen["session_cookie_secure"] is True
    assert seen["session_cookie_httponly"] is True
    # plain HTTP behind the proxy is sent to HTTPS
    assert seen["plain_status"] == 301
    assert seen["plain_location"] == "https://modelgate.example.com/admin/login/"


def test_debug_keeps_cookies_usable_over_plain_http(tmp_path):
    result = run(
        [
            "-c",
            "import django; django.setup()\n"
            "from django.conf import settings as s\n"
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
            " s.SECURE_HSTS_SECONDS)",
        ],
        {"DEBUG": "true"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "0"]


def test_limits_are_read_from_the_environment(tmp_path):
    result = run(
        [
            "-c",
            "import django; django.setup()\n"
            "from django.conf import settings as s\n"
            "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds(),"
            " s.GATEWAY_AUTH_FAILURE_LIMIT, s.GATEWAY_AUTH_FAILURE_WINDOW,"
            " s.GATEWAY_CACHE_TTL, s.TRUSTED_PROXY_COUNT)",
        ],
        {
            "DEBUG": "true",
            "LOGIN_FAILURE_LIMIT": "7",
            "LOGIN_LOCKOUT_MINUTES": "30",
            "GATEWAY_AUTH_FAILURE_LIMIT": "100",
            "GATEWAY_AUTH_FAILURE_WINDOW": "10",
            "GATEWAY_CACHE_TTL": "0.5",
            "TRUSTED_PROXY_COUNT": "2",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7", "1800.0", "100", "10", "0.5", "2"]


def test_a_cache_ttl_that_would_break_the_two_second_bound_is_refused(tmp_path):
    result = run(
        ["-c", "import django; django.setup()"],
        {"DEBUG": "true", "GATEWAY_CACHE_TTL": "30"},
        tmp_path,
    )
    assert result.returncode != 0
    assert "GATEWAY_CACHE_TTL must be" in result.stderr
