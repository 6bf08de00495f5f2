"""Gateways run as production runs them, for fault tests: real processes.

``Deployment`` starts uvicorn subprocesses (``config.asgi``, ``DEBUG=false``,
lifespan on) against either this test run's PostgreSQL database or, for the
embedded platform, a SQLite file of its own in a temporary ``DATA_DIR``; with
or without a Redis URL. Seeding and counting run in subprocesses too (this
module's command line), so they see exactly the database the gateways use::

    python -m tests.gateway.deployment seed <upstream base URL> <rpm>
    python -m tests.gateway.deployment count
    python -m tests.gateway.deployment budget <USD or None> <key TPM or None>
    python -m tests.gateway.deployment spend
    python -m tests.gateway.deployment reconcile

``RedisServer`` is a private redis-server on a free loopback port that a test
may kill and restart (never the shared one).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    from tests.fakes.server import free_port as pick

    return pick()


@dataclass
class Replica:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def v1(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def kill(self) -> None:
        """SIGKILL: no atexit, no lifespan shutdown, no writer flush."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Deployment:
    data_dir: Path
    database_url: str
    redis_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    replicas: list[Replica] = field(default_factory=list)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(40))

    @classmethod
    def create(
        cls, tmp: Path, *, postgres: bool, redis_url: str = "", **extra: str
    ) -> Deployment:
        """A migrated database: this run's PostgreSQL one, or a new SQLite file."""
        data_dir = tmp / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        if postgres:
            from django.db import connection

            db = connection.settings_dict
            url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        else:
            url = f"sqlite:///{data_dir / 'modelgate.sqlite3'}"
        deployment = cls(data_dir, url, redis_url, dict(extra))
        if not postgres:
            deployment.run("manage.py", "migrate", "--noinput", "-v", "0")
        return deployment

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": self.secret_key,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATA_DIR": str(self.data_dir),
            "USAGE_JOURNAL_DIR": str(self.data_dir / "usage-journal"),
            "USAGE_WRITER": "process",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "PYTHONUNBUFFERED": "1",
            **self.extra,
        }
        if not self.redis_url:
            env["CELERY_BROKER_URL"] = "filesystem://"
            env.pop("CELERY_RESULT_BACKEND", None)
        return env

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def seed(self, upstream_url: str, rpm: int | None) -> str:
        """An OpenAI-type provider on the fake, a model, and a key; its secret."""
        out = self.run("-m", "tests.gateway.deployment", "seed", upstream_url, str(rpm))
        return str(json.loads(out.strip().splitlines()[-1])["key"])

    def count(self) -> dict[str, Any]:
        return self.command("count")

    def command(self, *args: str) -> dict[str, Any]:
        """This module's command line in the deployment's environment (JSON out)."""
        out = self.run("-m", "tests.gateway.deployment", *args)
        return dict(json.loads(out.strip().splitlines()[-1]))

    def start(self, key: str, **extra: str) -> Replica:
        """One more gateway process; returns once it answers /v1/models."""
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application",
             "--host", "127.0.0.1", "--port", str(port), "--lifespan", "on",
             "--no-access-log", "--log-level", "warning",
             "--http", "config.http_protocol:HttpToolsProtocol"],
            cwd=ROOT,
            env={**self.env, **extra},
        )  # fmt: skip
        replica = Replica(port, process)
        self.replicas.append(replica)
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the gateway exited at start-up"
            try:
                answer = httpx.get(
                    f"{replica.v1}/models",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=5,
                )
                if answer.status_code == 200:
                    return replica
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()


class RedisServer:
    """A private redis-server on a free port; kill() and start() at will."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.dir),
             "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        import redis

        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.5).ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


# -- the command line (runs inside the deployment's environment) -----------------


def _seed(upstream_url: str, rpm: str) -> dict[str, Any]:
    from accounts.models import Membership, Organization, User
    from gateway.models import ApiKey
    from models_catalog.models import AIModel, Grant
    from providers.models import Provider

    org = Organization.objects.create(slug="faults", name="Faults")
    user = User.objects.create_user(username="faults-user", password=None)
    Membership.objects.create(user=user, organization=org)
    provider = Provider(
        organization=org,
        name="fake-openai",
        provider_type="openai",
        endpoint=f"{upstream_url}/v1",
        auth_method="bearer",
    )
    provider.seal("credentials", {"api_key": "sk-test-key"})
    provider.save()
    model = AIModel.objects.create(
        provider=provider, organization=org, model_id="gpt-4o-mini"
    )
    Grant.objects.create(model=model, organization=org)
    cap = None if rpm == "None" else int(rpm)
    _key, secret = ApiKey.issue(
        organization=org, user=user, name="faults", requests_per_minute=cap
    )
    return {"key": secret}


def _budget(amount: str, key_tpm: str) -> dict[str, Any]:
    """Prices on the seeded model ($3/$15 per million), an organization budget
    of ``amount`` USD a month, and the key's tokens-per-minute cap."""
    from decimal import Decimal

    from accounts.models import Organization
    from gateway.models import ApiKey, Budget
    from models_catalog.models import AIModel

    org = Organization.objects.get(slug="faults")
    AIModel.objects.filter(organization=org).update(
        input_cost_per_million=3, output_cost_per_million=15
    )
    ApiKey.objects.filter(organization=org).update(
        tokens_per_minute=None if key_tpm == "None" else int(key_tpm)
    )
    budget = None
    if amount != "None":
        budget = Budget.objects.create(
            organization=org, scope="organization", amount=Decimal(amount)
        )
    return {"budget": budget.pk if budget else None}


def _spend() -> dict[str, Any]:
    """The usage records' cost and tokens, and each budget's Redis counter."""
    from django.conf import settings
    from django.db.models import Count, Sum

    from gateway.budgets.applicable import nanos, ref_of
    from gateway.models import Budget, UsageRecord

    sums = UsageRecord.objects.aggregate(
        cost=Sum("cost"), n=Count("id"), tokens_in=Sum("input_tokens")
    )
    counters: dict[str, Any] = {}
    if settings.REDIS_URL:
        import redis
        from django.utils import timezone

        client = redis.Redis.from_url(settings.REDIS_URL)
        for budget in Budget.objects.all():
            ref = ref_of(budget)
            start, _ = ref.bounds(timezone.now())
            total = client.hget(ref.counter_key(start), "total")
            counters[str(budget.pk)] = None if total is None else int(total)
    return {
        "cost_nanos": nanos(sums["cost"] or 0),
        "records": sums["n"],
        "counters": counters,
    }


def _reconcile() -> dict[str, Any]:
    from gateway.budgets.reconcile import reconcile

    return {"corrected": reconcile()}


def _count() -> dict[str, Any]:
    from django.db.models import Count

    from gateway.models import UsageRecord

    rows = UsageRecord.objects.all()
    statuses = dict(rows.values_list("status_code").annotate(n=Count("id")).order_by())
    return {
        "records": rows.count(),
        "uuids": rows.values("uuid").distinct().count(),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if argv[0] == "seed":
        result = _seed(argv[1], argv[2])
    elif argv[0] == "count":
        result = _count()
    elif argv[0] == "budget":
        result = _budget(argv[1], argv[2])
    elif argv[0] == "spend":
        result = _spend()
    elif argv[0] == "reconcile":
        result = _reconcile()
    else:
        raise SystemExit(f"unknown command {argv[0]}")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
