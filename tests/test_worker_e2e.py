"""End to end with a real Celery worker process on Redis.

An org admin adds a provider in the admin; without further action the worker
checks its health and discovers its models, and the admin shows both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from models_catalog.models import AIModel
from providers.models import Provider
from tests.gateway import upstreams

pytestmark = pytest.mark.skipif(
    not (settings.REDIS_URL and connection.vendor == "postgresql"),
    reason="needs PostgreSQL and Redis (set DATABASE_URL and REDIS_URL), as CI does",
)


@pytest.fixture
def worker(transactional_db):
    yield from _worker()


@pytest.fixture
def worker_log(transactional_db, tmp_path):
    """A worker logging at DEBUG into a file: (process, path)."""
    path = tmp_path / "worker.log"
    with path.open("wb") as sink:
        for process in _worker(sink, "DEBUG"):
            yield process, path


def _worker(sink=None, level: str = "WARNING"):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": level,
    }
    queue = f"e2e-{os.getpid()}"
    # Tasks the worker queues itself (discovery after a passing health check)
    # go to the default queue, which every production worker consumes too.
    queues = f"{queue},{celery_app.conf.task_default_queue}"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--pool", "solo", "--queues", queues, "--loglevel", level,
            "--without-heartbeat", "--without-gossip", "--without-mingle",
        ],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=sink,
        stderr=subprocess.STDOUT if sink else None,
    )  # fmt: skip
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    try:
        yield process
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous
        process.terminate()
        process.wait(20)


def wait_for(predicate, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "the worker did not get there in time"
        time.sleep(0.2)


def test_a_provider_saved_in_the_admin_is_checked_and_discovered(worker, world, client):
    with upstreams.start("openai") as fake:
        client.force_login(world.alice)  # axes: a password sign-in needs a request
        response = client.post(
            "/admin/providers/provider/add/",
            {
                "organization": world.acme.pk,
                "name": "from-admin",
                "provider_type": "openai",
                "endpoint": fake.endpoint,
                "auth_method": "bearer",
                "api_key": "sk-test-key",
                "status": "active",
                "priority": 100,
                "timeout_connect": 5,
                "timeout_first_byte": 60,
                "timeout_total": 600,
            },
        )
        assert response.status_code == 302
        provider = Provider.objects.get(name="from-admin")
        wait_for(
            lambda: (
                Provider.objects.get(pk=provider.pk).health == "available"
                and AIModel.objects.filter(provider=provider).count() == 4
            )
        )
    page = client.get(f"/admin/providers/provider/{provider.pk}/change/").content
    assert b"Available" in page and b"OK in" in page
    listing = client.get(
        f"/admin/models_catalog/aimodel/?provider__id__exact={provider.pk}"
    ).content.decode()
    for model_id in ("gpt-4o-mini", "gpt-4o", "o3-mini", "text-embedding-3-small"):
        assert model_id in listing
    assert worker.poll() is None  # the worker is still up: nothing crashed it


def test_the_worker_log_and_the_result_backend_hold_no_credential(worker_log, world):
    """An Anthropic-type upstream that echoes its headers in 401 and 429 answers:
    the worker's log (DEBUG) and Redis hold the errors, never the key."""
    import redis

    from models_catalog.tasks import discover_models
    from providers.tasks import check_provider_health
    from tests.fakes.echo import make_app
    from tests.fakes.server import serve

    process, log = worker_log
    key = f"sk-SECRET-anthropic-{os.getpid()}-{time.time_ns()}"
    backend = redis.Redis.from_url(settings.REDIS_URL)
    before = set(backend.scan_iter("celery-task-meta-*"))
    app = make_app("anthropic")
    with serve(app) as server:
        provider = Provider(
            organization=world.acme,
            name="echoing",
            provider_type="anthropic",
            endpoint=server.url,
            auth_method="x_api_key",
        )
        provider.seal("credentials", {"api_key": key})
        provider.seal("provider_config", {})
        provider.save()
        for status in (401, 429):
            app["state"]["mode"] = ("http", status, "json")
            seen = app["state"]["requests"]
            check_provider_health.delay(provider.pk)
            discover_models.delay(provider.pk)
            wait_for(lambda seen=seen: app["state"]["requests"] >= seen + 2)
            wait_for(lambda: b"retry" in log.read_bytes() or status == 401)
        time.sleep(1)  # let the worker write what it logs after the last call
    process.terminate()
    process.wait(20)
    text = log.read_bytes()
    assert key.encode() not in text
    assert b"[redacted]" in text  # the echoed errors were logged, scrubbed
    try:
        stored = set(backend.scan_iter("celery-task-meta-*")) - before
        for name in stored:
            assert key.encode() not in (backend.get(name) or b"")
    finally:
        backend.close()
    assert stored == set()  # no result is stored at all (CELERY_TASK_IGNORE_RESULT)
