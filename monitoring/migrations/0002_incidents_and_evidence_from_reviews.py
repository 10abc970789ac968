"""Take over models that lived in the reviews app: state only, their tables were renamed by reviews's migration (rows untouched)."""


import django.db.models.deletion
import django.utils.timezone
import privacy.fields
import privacy.storage
import uuid
from django.db import migrations, models



OLD_APP = 'reviews'
NEW_APP = 'monitoring'
MODELS = ['incident', 'evidence', 'frameobservation', 'spooledevidence']


def move_content_types(apps, schema_editor):
    """Keep the moved models' content types (and so their permissions and admin log)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if ContentType.objects.filter(app_label=OLD_APP, model=model).exists():
            ContentType.objects.filter(app_label=NEW_APP, model=model).delete()
            ContentType.objects.filter(app_label=OLD_APP, model=model).update(app_label=NEW_APP)


def move_content_types_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label=NEW_APP, model__in=MODELS).update(app_label=OLD_APP)


class Migration(migrations.Migration):

    dependencies = [
        ('reviews', '0010_move_tables_out'),
        ('exams', '0005_move_lms_tables'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('exams', '0004_api_keys_webhooks_lti'),
        ('monitoring', '0001_stream_tickets_receipts_live_state'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Incident',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('no_face', 'No face in view'), ('multiple_faces', 'More than one face'), ('looking_away', 'Looking away'), ('camera_blocked', 'Camera blocked or dark'), ('camera_frozen', 'Camera frozen'), ('speech', 'Speech'), ('camera_ended', 'Camera stopped'), ('tab_hidden', 'Left the exam tab'), ('window_blur', 'Left the exam window'), ('fullscreen_exit', 'Left full screen'), ('copy_paste', 'Copy, cut or paste'), ('context_menu', 'Opened the context menu'), ('page_reload', 'Reloaded the page')], max_length=32)),
                        ('severity', models.CharField(choices=[('low', 'Low'), ('medium', 'Medium'), ('high', 'High')], default='low', max_length=8)),
                        ('started_at', models.DateTimeField()),
                        ('ended_at', models.DateTimeField(blank=True, help_text='Empty while still open.', null=True)),
                        ('score', models.FloatField(default=0.0, help_text="The check's confidence, 0 to 1.")),
                        ('status', models.CharField(choices=[('pending', 'Pending review'), ('confirmed', 'Confirmed'), ('dismissed', 'Dismissed')], default='pending', max_length=16)),
                        ('uid', models.UUIDField(default=uuid.uuid4, editable=False, help_text="The row's identity in its ciphertexts' associated data.", unique=True)),
                        ('payload', privacy.fields.EncryptedBinaryField(aad_label='reviews.incident', help_text='Details for reviewers, usually JSON bytes (encrypted at rest).')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('session', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='incidents', to='exams.examsession')),
                    ],
                    options={
                        'ordering': ['session', 'started_at'],
                    },
                ),
                migrations.CreateModel(
                    name='Evidence',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.PositiveIntegerField(help_text="The frame's sequence number in the session.")),
                        ('captured_at', models.DateTimeField()),
                        ('image', models.FileField(max_length=255, storage=privacy.storage.evidence_storage, upload_to=privacy.storage.evidence_upload_to)),
                        ('content_type', models.CharField(default='image/jpeg', max_length=64)),
                        ('width', models.PositiveIntegerField(default=0)),
                        ('height', models.PositiveIntegerField(default=0)),
                        ('sha256', models.CharField(blank=True, max_length=64)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('session', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='evidence', to='exams.examsession')),
                        ('incident', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='evidence', to='monitoring.incident')),
                    ],
                    options={
                        'verbose_name_plural': 'evidence',
                        'ordering': ['session', 'seq'],
                    },
                ),
                migrations.CreateModel(
                    name='SpooledEvidence',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('incident_id', models.BigIntegerField(blank=True, null=True)),
                        ('seq', models.PositiveIntegerField()),
                        ('captured_at', models.DateTimeField()),
                        ('object_name', models.CharField(max_length=255, unique=True)),
                        ('content_type', models.CharField(max_length=64)),
                        ('width', models.PositiveIntegerField(default=0)),
                        ('height', models.PositiveIntegerField(default=0)),
                        ('sha256', models.CharField(max_length=64)),
                        ('size_bytes', models.PositiveIntegerField()),
                        ('spool_file', models.CharField(help_text='File name in PROCTOR_SPOOL_DIR.', max_length=255)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('last_error', models.CharField(blank=True, max_length=300)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('session', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='spooled_evidence', to='exams.examsession')),
                    ],
                    options={
                        'verbose_name_plural': 'spooled evidence',
                        'ordering': ['id'],
                    },
                ),
                migrations.CreateModel(
                    name='FrameObservation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.PositiveIntegerField(help_text="The frame's sequence number in the session.")),
                        ('captured_at', models.DateTimeField()),
                        ('face_count', models.PositiveSmallIntegerField(default=0)),
                        ('yaw_deg', models.FloatField(blank=True, null=True)),
                        ('pitch_deg', models.FloatField(blank=True, null=True)),
                        ('gaze_x', models.FloatField(blank=True, null=True)),
                        ('gaze_y', models.FloatField(blank=True, null=True)),
                        ('session', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='observations', to='exams.examsession')),
                    ],
                    options={
                        'ordering': ['session', 'seq'],
                        'indexes': [models.Index(fields=['session', 'captured_at'], name='observation_session_time')],
                        'constraints': [models.UniqueConstraint(fields=('session', 'seq'), name='uniq_observation_frame')],
                    },
                ),
                migrations.AddIndex(
                    model_name='incident',
                    index=models.Index(fields=['session', 'started_at'], name='incident_session_time'),
                ),
                migrations.AddIndex(
                    model_name='incident',
                    index=models.Index(fields=['status', 'kind'], name='incident_status_kind'),
                ),
                migrations.AddConstraint(
                    model_name='incident',
                    constraint=models.CheckConstraint(condition=models.Q(('ended_at__isnull', True), ('ended_at__gte', models.F('started_at')), _connector='OR'), name='incident_ends_after_start'),
                ),
                migrations.AddConstraint(
                    model_name='incident',
                    constraint=models.CheckConstraint(condition=models.Q(('score__gte', 0.0), ('score__lte', 1.0)), name='incident_score_0_to_1'),
                ),
                migrations.AddConstraint(
                    model_name='evidence',
                    constraint=models.UniqueConstraint(fields=('session', 'seq'), name='uniq_evidence_frame'),
                ),
                migrations.AddConstraint(
                    model_name='spooledevidence',
                    constraint=models.UniqueConstraint(fields=('session', 'seq'), name='uniq_spooled_frame'),
                ),
            ],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
