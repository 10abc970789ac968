"""Give every existing incident and review decision its own random uid.

Separate from the schema steps around it (nullable, then unique) so that tables with rows
migrate: AddField with a callable default would give every existing row the same value.
Reversible: going back just forgets the uids.
"""

import uuid

from django.db import migrations


def backfill(apps, schema_editor):
    for model_name in ("Incident", "ReviewDecision"):
        model = apps.get_model("reviews", model_name)
        for pk in model.objects.filter(uid__isnull=True).values_list("pk", flat=True).iterator():
            model.objects.filter(pk=pk).update(uid=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0002_record_uids_nullable"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
