"""Make the tamper-evident log's tables append-only on PostgreSQL.

Triggers refuse UPDATE and DELETE on every row and TRUNCATE on the table. TRUNCATE alone
may be allowed by a session that sets ``proctor.integrity_allow_truncate = on``, which
the test suite's database settings do so that Django can flush tables between
transactional tests; UPDATE and DELETE have no such way around them. These triggers stop
mistakes and injected SQL; an owner or superuser can still drop them, which is why
`manage.py verify_integrity` and the signed checkpoints exist (docs/integrity.md).

Other databases (SQLite, the embedded default) get no triggers: nothing to reverse.
"""

from django.db import migrations

TABLES = ["reviews_integrityleaf", "reviews_integritycheckpoint"]

FORWARD = """
CREATE OR REPLACE FUNCTION proctor_integrity_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('proctor.integrity_allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'The integrity log is append-only: % on % is refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Erase personal data by shredding keys, never by removing log rows.';
END;
$$;
"""

TRIGGERS = """
CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION proctor_integrity_refuse_change();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION proctor_integrity_refuse_change();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
"""


def add_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # params=None: the SQL holds % placeholders of RAISE, not of the driver.
    schema_editor.execute(FORWARD, None)
    for table in TABLES:
        schema_editor.execute(TRIGGERS.format(table=table), None)


def remove_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(DROP_TRIGGERS.format(table=table))
    schema_editor.execute("DROP FUNCTION IF EXISTS proctor_integrity_refuse_change();")


class Migration(migrations.Migration):

    dependencies = [
        ("reviews", "0006_integrity_log"),
    ]

    operations = [
        migrations.RunPython(add_triggers, remove_triggers, elidable=False),
    ]
