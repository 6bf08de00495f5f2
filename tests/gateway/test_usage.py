"""The usage writer: batched inserts, one bad record never sinks a batch, and the
journal keeps what a killed process had not written, counted once."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import uuid
from decimal import Decimal

import orjson
from django.apps import apps as django_apps
from django.conf import settings

from gateway import usage
from gateway.models import ApiKey, UsageRecord
from gateway.tasks import recover_usage_journals
from tests.factories import ProviderFactory


def record(org_id: int, key_id: int, **extra) -> None:
    extra.setdefault("provider_id", None)
    usage.record(
        organization_id=org_id,
        user_id=None,
        api_key_id=key_id,
        model_id=None,
        endpoint="chat",
        model_name="m",
        input_tokens=11,
        output_tokens=7,
        cost=Decimal("0.000138"),
        latency_ms=5,
        status_code=200,
        **extra,
    )


def test_a_batch_is_written_with_every_field(transactional_db, world):
    key, _ = ApiKey.issue(organization=world.acme, user=None, name="k")
    usage.discard_queued()
    for _ in range(3):
        record(world.acme.pk, key.pk, stream=True, ttfb_ms=2)
    assert usage.flush() == 3
    rows = list(UsageRecord.objects.all())
    assert len(rows) == 3
    row = rows[0]
    assert (row.organization, row.api_key, row.stream, row.ttfb_ms) == (
        world.acme,
        key,
        True,
        2,
    )
    assert row.cost == Decimal("0.000138") and row.error_type == ""
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_record_that_no_longer_fits_is_dropped_alone(transactional_db, world):
    key, _ = ApiKey.issue(organization=world.acme, user=None, name="k")
    usage.discard_queued()
    record(world.acme.pk, key.pk)
    record(999_999, key.pk)  # its organization is gone
    record(world.acme.pk, key.pk)
    assert usage.flush() == 2
    assert UsageRecord.objects.count() == 2
    assert usage.queued() == 0


def test_a_journal_replayed_after_its_batch_was_written_counts_once(
    transactional_db, world
):
    key, _ = ApiKey.issue(organization=world.acme, user=None, name="k")
    usage.discard_queued()
    for _ in range(3):
        record(world.acme.pk, key.pk)
    segment = usage.journal_path()
    assert segment is not None
    journaled = segment.read_bytes()
    assert journaled.count(b"\n") == 3
    assert usage.flush() == 3
    assert not segment.exists(), "a committed segment was kept"
    # A process killed between its commit and the unlink leaves the segment.
    (settings.USAGE_JOURNAL_DIR / "99999-dead.jnl").write_bytes(journaled)
    assert usage.recover_journals() == 3
    assert UsageRecord.objects.count() == 3
    assert list(settings.USAGE_JOURNAL_DIR.glob("*.jnl")) == []


def test_the_journal_of_a_killed_process_is_imported_and_a_live_one_is_not(
    transactional_db, world
):
    key, _ = ApiKey.issue(organization=world.acme, user=None, name="k")
    usage.discard_queued()
    record(world.acme.pk, key.pk)  # this process's own segment: alive, locked
    script = (
        "import os, signal, django; django.setup()\n"
        "from decimal import Decimal\n"
        "from gateway import usage\n"
        "for _ in range(2):\n"
        f"    usage.record(organization_id={world.acme.pk}, api_key_id={key.pk},"
        " endpoint='chat', model_name='m', cost=Decimal('0.5'), status_code=200)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["USAGE_JOURNAL_DIR"] = str(settings.USAGE_JOURNAL_DIR)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=settings.BASE_DIR, timeout=60
    )
    assert done.returncode == -signal.SIGKILL
    # The periodic task (beat runs it every USAGE_RECOVERY_INTERVAL seconds).
    assert recover_usage_journals() == 2
    assert "recover-usage-journals" in settings.CELERY_BEAT_SCHEDULE
    rows = list(UsageRecord.objects.all())
    assert len(rows) == 2 and all(r.cost == Decimal("0.5") for r in rows)
    assert usage.flush() == 1  # ours, still queued and journaled
    assert UsageRecord.objects.count() == 3


def test_a_replayed_journal_keeps_the_organization_owning_the_provider(
    transactional_db, world
):
    """Attribution both ways survives a crash: the journal line carries both."""
    provider = ProviderFactory(organization=world.globex)
    key, _ = ApiKey.issue(organization=world.acme, user=None, name="k")
    usage.discard_queued()
    record(
        world.acme.pk,
        key.pk,
        provider_id=provider.pk,
        provider_organization_id=world.globex.pk,
    )
    segment = usage.journal_path()
    assert segment is not None
    journaled = segment.read_bytes()
    usage.discard_queued()
    (settings.USAGE_JOURNAL_DIR / "99998-dead.jnl").write_bytes(journaled)
    assert usage.recover_journals() == 1
    row = UsageRecord.objects.get()
    assert (row.organization, row.provider_organization) == (world.acme, world.globex)


def test_a_journal_line_from_before_the_field_gets_the_providers_organization(
    transactional_db, world
):
    provider = ProviderFactory(organization=world.globex)
    key, _ = ApiKey.issue(organization=world.acme, user=None, name="k")
    line = {
        "organization_id": world.acme.pk,
        "api_key_id": key.pk,
        "provider_id": provider.pk,
        "endpoint": "chat",
        "model_name": "m",
        "status_code": 200,
        "created_at": "2026-11-01T10:00:00+00:00",
        "uuid": str(uuid.uuid4()),
    }
    (settings.USAGE_JOURNAL_DIR / "99997-old.jnl").write_bytes(
        orjson.dumps(line) + b"\n"
    )
    assert usage.recover_journals() == 1
    assert UsageRecord.objects.get().provider_organization == world.globex


def test_the_migration_backfills_the_providers_organization(transactional_db, world):
    provider = ProviderFactory(organization=world.globex)
    served = UsageRecord.objects.create(
        organization=world.acme, provider=provider, endpoint="chat",
        model_name="m", status_code=200,
    )  # fmt: skip
    orphan = UsageRecord.objects.create(
        organization=world.acme, endpoint="chat", model_name="m", status_code=200
    )
    migration = importlib.import_module(
        "gateway.migrations.0007_usage_provider_organization_backfill"
    )
    migration.backfill_provider_organization(django_apps, None)
    served.refresh_from_db()
    orphan.refresh_from_db()
    assert served.provider_organization == world.globex
    assert orphan.provider_organization is None


def test_the_line_about_a_dropped_record_names_its_call(
    transactional_db, world, console
):
    """The writer runs outside any call, but its line about one record carries
    that record's request id (issue 14: every log line about a call)."""
    key, _ = ApiKey.issue(organization=world.acme, user=None, name="k")
    usage.discard_queued()
    record(world.acme.pk, key.pk, request_id="kept-call-1")
    record(999_999, key.pk, request_id="lost-call-2")  # its organization is gone
    assert usage.flush() == 1
    (line,) = [
        line for line in console.getvalue().splitlines() if "dropped a usage" in line
    ]
    assert "[lost-call-2] dropped a usage record" in line, line


def test_a_process_forgets_the_segments_its_writer_imported(tmp_path):
    """In a web process the writer process imports the released segments
    without telling it: what it remembers of them stays bounded."""
    from pathlib import Path

    from gateway.journal import Journal

    journal = Journal(tmp_path)
    for n in range(500):
        journal.append({"n": n})
        journal.release()
        for path in list(journal.released):
            Path(path).unlink(missing_ok=True)  # as the writer process does
    assert len(journal.released) <= 65
    assert journal.pending() == 0
