"""Query counts and answer times on a scale-seeded database (a Django script).

Run by the harness after ``bench.seed --scale``::

    DJANGO_SETTINGS_MODULE=config.settings python -m bench.scale_report --out F

Reports, as JSON: ``/v1/models``' listing for the bench user (who sees about
1,000 models) - queries and time; and the admin changelists (providers, models,
API keys) as a superuser - status, queries and time. A changelist that is not
registered (404) is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

CHANGELISTS = {
    "providers": "/admin/providers/provider/",
    "models": "/admin/models_catalog/aimodel/",
    "api_keys": "/admin/gateway/apikey/",
}


def listing_report() -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Membership
    from gateway.listing import list_models_for
    from models_catalog.visibility import Principal

    membership = Membership.objects.get(
        user__username="bench-user", organization__slug="bench"
    )
    principal = Principal.for_membership(membership)
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        entries = list_models_for(principal)
        elapsed = time.perf_counter() - started
    return {
        "entries": len(entries),
        "queries": len(ctx.captured_queries),
        "ms": round(elapsed * 1000, 1),
    }


def admin_report() -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from accounts.models import User

    setup_test_environment()
    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = User.objects.create_superuser("bench-admin", password=None)
    client = Client()
    client.force_login(admin)
    out: dict[str, Any] = {}
    for name, url in CHANGELISTS.items():
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        if response.status_code == 404:
            out[name] = {"url": url, "skipped": "not registered in this checkout"}
            continue
        out[name] = {
            "url": url,
            "status": response.status_code,
            "queries": len(ctx.captured_queries),
            "ms": round(elapsed * 1000, 1),
            "bytes": len(response.content),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scale-database query report")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    report = {"v1_models_listing": listing_report(), "admin": admin_report()}
    Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
