"""Take over models that lived in the reviews app: state only, their tables were renamed by reviews's migration (rows untouched)."""


import django.db.models.deletion
import django.utils.timezone
import lifecycle.models
import privacy.storage
from django.conf import settings
from django.db import migrations, models



OLD_APP = 'reviews'
NEW_APP = 'lifecycle'
MODELS = ['shredrecord', 'erasurerequest', 'originalframe', 'breakglassgrant']


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

    initial = True

    dependencies = [
        ('reviews', '0010_move_tables_out'),
        ('exams', '0005_move_lms_tables'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('exams', '0004_api_keys_webhooks_lti'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ShredRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('session_ref', models.UUIDField(help_text="The shredded session's id.", unique=True)),
                        ('cause', models.CharField(choices=[('retention', 'Retention period ended'), ('erasure', 'Erasure request')], max_length=16)),
                        ('aggregates', models.JSONField(default=dict, help_text='Counts by incident kind and severity, evidence, outcome.')),
                        ('objects_deleted', models.PositiveIntegerField(default=0)),
                        ('shredded_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('exam', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='exams.exam')),
                    ],
                    options={
                        'ordering': ['-shredded_at'],
                    },
                ),
                migrations.CreateModel(
                    name='BreakGlassGrant',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('reason', models.TextField()),
                        ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('status', models.CharField(choices=[('requested', 'Awaiting second approver'), ('approved', 'Approved'), ('rejected', 'Rejected')], default='requested', max_length=16)),
                        ('decided_at', models.DateTimeField(blank=True, null=True)),
                        ('expires_at', models.DateTimeField(blank=True, null=True)),
                        ('approved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('session', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='break_glass_grants', to='exams.examsession')),
                    ],
                    options={
                        'ordering': ['-requested_at'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('approved_by__isnull', True), models.Q(('approved_by', models.F('requested_by')), _negated=True), _connector='OR'), name='break_glass_second_approver'), models.CheckConstraint(condition=models.Q(models.Q(('status', 'approved'), _negated=True), models.Q(('approved_by__isnull', False), ('expires_at__isnull', False)), _connector='OR'), name='break_glass_approved_is_complete')],
                    },
                ),
                migrations.CreateModel(
                    name='ErasureRequest',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('status', models.CharField(choices=[('requested', 'Requested'), ('rejected', 'Rejected'), ('completed', 'Approved and shredded')], default='requested', max_length=16)),
                        ('decided_at', models.DateTimeField(blank=True, null=True)),
                        ('decision_note', models.TextField(blank=True)),
                        ('sessions_shredded', models.PositiveIntegerField(default=0)),
                        ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('institution', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='exams.institution')),
                        ('requested_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('student', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='erasure_requests', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'ordering': ['-requested_at'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'requested')), fields=('student', 'institution'), name='one_open_erasure_request')],
                    },
                ),
                migrations.CreateModel(
                    name='OriginalFrame',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('seq', models.PositiveIntegerField()),
                        ('captured_at', models.DateTimeField()),
                        ('image', models.FileField(editable=False, max_length=255, storage=privacy.storage.evidence_storage, upload_to=lifecycle.models.original_upload_to)),
                        ('expires_at', models.DateTimeField(db_index=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('session', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='original_frames', to='exams.examsession')),
                    ],
                    options={
                        'ordering': ['session', 'seq'],
                        'constraints': [models.UniqueConstraint(fields=('session', 'seq'), name='uniq_original_frame')],
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
