"""Warm start: a web process loads its projects' models when it starts, not on the
first click (which then took 8-10 s for SAM ViT-B on a CPU).

`start()` runs from the ASGI lifespan startup (`labeling.asgi`), so importing the app
loads nothing; the loads run in the decode pool's threads, in the background, while
the server already answers. For each model spec of a project with images it loads
the model, then decodes one click on one ready image of such a project, so the
kernels, the decode pool and the embedding cache are warm too. `/readyz` answers
200 once every model is loaded (`state()`), and the pages say "loading the model"
meanwhile (the load events land in `ModelStatus`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from labeling import embedding_store
from labeling.models import EmbeddingStatus, Image, Project
from labeling.project_models import load_ref, ref_for
from labeling.realtime.session import pool

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_started = False
# spec -> "loading" | "ready" | "failed: <why>"; empty until `start()` has listed them.
_states: dict[str, str] = {}
_listed = threading.Event()
_started_at = time.monotonic()


def active_specs() -> list[str]:
    """The model specs of projects that have images, most images first."""
    from django.db.models import Count

    rows = (
        Project.objects.annotate(n=Count("images"))
        .filter(n__gt=0)
        .values_list("model_spec", "n")
        .order_by("-n", "id")
    )
    return list(dict.fromkeys(spec for spec, _ in rows))


def start() -> None:
    """Begin warming (once per process); returns at once."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    if not settings.ANYMASK_WARM_START:
        _listed.set()
        return
    threading.Thread(target=_warm_all, name="warm-start", daemon=True).start()


def state() -> dict[str, Any]:
    """`ready` once warming is over: every active model loaded, or failed (a failed
    model is the pages' business, with its reason; the process serves all the same).
    Counts only, so an unauthenticated probe learns no model names or paths."""
    with _lock:
        values = list(_states.values())
    listed = _listed.is_set() or not settings.ANYMASK_WARM_START
    counts = {
        "loading": values.count("loading"),
        "ready": values.count("ready"),
        "failed": sum(value.startswith("failed") for value in values),
    }
    return {"ready": listed and counts["loading"] == 0, "models": counts}


def _warm_all() -> None:
    try:
        specs = active_specs()
    except Exception:
        logger.exception("warm start: could not list the active projects' models")
        specs = []
    finally:
        close_old_connections()
    with _lock:
        _states.update({spec: "loading" for spec in specs})
    _listed.set()
    futures = [pool().submit(_warm, spec) for spec in specs]
    for future in futures:
        future.result()


def _warm(spec: str) -> None:
    from inference import InferenceError, Prompt, load_model

    started = time.monotonic()
    try:
        model = load_model(spec)
        # The versions projects adopted load next to it (a decoder each, from storage).
        adopted = Project.objects.filter(model_spec=spec, adopted_version__isnull=False)
        for project in adopted.select_related("adopted_version"):
            load_ref(ref_for(project))
    except InferenceError as error:
        logger.warning("warm start: model %s is unavailable: %s", spec, error)
        with _lock:
            _states[spec] = f"failed: {error}"
        return
    except Exception as error:
        logger.exception("warm start: loading model %s failed", spec)
        with _lock:
            _states[spec] = f"failed: {type(error).__name__}: {error}"
        return
    try:
        image = (
            Image.objects.filter(project__model_spec=spec, embedding_status=EmbeddingStatus.READY)
            .order_by("-id")
            .first()
        )
        embedding = embedding_store.read(model, image.sha256) if image is not None else None
        if image is not None and embedding is not None:
            model.decode(embedding, Prompt.click(image.width // 2, image.height // 2), 1024)
    except Exception as error:  # a warm-up decode is a nicety: the model is loaded
        logger.warning("warm start: the warm-up decode with %s failed: %s", spec, error)
    finally:
        close_old_connections()
    with _lock:
        _states[spec] = "ready"
    logger.info(
        "warm start: %s ready %.1f s after start (%.1f s to load)",
        spec,
        time.monotonic() - _started_at,
        time.monotonic() - started,
    )
