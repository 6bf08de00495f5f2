"""Cache invalidation across processes on the embedded platform (no Redis)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from django.conf import settings as django_settings

from gateway import state


def test_another_process_invalidation_reaches_this_one(settings, tmp_path):
    settings.REDIS_URL = ""
    settings.DATA_DIR = tmp_path
    state.reset_for_tests()
    gw = state.state()
    asyncio.run(gw.refresh())  # first poll records the version
    gw.keys.set("k", "cached")
    gw.next_poll = 0
    asyncio.run(gw.refresh())
    assert gw.keys.get("k") == "cached"  # nothing changed: the cache stays

    # Another process (the worker, or a second web process) saves something.
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
        "'config.settings'); django.setup(); from gateway.state import invalidate; "
        "invalidate()"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=django_settings.BASE_DIR,
        env={
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("REDIS_URL", "DATABASE_URL")
            },
            "DATA_DIR": str(tmp_path),
        },
    )
    gw.next_poll = 0
    asyncio.run(gw.refresh())
    assert gw.keys.get("k") is None
    state.reset_for_tests()
