"""The benchmark harness's CI smoke run: fake upstream + Modelgate, no errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_runs_clean(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--run-dir",
            str(tmp_path / "run"),
            "--results-dir",
            str(tmp_path / "results"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Modelgate benchmark" in done.stdout
    assert "modelgate" in done.stdout and "direct" in done.stdout
    assert list((tmp_path / "results").glob("bench-*.json"))


def test_the_dashboard_bench_runs_on_a_small_table(tmp_path):
    """``python -m bench.dashboard`` on 3,000 rows: the generator's SQL still
    fits the usage table (a merge once left out a new NOT NULL column)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.postgresql":
        host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        url = f"postgres://{db['USER']}@{host}/{db['NAME']}_dash_smoke"
    else:
        url = f"sqlite:///{tmp_path / 'dash.sqlite3'}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "BENCH_DATABASE_URL": url,
    }
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.dashboard", "--regenerate"),
            *("--rows", "3000", "--noise", "300", "--runs", "1"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "org admin 30d" in done.stdout and "member 30d" in done.stdout
