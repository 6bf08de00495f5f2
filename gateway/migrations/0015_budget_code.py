"""Budget.code: a public UUID, so the management API addresses a budget by it.

Added nullable, filled row by row (one UUID each), then made unique.
"""

import uuid

from django.db import migrations, models


def fill_codes(apps, schema_editor):
    model = apps.get_model("gateway", "Budget")
    for row in model.objects.filter(code__isnull=True).only("pk"):
        row.code = uuid.uuid4()
        row.save(update_fields=["code"])


class Migration(migrations.Migration):
    dependencies = [("gateway", "0014_budgets")]

    operations = [
        migrations.AddField(
            model_name="budget",
            name="code",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(fill_codes, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="budget",
            name="code",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
