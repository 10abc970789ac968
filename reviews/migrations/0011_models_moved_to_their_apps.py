"""The moved models leave the reviews app's state (their tables were renamed earlier; nothing here touches the database)."""


import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('integrity', '0001_initial'),
        ('audit', '0001_initial'),
        ('privacy', '0001_initial'),
        ('lifecycle', '0001_initial'),
        ('lms', '0001_initial'),
        ('monitoring', '0002_incidents_and_evidence_from_reviews'),
        ('reviews', '0010_move_tables_out'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='auditevent',
                    name='actor',
                ),
                migrations.RemoveField(
                    model_name='auditevent',
                    name='course',
                ),
                migrations.RemoveField(
                    model_name='auditevent',
                    name='session',
                ),
                migrations.RemoveField(
                    model_name='breakglassgrant',
                    name='approved_by',
                ),
                migrations.RemoveField(
                    model_name='breakglassgrant',
                    name='requested_by',
                ),
                migrations.RemoveField(
                    model_name='breakglassgrant',
                    name='session',
                ),
                migrations.RemoveField(
                    model_name='erasurerequest',
                    name='decided_by',
                ),
                migrations.RemoveField(
                    model_name='erasurerequest',
                    name='institution',
                ),
                migrations.RemoveField(
                    model_name='erasurerequest',
                    name='requested_by',
                ),
                migrations.RemoveField(
                    model_name='erasurerequest',
                    name='student',
                ),
                migrations.RemoveField(
                    model_name='evidence',
                    name='incident',
                ),
                migrations.RemoveField(
                    model_name='evidence',
                    name='session',
                ),
                migrations.RemoveField(
                    model_name='frameobservation',
                    name='session',
                ),
                migrations.RemoveField(
                    model_name='incident',
                    name='session',
                ),
                migrations.AlterField(
                    model_name='reviewdecision',
                    name='incident',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='decisions', to='monitoring.incident'),
                ),
                migrations.DeleteModel(
                    name='IntegrityCheckpoint',
                ),
                migrations.DeleteModel(
                    name='IntegrityLeaf',
                ),
                migrations.RemoveField(
                    model_name='originalframe',
                    name='session',
                ),
                migrations.RemoveField(
                    model_name='sessionkey',
                    name='session',
                ),
                migrations.RemoveField(
                    model_name='shredrecord',
                    name='actor',
                ),
                migrations.RemoveField(
                    model_name='shredrecord',
                    name='exam',
                ),
                migrations.RemoveField(
                    model_name='spooledevidence',
                    name='session',
                ),
                migrations.DeleteModel(
                    name='AuditEvent',
                ),
                migrations.DeleteModel(
                    name='BreakGlassGrant',
                ),
                migrations.DeleteModel(
                    name='ErasureRequest',
                ),
                migrations.DeleteModel(
                    name='Evidence',
                ),
                migrations.DeleteModel(
                    name='FrameObservation',
                ),
                migrations.DeleteModel(
                    name='Incident',
                ),
                migrations.DeleteModel(
                    name='OriginalFrame',
                ),
                migrations.DeleteModel(
                    name='SessionKey',
                ),
                migrations.DeleteModel(
                    name='ShredRecord',
                ),
                migrations.DeleteModel(
                    name='SpooledEvidence',
                ),
            ],
        ),
    ]
