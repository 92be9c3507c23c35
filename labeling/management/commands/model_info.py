"""Load a model and describe it: where it runs, its precision, size and load time."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Load a SAM model spec and print spec, family, device, dtype, parameters, load time."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("spec", nargs="?", help="defaults to ANYMASK_MODEL")
        parser.add_argument("--json", action="store_true", help="one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference import ModelUnavailableError, load_model

        spec = options["spec"] or settings.ANYMASK_MODEL
        try:
            info = load_model(spec).info.as_dict()
        except ModelUnavailableError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(info))
            return
        for key, value in info.items():
            self.stdout.write(f"{key:>14}: {value}")
