"""Take over models that lived in the reviews app: state only, their tables were renamed by reviews's migration (rows untouched)."""


import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models



OLD_APP = 'reviews'
NEW_APP = 'privacy'
MODELS = ['sessionkey']


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
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='SessionKey',
                    fields=[
                        ('session', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='data_key', serialize=False, to='exams.examsession')),
                        ('kek_version', models.PositiveIntegerField(help_text='Key ring version that wraps the key.')),
                        ('wrapped_dek', models.BinaryField()),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('rewrapped_at', models.DateTimeField(blank=True, null=True)),
                        ('shredded_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        'indexes': [models.Index(fields=['kek_version'], name='sessionkey_kek_version')],
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
