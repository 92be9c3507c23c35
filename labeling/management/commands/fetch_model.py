"""Download a model's weights ahead of time (huggingface_hub shows its progress)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Pre-download a SAM model spec (a registry name or hub id) into the hub cache."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("spec", help="e.g. sam-vit-base, sam2.1-hiera-tiny, or sam3 (concepts)")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference import ModelUnavailableError, fetch_model
        from inference.concepts.loading import fetch_concept_model, is_concept_spec

        # SAM 3 (`sam3`, about 3.4 GB in bf16) is a concept model, not a click model.
        fetch = fetch_concept_model if is_concept_spec(options["spec"]) else fetch_model
        try:
            path = fetch(options["spec"])
        except ModelUnavailableError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{options['spec']} is ready in {path}")
