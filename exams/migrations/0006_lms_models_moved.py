"""The moved models leave the exams app's state (their tables were renamed earlier; nothing here touches the database)."""


import exams.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('integrity', '0001_initial'),
        ('audit', '0001_initial'),
        ('privacy', '0001_initial'),
        ('lifecycle', '0001_initial'),
        ('lms', '0001_initial'),
        ('monitoring', '0002_incidents_and_evidence_from_reviews'),
        ('exams', '0005_move_lms_tables'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='lticontext',
                    name='course',
                ),
                migrations.RemoveField(
                    model_name='lticontext',
                    name='registration',
                ),
                migrations.RemoveField(
                    model_name='ltiidentity',
                    name='registration',
                ),
                migrations.RemoveField(
                    model_name='ltiidentity',
                    name='user',
                ),
                migrations.RemoveField(
                    model_name='ltiregistration',
                    name='institution',
                ),
                migrations.RemoveField(
                    model_name='webhookdelivery',
                    name='endpoint',
                ),
                migrations.RemoveField(
                    model_name='webhookendpoint',
                    name='institution',
                ),
                migrations.AlterField(
                    model_name='enrollment',
                    name='disabled_checks',
                    field=models.JSONField(blank=True, default=list, help_text='Accommodation: checks switched off for this student (never count against them).', validators=[exams.models.validate_waivable_checks]),
                ),
                migrations.AlterField(
                    model_name='exam',
                    name='enabled_checks',
                    field=models.JSONField(blank=True, default=exams.models.default_enabled_checks, help_text='Check names that are on, e.g. no_face, multiple_faces, looking_away.', validators=[exams.models.validate_checks]),
                ),
                migrations.AlterField(
                    model_name='exam',
                    name='suspicion_weights',
                    field=models.JSONField(blank=True, default=dict, help_text='Per incident kind, the weight it adds to a session\'s suspicion score, e.g. {"tab_hidden": 0.5}; kinds left out keep the defaults in exams/kinds.py.', validators=[exams.models.validate_suspicion_weights]),
                ),
                migrations.DeleteModel(
                    name='ApiKey',
                ),
                migrations.DeleteModel(
                    name='LtiContext',
                ),
                migrations.DeleteModel(
                    name='LtiIdentity',
                ),
                migrations.DeleteModel(
                    name='LtiRegistration',
                ),
                migrations.DeleteModel(
                    name='WebhookDelivery',
                ),
                migrations.DeleteModel(
                    name='WebhookEndpoint',
                ),
            ],
        ),
    ]
