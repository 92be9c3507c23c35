# Presence rows are refreshed by a heartbeat and swept when stale: index seen_at.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0015_embedding_leases"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="presence",
            index=models.Index(fields=["seen_at"], name="presence_seen_at"),
        ),
    ]
