"""Take over models that lived in the reviews app: state only, their tables were renamed by reviews's migration (rows untouched)."""


from django.db import migrations, models



OLD_APP = 'reviews'
NEW_APP = 'integrity'
MODELS = ['integrityleaf', 'integritycheckpoint']


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
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='IntegrityCheckpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('origin', models.CharField(max_length=200)),
                        ('tree_size', models.BigIntegerField()),
                        ('root_hash', models.BinaryField(max_length=32)),
                        ('timestamp', models.CharField(help_text='ISO 8601 UTC, as signed.', max_length=40)),
                        ('key_id', models.CharField(max_length=16)),
                        ('signature', models.BinaryField(max_length=64)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'ordering': ['tree_size', 'id'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('tree_size__gte', 0)), name='integrity_checkpoint_size_not_negative')],
                    },
                ),
                migrations.CreateModel(
                    name='IntegrityLeaf',
                    fields=[
                        ('index', models.BigIntegerField(help_text='Position in the tree, from 0.', primary_key=True, serialize=False)),
                        ('kind', models.CharField(db_index=True, max_length=64)),
                        ('session_id', models.UUIDField(blank=True, db_index=True, null=True)),
                        ('session_seq', models.PositiveIntegerField(blank=True, help_text="Position among this session's entries, from 0.", null=True)),
                        ('created_at', models.DateTimeField()),
                        ('body', models.TextField(help_text='Canonical JSON of the entry (what the leaf hash covers).')),
                        ('leaf_hash', models.BinaryField(max_length=32)),
                        ('key_id', models.CharField(help_text='The key whose MAC key sealed the row.', max_length=16)),
                        ('mac', models.BinaryField(help_text='HMAC-SHA256 of the leaf hash, so a row edit names itself.', max_length=32)),
                    ],
                    options={
                        'ordering': ['index'],
                        'constraints': [models.UniqueConstraint(fields=('session_id', 'session_seq'), name='uniq_integrity_session_seq'), models.CheckConstraint(condition=models.Q(('index__gte', 0)), name='integrity_index_not_negative')],
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
