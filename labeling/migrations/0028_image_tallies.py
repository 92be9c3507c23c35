"""Image tallies kept by triggers (labeling/image_tallies.py explains why)."""

from django.db import migrations, models

# PostgreSQL: statement-level triggers over transition tables, so a bulk insert or
# update of 20,000 images appends one row per status pair, not one per image. An
# update appends only for rows whose project or statuses changed: a plain save()
# (which writes every column) appends nothing.
POSTGRES = [
    """CREATE FUNCTION labeling_image_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO labeling_imagetally (project_id, labeling_status, embedding_status, delta)
      SELECT project_id, labeling_status, embedding_status, COUNT(*) FROM tally_new
      GROUP BY project_id, labeling_status, embedding_status;
      RETURN NULL;
    END $$""",
    """CREATE FUNCTION labeling_image_tally_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO labeling_imagetally (project_id, labeling_status, embedding_status, delta)
      SELECT project_id, labeling_status, embedding_status, -COUNT(*) FROM tally_old
      GROUP BY project_id, labeling_status, embedding_status;
      RETURN NULL;
    END $$""",
    """CREATE FUNCTION labeling_image_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO labeling_imagetally (project_id, labeling_status, embedding_status, delta)
      SELECT project_id, labeling_status, embedding_status, SUM(delta) FROM (
        SELECT o.project_id, o.labeling_status, o.embedding_status, -1 AS delta
        FROM tally_old o JOIN tally_new n ON n.id = o.id
        WHERE (o.project_id, o.labeling_status, o.embedding_status)
          IS DISTINCT FROM (n.project_id, n.labeling_status, n.embedding_status)
        UNION ALL
        SELECT n.project_id, n.labeling_status, n.embedding_status, 1
        FROM tally_old o JOIN tally_new n ON n.id = o.id
        WHERE (o.project_id, o.labeling_status, o.embedding_status)
          IS DISTINCT FROM (n.project_id, n.labeling_status, n.embedding_status)
      ) changed
      GROUP BY project_id, labeling_status, embedding_status HAVING SUM(delta) <> 0;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER labeling_image_tally_insert AFTER INSERT ON labeling_image
    REFERENCING NEW TABLE AS tally_new
    FOR EACH STATEMENT EXECUTE FUNCTION labeling_image_tally_insert()""",
    """CREATE TRIGGER labeling_image_tally_delete AFTER DELETE ON labeling_image
    REFERENCING OLD TABLE AS tally_old
    FOR EACH STATEMENT EXECUTE FUNCTION labeling_image_tally_delete()""",
    """CREATE TRIGGER labeling_image_tally_update AFTER UPDATE ON labeling_image
    REFERENCING OLD TABLE AS tally_old NEW TABLE AS tally_new
    FOR EACH STATEMENT EXECUTE FUNCTION labeling_image_tally_update()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS labeling_image_tally_insert ON labeling_image",
    "DROP TRIGGER IF EXISTS labeling_image_tally_delete ON labeling_image",
    "DROP TRIGGER IF EXISTS labeling_image_tally_update ON labeling_image",
    "DROP FUNCTION IF EXISTS labeling_image_tally_insert()",
    "DROP FUNCTION IF EXISTS labeling_image_tally_delete()",
    "DROP FUNCTION IF EXISTS labeling_image_tally_update()",
]

# SQLite has row-level triggers only.
SQLITE = [
    """CREATE TRIGGER labeling_image_tally_insert AFTER INSERT ON labeling_image
    BEGIN
      INSERT INTO labeling_imagetally (project_id, labeling_status, embedding_status, delta)
      VALUES (NEW.project_id, NEW.labeling_status, NEW.embedding_status, 1);
    END""",
    """CREATE TRIGGER labeling_image_tally_delete AFTER DELETE ON labeling_image
    BEGIN
      INSERT INTO labeling_imagetally (project_id, labeling_status, embedding_status, delta)
      VALUES (OLD.project_id, OLD.labeling_status, OLD.embedding_status, -1);
    END""",
    """CREATE TRIGGER labeling_image_tally_update
    AFTER UPDATE OF project_id, labeling_status, embedding_status ON labeling_image
    WHEN OLD.project_id IS NOT NEW.project_id
      OR OLD.labeling_status IS NOT NEW.labeling_status
      OR OLD.embedding_status IS NOT NEW.embedding_status
    BEGIN
      INSERT INTO labeling_imagetally (project_id, labeling_status, embedding_status, delta)
      VALUES (OLD.project_id, OLD.labeling_status, OLD.embedding_status, -1);
      INSERT INTO labeling_imagetally (project_id, labeling_status, embedding_status, delta)
      VALUES (NEW.project_id, NEW.labeling_status, NEW.embedding_status, 1);
    END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS labeling_image_tally_insert",
    "DROP TRIGGER IF EXISTS labeling_image_tally_delete",
    "DROP TRIGGER IF EXISTS labeling_image_tally_update",
]

# The images already there, counted once.
BACKFILL = """INSERT INTO labeling_imagetally (project_id, labeling_status, embedding_status, delta)
SELECT project_id, labeling_status, embedding_status, COUNT(*) FROM labeling_image
GROUP BY project_id, labeling_status, embedding_status"""


def _run(schema_editor, statements):
    for statement in statements:
        schema_editor.execute(statement)


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(f"image tallies have no triggers for {vendor}")
    _run(schema_editor, [BACKFILL, *(POSTGRES if vendor == "postgresql" else SQLITE)])


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    _run(schema_editor, POSTGRES_DROP if vendor == "postgresql" else SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0027_category_classifier"),
    ]

    operations = [
        migrations.CreateModel(
            name="ImageTally",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("project_id", models.BigIntegerField()),
                ("labeling_status", models.CharField(max_length=16)),
                ("embedding_status", models.CharField(max_length=16)),
                ("delta", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["project_id"], name="image_tally_project")],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
