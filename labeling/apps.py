from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Anymask labeling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import warnings

        from django.db.models.signals import post_delete

        from labeling.file_cleanup import delete_image_files, delete_job_file
        from labeling.models import CocoImport, Export, Image

        post_delete.connect(delete_image_files, sender=Image, dispatch_uid="image-files")
        post_delete.connect(delete_job_file, sender=Export, dispatch_uid="export-file")
        post_delete.connect(delete_job_file, sender=CocoImport, dispatch_uid="import-file")

        # Every process that loads a model (worker, web) records how it goes, for the
        # pages (services/model_status.py). Registering loads no model and no torch.
        from inference.availability import add_listener
        from labeling.services.model_status import record_load_event

        add_listener(record_load_event)

        from PIL import Image as PILImage

        # Pillow's own bomb guard follows our configured limit instead of its default
        # (~89 MP), so one number decides what is accepted. We still check every frame
        # ourselves, because Pillow only looks at the first one.
        PILImage.MAX_IMAGE_PIXELS = settings.ANYMASK_MAX_IMAGE_PIXELS
        # Pillow only *warns* between its limit and twice that; make it refuse. Set once
        # here because warnings.catch_warnings() is not thread-safe under ASGI.
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)

        # WhiteNoise scans STATIC_ROOT at start-up and warns when it does not exist.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        # The embedded-mode broker is a directory; kombu expects it to exist.
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
                folder = options.get(key)
                if isinstance(folder, str):
                    Path(folder).mkdir(parents=True, exist_ok=True)
