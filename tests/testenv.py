"""Pytest plugin loaded before Django: the environment every test run starts from.

Loaded with ``-p tests.testenv`` (pyproject addopts) so it runs before
pytest-django imports the settings. Real environment variables win, which is how
CI points the suite at PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import tempfile

# Never read a developer's .env (bin/run writes one at the project root): the
# tests configure everything they need here, and the settings tests start
# clean interpreters that must see only what they pass.
os.environ["DOTENV_PATH"] = ""

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# The key that wraps new values; rotation tests add and remove keys themselves.
os.environ.setdefault(
    "CREDENTIALS_KEYS",
    "test-key-1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
)
os.environ.setdefault("PROVIDERS_ALLOW_PRIVATE_IPS", "true")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# Tests write usage with usage.flush() when they assert on it; a periodic writer
# thread racing the test's own writes only makes shared-cache SQLite lock up.
os.environ.setdefault("USAGE_FLUSH_INTERVAL", "3600")
# The in-process live gateway writes with its own thread (a writer process
# would write to the database the settings name, not the test database);
# deployments (tests/gateway/deployment.py) start writer processes as
# production does.
os.environ.setdefault("USAGE_WRITER", "thread")
# Nothing is in flight in another process here: a budget counter rebuilds at once.
os.environ.setdefault("GATEWAY_BUDGET_REBUILD_WAIT", "0")
# Usage journals of this run stay out of the data directory, where a later
# run's recovery would import them into another database.
os.environ.setdefault("USAGE_JOURNAL_DIR", tempfile.mkdtemp(prefix="mg-journal-"))

# Under pytest-xdist (bin/test runs the suite on several workers) each worker
# gets its own Redis database, as it gets its own test database from
# pytest-django: limit counters, revocations and Celery queues are keyed by
# row ids, which restart in every worker's database, so workers sharing one
# Redis database would count each other's calls. Worker gwN of a run against
# database D uses D + 1 + N (mod 16, Redis's default number of databases).
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    from urllib.parse import urlsplit, urlunsplit

    _url = urlsplit(os.environ["REDIS_URL"])
    _base = int(_url.path.strip("/") or 0)
    _db = (_base + 1 + int(_worker[2:])) % 16
    os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{_db}"))

# pytest-xdist starts its workers with the controller's environment, so each
# worker needs a journal directory of its own: a test that looks for journal
# segments would otherwise see another worker's.
if _worker.startswith("gw"):
    os.environ["USAGE_JOURNAL_DIR"] = tempfile.mkdtemp(prefix=f"mg-journal-{_worker}-")
