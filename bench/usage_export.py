"""Peak memory of the admin's usage CSV export over a large table (PostgreSQL).

    .venv/bin/python -m bench.usage_export                  # 1,000,000 rows
    .venv/bin/python -m bench.usage_export --rows 100000

Uses ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/mg_export_bench``): creates and migrates
it, and (re)generates the rows with ``bench.dashboard``'s generator when their
count differs (one organization, ``--rows`` records over 30 days). Then it
starts one uvicorn worker as production does (``DEBUG`` off), signs a
superuser in, downloads ``/admin/gateway/usagerecord/export.csv`` as a stream,
and prints the worker's peak resident memory (``VmHWM``) after a warm-up list
request and after the export, with the rows, bytes and seconds received. The
export streams in keyset-paged chunks (``gateway.usage_export``), so the peak
should not grow with the row count; rerun with a smaller ``--rows`` to compare.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from base64 import b64encode
from hashlib import sha256
from pathlib import Path

from bench.dashboard import ORG, _generate, _setup

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mg_export_bench"
ROOT = Path(__file__).resolve().parent.parent
EXPORT = "/admin/gateway/usagerecord/export.csv"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _session_cookie(secret_key: str) -> str:
    """A signed-in superuser's session, made here and stored in the database."""
    from django.conf import settings
    from django.test import Client

    from accounts.models import User

    user, _ = User.objects.get_or_create(
        username="export-bench-admin",
        defaults={"is_staff": True, "is_superuser": True},
    )
    settings.SECRET_KEY = secret_key  # the server's, for the session's auth hash
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    _setup(url)

    from gateway.models import UsageRecord

    if UsageRecord.objects.filter(organization__slug=ORG).count() != args.rows:
        print(f"Generating {args.rows:,} usage rows...", flush=True)
        _generate(args.rows, 0)
    secret_key = secrets.token_urlsafe(50)
    raw = secrets.token_bytes(32)
    kid = "k" + sha256(b"modelgate-kek-id:" + raw).hexdigest()[:12]
    cookie = _session_cookie(secret_key)

    import httpx

    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="mg-export-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "DOTENV_PATH": "",
        "SECRET_KEY": secret_key,
        "CREDENTIALS_KEYS": f"{kid}:{b64encode(raw).decode()}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATA_DIR": str(data_dir),
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--no-access-log", "--lifespan", "on", "--log-level", "warning",
         "--http", "config.http_protocol:HttpToolsProtocol"],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/accounts/login/", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print("the server did not start", file=sys.stderr)
                    return 1
                time.sleep(0.2)
        cookies = {"sessionid": cookie}
        with httpx.Client(base_url=base, cookies=cookies, timeout=600) as http:
            listing = http.get("/admin/gateway/usagerecord/")
            if listing.status_code != 200:
                print(f"the list answered {listing.status_code}", file=sys.stderr)
                return 1
            before = _peak_rss_mb(server.pid)
            started = time.perf_counter()
            first_byte = None
            received = lines = 0
            with http.stream("GET", EXPORT) as answer:
                for chunk in answer.iter_bytes():
                    if first_byte is None:
                        first_byte = time.perf_counter() - started
                    received += len(chunk)
                    lines += chunk.count(b"\n")
            took = time.perf_counter() - started
            after = _peak_rss_mb(server.pid)
        print(
            f"export of {lines - 1:,} rows: {received / 1e6:,.1f} MB in {took:.1f} s "
            f"(first byte after {first_byte or 0:.2f} s, "
            f"{(lines - 1) / took:,.0f} rows/s)"
        )
        print(
            f"worker peak RSS: {before:,.1f} MB after the list, {after:,.1f} MB "
            f"after the export (+{after - before:,.1f} MB)"
        )
        return 0
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
