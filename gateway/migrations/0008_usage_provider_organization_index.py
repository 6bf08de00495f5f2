"""The provider owner's usage index, built without blocking the gateway's inserts.

CONCURRENTLY on PostgreSQL (no transaction, so the migration is not atomic);
other databases (SQLite) build it the plain way. A build that failed half-way
leaves an INVALID index of the same name behind, which would make the next run
fail: it is dropped first, and a valid one is kept as it is, so ``migrate``
can always simply be run again.
"""

from django.db import migrations, models

INDEX = "usage_provider_org_time_idx"


def _index_validity(schema_editor, name):
    """True/False for a valid/invalid PostgreSQL index of that name, None if none."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s AND pg_catalog.pg_table_is_visible(c.oid)",
            [name],
        )
        row = cursor.fetchone()
    return None if row is None else bool(row[0])


class AddIndexConcurrentlyOnPostgreSQL(migrations.AddIndex):
    """AddIndex, CONCURRENTLY on PostgreSQL, replacing an invalid leftover."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.add_index(model, self.index)
            return
        valid = _index_validity(schema_editor, self.index.name)
        if valid:
            return  # built by a run that stopped before it was recorded
        if valid is False:
            name = schema_editor.quote_name(self.index.name)
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        postgresql = schema_editor.connection.vendor == "postgresql"
        schema_editor.remove_index(
            model, self.index, **({"concurrently": True} if postgresql else {})
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("gateway", "0007_usage_provider_organization_backfill"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="usagerecord",
            index=models.Index(
                fields=["provider_organization", "-created_at"], name=INDEX
            ),
        ),
    ]
