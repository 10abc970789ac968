"""Take over models that lived in the exams app: state only, their tables were renamed by exams's migration (rows untouched)."""


import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models



OLD_APP = 'exams'
NEW_APP = 'lms'
MODELS = ['apikey', 'webhookendpoint', 'webhookdelivery', 'ltiregistration', 'ltiidentity', 'lticontext']


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
                    name='ApiKey',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(help_text="Who uses it, e.g. 'Moodle production'.", max_length=100)),
                        ('prefix', models.CharField(editable=False, max_length=16, unique=True)),
                        ('key_sha256', models.CharField(editable=False, max_length=64)),
                        ('scopes', models.JSONField(default=list, help_text='Any of: read, write, incident_payload.')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('last_used_at', models.DateTimeField(blank=True, editable=False, null=True)),
                        ('revoked_at', models.DateTimeField(blank=True, editable=False, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('institution', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_keys', to='exams.institution')),
                    ],
                    options={
                        'verbose_name': 'API key',
                        'ordering': ['institution', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='LtiRegistration',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(help_text="e.g. 'Moodle production'.", max_length=100)),
                        ('issuer', models.CharField(help_text="The platform's issuer (iss), a URL.", max_length=255)),
                        ('client_id', models.CharField(help_text='The client id the LMS assigned.', max_length=255)),
                        ('auth_login_url', models.URLField(help_text="Platform's OIDC auth URL.", max_length=500)),
                        ('auth_token_url', models.URLField(help_text="Platform's OAuth2 token URL.", max_length=500)),
                        ('auth_audience', models.CharField(blank=True, max_length=255)),
                        ('key_set_url', models.URLField(help_text="Platform's JWKS URL.", max_length=500)),
                        ('deployment_ids', models.JSONField(default=list, help_text='e.g. ["1"]')),
                        ('tool_private_key', models.TextField(blank=True, help_text='PEM; generated when left empty.')),
                        ('tool_public_key', models.TextField(blank=True, editable=False)),
                        ('tool_key_id', models.CharField(blank=True, editable=False, max_length=64)),
                        ('is_active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('institution', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lti_registrations', to='exams.institution')),
                    ],
                    options={
                        'verbose_name': 'LTI registration',
                    },
                ),
                migrations.CreateModel(
                    name='LtiIdentity',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('subject', models.CharField(max_length=255)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lti_identities', to=settings.AUTH_USER_MODEL)),
                        ('registration', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='identities', to='lms.ltiregistration')),
                    ],
                    options={
                        'verbose_name_plural': 'LTI identities',
                    },
                ),
                migrations.CreateModel(
                    name='LtiContext',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('context_id', models.CharField(max_length=255)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('course', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lti_contexts', to='exams.course')),
                        ('registration', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='contexts', to='lms.ltiregistration')),
                    ],
                ),
                migrations.CreateModel(
                    name='WebhookEndpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('url', models.URLField(max_length=500)),
                        ('secret', models.CharField(help_text='Shared secret for the HMAC-SHA256 signature.', max_length=128)),
                        ('is_active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('institution', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='webhook', to='exams.institution')),
                    ],
                ),
                migrations.CreateModel(
                    name='WebhookDelivery',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('event', models.CharField(max_length=64)),
                        ('dedupe_key', models.CharField(help_text='One delivery per event occurrence.', max_length=200)),
                        ('body', models.TextField(help_text='The exact JSON sent, so every retry signs the same bytes; emptied once the delivery is delivered or abandoned.')),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Failed (gave up)')], default='pending', max_length=16)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('last_status_code', models.PositiveIntegerField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('endpoint', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='lms.webhookendpoint')),
                    ],
                    options={
                        'verbose_name_plural': 'webhook deliveries',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.AddConstraint(
                    model_name='ltiregistration',
                    constraint=models.UniqueConstraint(fields=('issuer', 'client_id'), name='uniq_lti_registration'),
                ),
                migrations.AddConstraint(
                    model_name='ltiidentity',
                    constraint=models.UniqueConstraint(fields=('registration', 'subject'), name='uniq_lti_subject'),
                ),
                migrations.AddConstraint(
                    model_name='lticontext',
                    constraint=models.UniqueConstraint(fields=('registration', 'context_id'), name='uniq_lti_context'),
                ),
                migrations.AddConstraint(
                    model_name='webhookdelivery',
                    constraint=models.UniqueConstraint(fields=('endpoint', 'dedupe_key'), name='uniq_webhook_delivery'),
                ),
            ],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
