"""Where each project model stands (downloading, loading, ready, failed), across
processes: every process that loads models records the engine's load events
(`inference.availability`) in `ModelStatus`, and the project and labeling pages show
the latest one, with a progress bar while the weights download and, when the model
is unavailable, the reason and the shell commands that fix it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from inference import ModelUnavailableError, get_spec, resolve_spec
from inference.availability import LoadEvent, on_disk
from labeling.events import nudge_page
from labeling.models import ModelState, ModelStatus, Project

logger = logging.getLogger(__name__)

# A load event's spec is canonical (`sam-vit-base`); a project's may be spelled as
# its hub id. Pages look rows up by `canonical()`.
MAX_NUDGED_PROJECTS = 200
# A download reports at least every 10 MB and a load takes seconds to a few minutes:
# a row left downloading or loading this long belongs to a process that died.
STALE_SECONDS = 15 * 60


def canonical(spec: str) -> str:
    try:
        return resolve_spec(spec).spec
    except ModelUnavailableError:
        return spec.strip()


def record_load_event(event: LoadEvent) -> None:
    """An `inference.availability` listener: store the event, nudge the project pages
    that use this model. Never raises (a load must not fail because a page cannot be
    told), and writes nothing where the database is not ready (a test, a shell)."""
    try:
        do_record(event)
    except DatabaseError as error:  # e.g. `make fetch-model` before the first migrate
        logger.debug("could not record model %s as %s: %s", event.spec, event.state, error)
    except Exception as error:
        logger.warning("could not record model %s as %s: %s", event.spec, event.state, error)


def do_record(event: LoadEvent) -> ModelStatus:
    now = timezone.now()
    with transaction.atomic():
        row = ModelStatus.objects.select_for_update().filter(spec=event.spec).first()
        if row is None:
            row = ModelStatus(spec=event.spec)
        downloading = event.state == ModelState.DOWNLOADING
        if downloading and (row.state != ModelState.DOWNLOADING or row.download_started_at is None):
            row.download_started_at = now
        row.state = event.state
        if downloading or event.state == ModelState.READY:
            row.bytes_done, row.bytes_total = event.bytes_done, event.bytes_total
        if not downloading:
            row.download_started_at = None
        row.error = event.error[:4000] if event.state == ModelState.FAILED else ""
        row.updated_at = now
        row.save()
        transaction.on_commit(lambda: _nudge(event.spec))
    if event.state == ModelState.FAILED:
        logger.warning("model %s is unavailable: %s", event.spec, event.error)
    return row


def _nudge(spec: str) -> None:
    names = {spec, *([known.hub_id] if (known := get_spec(spec)) else [])}
    ids = Project.objects.filter(model_spec__in=names).values_list("id", flat=True)
    for project_id in ids[:MAX_NUDGED_PROJECTS]:
        nudge_page(project_id)


def status_of(spec: str) -> dict[str, Any]:
    """What the pages show about `spec`: its `state` (`unknown` before any process
    tried it), download figures, the reason it is unavailable and the `fix` (shell
    commands), whether its weights are on disk, and a display `name`."""
    key = canonical(spec)
    row = ModelStatus.objects.filter(spec=key).first()
    busy = row is not None and row.state in (ModelState.DOWNLOADING, ModelState.LOADING)
    if (
        busy
        and row is not None
        and (timezone.now() - row.updated_at).total_seconds() > STALE_SECONDS
    ):
        row = None  # its process died mid-load: say nothing rather than "loading" forever
    state = row.state if row is not None else "unknown"
    result: dict[str, Any] = {
        "spec": key,
        "name": display_name(key),
        "state": state,
        "bytes_done": row.bytes_done if row else 0,
        "bytes_total": row.bytes_total if row else 0,
        "seconds_left": seconds_left(row) if row else None,
        "error": row.error if row else "",
        "on_disk": on_disk(key),
    }
    if state == ModelState.FAILED:
        result["fix"] = fix_commands(key, result["error"])
    elif state == "unknown" and not result["on_disk"]:
        result["fix"] = fix_commands(key)[:1]  # fetch it now rather than on first use
    else:
        result["fix"] = []
    return result


def seconds_left(row: ModelStatus) -> float | None:
    """A rough time left for a download, from its average rate so far."""
    if row.state != ModelState.DOWNLOADING or row.download_started_at is None:
        return None
    elapsed = (timezone.now() - row.download_started_at).total_seconds()
    if elapsed < 1 or row.bytes_done <= 0 or row.bytes_total <= row.bytes_done:
        return None
    return round((row.bytes_total - row.bytes_done) / (row.bytes_done / elapsed), 1)


def display_name(spec: str) -> str:
    """`SAM ViT-B (sam-vit-base)` for a registry entry, else the last part of a path or
    the hub id as given."""
    known = get_spec(spec)
    if known is not None:
        return f"{known.description.split(' (')[0]} ({known.name})"
    return spec.rstrip("/").rsplit("/", 1)[-1] if spec.startswith(("/", ".", "~")) else spec


def model_choice_label(spec: str) -> str:
    """How the model picker names `spec`: its display name, marked when its weights
    would have to be downloaded first."""
    name = display_name(canonical(spec))
    return name if on_disk(spec) else f"{name}, not downloaded yet"


def fix_commands(spec: str, error: str = "") -> list[str]:
    """Shell commands, to paste in the checkout, that make `spec` available and then
    re-queue the images that failed on it (`error`, when known, picks the fix)."""
    quoted = spec if all(c.isalnum() or c in "-_./~:" for c in spec) else f"'{spec}'"
    retry = "make embed-missing"
    if "ANYMASK_DEVICE" in error or "CUDA is not available" in error:
        return ["export ANYMASK_DEVICE=cpu   # or unset it: CUDA when present, else CPU", retry]
    if "ANYMASK_DTYPE" in error:
        return ["unset ANYMASK_DTYPE   # auto: bfloat16 where native, else float32", retry]
    if spec.startswith(("/", ".", "~")):
        return [f"ls {quoted}   # must hold config.json and *.safetensors", retry]
    return [f"make fetch-model MODEL={quoted}", retry]
