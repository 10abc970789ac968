"""Rename the tables of the models that moved to their own apps (one concern per app).

Database only: the models leave this app's state in a later migration, once their new
apps have taken them over (state only, no data copied). Renaming keeps every row, key and
constraint; PostgreSQL's triggers on the integrity tables follow their table.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('exams', '0004_api_keys_webhooks_lti'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
        migrations.AlterModelTable(name='apikey', table='lms_apikey'),
        migrations.AlterModelTable(name='webhookendpoint', table='lms_webhookendpoint'),
        migrations.AlterModelTable(name='webhookdelivery', table='lms_webhookdelivery'),
        migrations.AlterModelTable(name='ltiregistration', table='lms_ltiregistration'),
        migrations.AlterModelTable(name='ltiidentity', table='lms_ltiidentity'),
        migrations.AlterModelTable(name='lticontext', table='lms_lticontext'),
            ],
        ),
    ]
