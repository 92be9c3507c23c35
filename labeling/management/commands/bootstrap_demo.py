"""Create a demo admin and a demo project with sample images, if none exist."""

from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from labeling.management.demo_images import draw_sample
from labeling.models import Project
from labeling.services.categories import do_create_category
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image

DEMO_USERNAME = "admin"
CREDENTIALS_FILE = "demo-login.txt"


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / CREDENTIALS_FILE


class Command(BaseCommand):
    help = "Create the demo admin and demo project when the database has none."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        admin = User.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is None:
            password = secrets.token_urlsafe(12)
            admin = User.objects.create_superuser(DEMO_USERNAME, "admin@example.com", password)
            path = credentials_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{DEMO_USERNAME}\n{password}\n")
            path.chmod(0o600)
            self.stdout.write(f"Created the demo admin {DEMO_USERNAME!r}.")

        if Project.objects.exists():
            return
        project = do_create_project(
            admin,
            name="Demo project",
            description="Sample images drawn by Anymask. Try clicking on a shape.",
        )
        for name, colour in [
            ("ellipse", "#e6194b"),
            ("rectangle", "#3cb44b"),
            ("ring", "#4363d8"),
            ("triangle", "#f58231"),
        ]:
            do_create_category(project, name=name, color=colour)
        for seed in range(1, 5):
            do_add_image(project, admin, io.BytesIO(draw_sample(seed)), f"shapes-{seed}.jpg")
        self.stdout.write(f"Created {project.name!r} with 4 sample images.")
