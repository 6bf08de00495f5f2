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
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    queue = f"e2e-{os.getpid()}"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--pool", "solo", "--queues", queue, "--loglevel", "WARNING",
            "--without-heartbeat", "--without-gossip", "--without-mingle",
        ],
        env=env,
        cwd=settings.BASE_DIR,
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
