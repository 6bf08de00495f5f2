"""The request id on usage records (a db_default: older processes insert without it)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('gateway', '0010_stored_responses'),
    ]

    operations = [
        migrations.AddField(
            model_name='usagerecord',
            name='request_id',
            field=models.CharField(blank=True, db_default='', default='', help_text='The x-request-id the gateway answered the call with.', max_length=128),
        ),
    ]
