"""Migration 0005 on a table with rows: backfilled in batches, then indexed, reversible.

The migration is not one transaction: each batch's UPDATE commits on its own
and the index is built after them (CONCURRENTLY on PostgreSQL), so a large
usage table is never locked against the gateway's inserts for the whole run.
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

NAME = "0005_usage_provider_organization"
BEFORE = [("gateway", "0004_usage_rollups")]
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


def test_0005_backfills_in_batches_then_indexes_and_reverses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = importlib.import_module(f"gateway.migrations.{NAME}")
    assert module.Migration.atomic is False
    acme, globex = OrganizationFactory(), OrganizationFactory()
    acme_provider = ProviderFactory(organization=acme)
    globex_provider = ProviderFactory(organization=globex)
    made = [
        UsageRecord.objects.create(
            organization=globex,
            provider=provider,
            endpoint="chat",
            model_name="m",
            status_code=200,
        )
        for provider in [acme_provider] * 3 + [globex_provider] * 2 + [None]
    ]
    _migrate(BEFORE)
    assert INDEX not in _constraints()
    monkeypatch.setattr(module, "BATCH", 2)
    with CaptureQueriesContext(connection) as queries:
        _migrate([("gateway", NAME)])
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
