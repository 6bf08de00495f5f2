"""Usage records made before 0005: the organization owning their provider now.

Not one transaction: each batch commits on its own, so the usage table is never
locked against the gateway's inserts for the whole run, and a run stopped
half-way resumes where it stopped (it updates only rows still empty).
"""

from django.db import migrations
from django.db.models import Max, Min, OuterRef, Subquery

# Records updated per statement: each batch commits on its own (the migration
# is not atomic), so no UPDATE holds row locks on the whole usage table.
BATCH = 10_000


def backfill_provider_organization(apps, schema_editor):
    """Records made before this field: the organization of their provider now.

    In batches of ``BATCH`` consecutive ids, one UPDATE with a subquery each (a
    join in the database, never a row at a time); a record whose provider was
    deleted stays empty.
    """
    UsageRecord = apps.get_model("gateway", "UsageRecord")
    Provider = apps.get_model("providers", "Provider")
    owner = Provider.objects.filter(pk=OuterRef("provider_id")).values(
        "organization_id"
    )[:1]
    todo = UsageRecord.objects.filter(
        provider__isnull=False, provider_organization__isnull=True
    )
    ids = todo.aggregate(low=Min("pk"), high=Max("pk"))
    if ids["low"] is None:
        return
    for start in range(ids["low"], ids["high"] + 1, BATCH):
        todo.filter(pk__gte=start, pk__lt=start + BATCH).update(
            provider_organization_id=Subquery(owner)
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("gateway", "0006_usage_source_admin_test"),
        ("providers", "0004_provider_starter"),
    ]

    operations = [
        migrations.RunPython(
            backfill_provider_organization, migrations.RunPython.noop, elidable=True
        ),
    ]
