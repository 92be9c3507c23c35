"""The lease a worker holds on an image while it encodes it.

With Redis and acks_late, a task whose worker died is redelivered only after the
broker's visibility timeout (hours, because it must outlast the longest encode). The
lease lets others see a dead worker within a minute instead: the encoding worker
renews it from a heartbeat thread, so only a worker that stopped (killed, frozen,
its machine gone) lets it expire, and the sweep (`embedding_sweep`) re-runs the
image. A second task for an image under a live lease skips it, so an encode longer
than the detection window never runs twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from labeling.models import Image

logger = logging.getLogger(__name__)


def lease_seconds() -> float:
    return float(settings.ANYMASK_EMBEDDING_LEASE_SECONDS)


def new_owner() -> str:
    """Names the worker process (for the logs and the admin) and this one attempt."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def free_lease() -> Q:
    """Images no live worker holds: never leased, released, or left to expire."""
    return Q(embedding_lease_expires__isnull=True) | Q(embedding_lease_expires__lt=timezone.now())


def try_take(image_id: int, owner: str) -> bool:
    """Take the image's lease unless a live worker holds it (one statement, so two
    workers can never both win)."""
    until = timezone.now() + timedelta(seconds=lease_seconds())
    taken = (
        Image.objects.filter(free_lease(), pk=image_id)
        .update(embedding_lease_owner=owner, embedding_lease_expires=until)
    )  # fmt: skip
    return taken == 1


def renew(image_id: int, owner: str) -> bool:
    """Push the lease's expiry on; False when it is no longer ours."""
    until = timezone.now() + timedelta(seconds=lease_seconds())
    renewed = Image.objects.filter(pk=image_id, embedding_lease_owner=owner).update(
        embedding_lease_expires=until
    )
    return renewed == 1


def release_fields() -> dict[str, object]:
    """The fields that give a lease back, to write with the image's outcome."""
    return {"embedding_lease_owner": "", "embedding_lease_expires": None}


def release(image_id: int, owner: str) -> None:
    Image.objects.filter(pk=image_id, embedding_lease_owner=owner).update(**release_fields())


@contextmanager
def heartbeat(image_id: int, owner: str) -> Iterator[None]:
    """Renew the lease every third of its length while the body runs."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(lease_seconds() / 3):
                try:
                    if not renew(image_id, owner):
                        logger.warning("image %s: lease %s was lost", image_id, owner)
                        return
                except Exception:  # a database hiccup: try again at the next beat
                    logger.warning("image %s: could not renew the lease", image_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection (back to the pool)

    thread = threading.Thread(target=beat, name=f"lease-{image_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
