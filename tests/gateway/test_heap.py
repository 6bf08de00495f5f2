"""The gateway's processes take their start-up objects out of the collector's way.

A web process (its ASGI lifespan's start-up) and a usage writer process
(``python -m gateway.usage_writer``), each in an interpreter of its own:
once started, what exists is frozen (``gc.freeze``: full collections no longer
walk Django, the URL patterns and the drivers) and the youngest generation is
collected after ``gateway.heap.YOUNG_THRESHOLD`` allocations (``gateway.heap``
says what it measured).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.heap import YOUNG_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]

WEB = """
import asyncio, gc, json
from config.asgi import application

async def main():
    inbox = asyncio.Queue()
    said = []
    async def send(message):
        said.append(message["type"])
    await inbox.put({"type": "lifespan.startup"})
    serving = asyncio.create_task(application({"type": "lifespan"}, inbox.get, send))
    while "lifespan.startup.complete" not in said:
        await asyncio.sleep(0.01)
    seen = {"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}
    await inbox.put({"type": "lifespan.shutdown"})
    await serving
    print(json.dumps(seen))

asyncio.run(main())
"""

WRITER = """
import gc, json
from gateway.usage_writer import main
main(["--parent", "1"])  # not its parent: one pass, then it returns
print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}))
"""


def run(code: str, tmp_path: Path) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "filesystem://",
        "USAGE_WRITER": "thread",
        "USAGE_JOURNAL_DIR": str(tmp_path / "journal"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_web_process_freezes_its_start_up_and_collects_young_objects_later(
    tmp_path,
):
    seen = run(WEB, tmp_path)
    # Django and the app: tens of thousands of objects, none walked again.
    assert seen["frozen"] > 20_000
    assert seen["threshold"][0] == YOUNG_THRESHOLD


def test_a_usage_writer_process_does_the_same(tmp_path):
    seen = run(WRITER, tmp_path)
    assert seen["frozen"] > 20_000
    assert seen["threshold"][0] == YOUNG_THRESHOLD
