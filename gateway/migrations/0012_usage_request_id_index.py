"""The index the usage admin's request id search uses, built without blocking inserts.

The same operation as the provider owner's index (0008): CONCURRENTLY on
PostgreSQL, replacing an invalid leftover of a failed build.
"""

from importlib import import_module

from django.db import migrations, models

AddIndexConcurrentlyOnPostgreSQL = import_module(
    "gateway.migrations.0008_usage_provider_organization_index"
).AddIndexConcurrentlyOnPostgreSQL


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("gateway", "0011_usage_request_id"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="usagerecord",
            index=models.Index(fields=["request_id"], name="usage_request_id_idx"),
        ),
    ]
