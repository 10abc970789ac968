"""Rename the tables of the models that moved to their own apps (one concern per app).

Database only: the models leave this app's state in a later migration, once their new
apps have taken them over (state only, no data copied). Renaming keeps every row, key and
constraint; PostgreSQL's triggers on the integrity tables follow their table.
"""

from django.db import migrations

# The append-only triggers of the integrity tables (0007) are named after their table.
TRIGGERS = [
    (f"{old}_{suffix}", new, f"{new}_{suffix}")
    for old, new in [
        ("reviews_integrityleaf", "integrity_integrityleaf"),
        ("reviews_integritycheckpoint", "integrity_integritycheckpoint"),
    ]
    for suffix in ("no_update_delete", "no_truncate")
]


def rename_triggers(apps, schema_editor, *, back=False):
    if schema_editor.connection.vendor != "postgresql":
        return
    for old_name, table, new_name in TRIGGERS:
        if back:
            old_name, new_name = new_name, old_name
        schema_editor.execute(
            f"ALTER TRIGGER {old_name} ON {table} RENAME TO {new_name}"
            if not back else
            f"ALTER TRIGGER {old_name} ON {table.replace('integrity_', 'reviews_', 1)} "
            f"RENAME TO {new_name}"
        )


def rename_triggers_back(apps, schema_editor):
    rename_triggers(apps, schema_editor, back=True)


class Migration(migrations.Migration):

    dependencies = [
        ('reviews', '0009_frame_observation_and_appeal'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
        migrations.AlterModelTable(name='incident', table='monitoring_incident'),
        migrations.AlterModelTable(name='evidence', table='monitoring_evidence'),
        migrations.AlterModelTable(name='frameobservation', table='monitoring_frameobservation'),
        migrations.AlterModelTable(name='spooledevidence', table='monitoring_spooledevidence'),
        migrations.AlterModelTable(name='auditevent', table='audit_auditevent'),
        migrations.AlterModelTable(name='integrityleaf', table='integrity_integrityleaf'),
        migrations.AlterModelTable(name='integritycheckpoint', table='integrity_integritycheckpoint'),
        migrations.AlterModelTable(name='sessionkey', table='privacy_sessionkey'),
        migrations.AlterModelTable(name='shredrecord', table='lifecycle_shredrecord'),
        migrations.AlterModelTable(name='erasurerequest', table='lifecycle_erasurerequest'),
        migrations.AlterModelTable(name='originalframe', table='lifecycle_originalframe'),
        migrations.AlterModelTable(name='breakglassgrant', table='lifecycle_breakglassgrant'),
            ],
        ),
        migrations.RunPython(rename_triggers, rename_triggers_back),
    ]
