"""The provider-organization migrations on a table with rows (0005, 0007, 0008).

The column comes in one transaction (0005); the backfill (0007) commits batch
by batch and the index (0008) is built after it, CONCURRENTLY on PostgreSQL, so
a large usage table is never locked against the gateway's inserts for the
whole run. Each can run again after failing half-way: the backfill resumes, and
an invalid index left by a failed concurrent build is replaced.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from gateway.models import UsageRecord
from tests.factories import OrganizationFactory, ProviderFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("gateway", "0004_usage_rollups")]
BACKFILL = "0007_usage_provider_organization_backfill"
INDEXED = "0008_usage_provider_organization_index"
INDEX = "usage_provider_org_time_idx"


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


def _leaf() -> list[tuple[str, str]]:
    return [
        key
        for key in MigrationExecutor(connection).loader.graph.leaf_nodes()
        if key[0] == "gateway"
    ]


def _constraints() -> dict[str, Any]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(
            cursor, UsageRecord._meta.db_table
        )


def _records(acme: Any, globex: Any) -> list[UsageRecord]:
    acme_provider = ProviderFactory(organization=acme)
    globex_provider = ProviderFactory(organization=globex)
    return [
        UsageRecord.objects.create(
            organization=globex,
            provider=provider,
            endpoint="chat",
            model_name="m",
            status_code=200,
        )
        for provider in [acme_provider] * 3 + [globex_provider] * 2 + [None]
    ]


def test_the_backfill_runs_in_batches_then_the_index_and_both_reverse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backfill = importlib.import_module(f"gateway.migrations.{BACKFILL}")
    indexed = importlib.import_module(f"gateway.migrations.{INDEXED}")
    assert backfill.Migration.atomic is False and indexed.Migration.atomic is False
    acme, globex = OrganizationFactory(), OrganizationFactory()
    made = _records(acme, globex)
    _migrate(BEFORE)
    assert INDEX not in _constraints()
    monkeypatch.setattr(backfill, "BATCH", 2)
    with CaptureQueriesContext(connection) as queries:
        _migrate([("gateway", INDEXED)])
    owners = dict(
        UsageRecord.objects.filter(pk__in=[r.pk for r in made]).values_list(
            "pk", "provider_organization_id"
        )
    )
    assert [owners[r.pk] for r in made] == [acme.pk] * 3 + [globex.pk] * 2 + [None]
    sql = [q["sql"] for q in queries]
    updates = [i for i, s in enumerate(sql) if s.startswith("UPDATE")]
    built = [i for i, s in enumerate(sql) if INDEX in s and "CREATE INDEX" in s]
    assert len(updates) == 3  # six ids, two per batch
    assert len(built) == 1 and built[0] > updates[-1]  # indexed after the backfill
    if connection.vendor == "postgresql":
        assert "CREATE INDEX CONCURRENTLY" in sql[built[0]]
    constraints = _constraints()
    assert constraints[INDEX]["columns"] == ["provider_organization_id", "created_at"]
    # The leading column of that index serves the foreign key: no second index.
    alone = [
        name
        for name, c in constraints.items()
        if c["index"] and c["columns"] == ["provider_organization_id"]
    ]
    assert alone == []

    _migrate(BEFORE)  # reversible
    assert INDEX not in _constraints()
    assert UsageRecord.objects.count() == len(made)
    _migrate(_leaf())
    assert INDEX in _constraints()


def test_the_index_migration_runs_again_after_a_failed_concurrent_build() -> None:
    """Second review, finding 1: a failed CONCURRENTLY build leaves an INVALID
    index of the same name; the next ``migrate`` must replace it, not fail."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent builds and invalid indexes are PostgreSQL's")
    acme, globex = OrganizationFactory(), OrganizationFactory()
    _records(acme, globex)
    _migrate([("gateway", BACKFILL)])
    assert INDEX not in _constraints()
    table = UsageRecord._meta.db_table
    with connection.cursor() as cursor:
        # A unique build over duplicate values fails and leaves the index INVALID.
        with pytest.raises(Exception, match="could not create unique index"):
            cursor.execute(
                f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON {table} (endpoint)"
            )
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c"
            " ON c.oid = i.indexrelid WHERE c.relname = %s",
            [INDEX],
        )
        assert cursor.fetchone() == (False,)
    _migrate([("gateway", INDEXED)])
    constraints = _constraints()
    assert constraints[INDEX]["columns"] == ["provider_organization_id", "created_at"]
    assert constraints[INDEX]["unique"] is False
    _migrate(_leaf())


def test_the_backfill_resumes_where_a_stopped_run_left_off() -> None:
    """Rows a stopped run filled keep their value; the rest are filled."""
    acme, globex = OrganizationFactory(), OrganizationFactory()
    made = _records(acme, globex)
    _migrate(BEFORE)
    _migrate([("gateway", "0006_usage_source_admin_test")])
    first = made[0]
    UsageRecord.objects.filter(pk=first.pk).update(provider_organization=acme)
    _migrate([("gateway", BACKFILL)])
    owners = dict(
        UsageRecord.objects.filter(pk__in=[r.pk for r in made]).values_list(
            "pk", "provider_organization_id"
        )
    )
    assert [owners[r.pk] for r in made] == [acme.pk] * 3 + [globex.pk] * 2 + [None]
    _migrate(_leaf())
