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
