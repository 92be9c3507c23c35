"""Where a model stands in this process (downloading, loading, ready, failed), for
whoever wants to show it, and whether a model's weights are on disk already.

The engine knows nothing of pages or databases: `loading` calls `report()` as a load
moves on (with huggingface_hub's own byte counts while it downloads), and the app
subscribes with `add_listener()` to store and show it. Neither torch nor
transformers is imported here, so the app can ask `on_disk()` cheaply.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ModelUnavailableError
from .specs import resolve_spec

log = logging.getLogger(__name__)

State = Literal["downloading", "loading", "ready", "failed"]


@dataclass(frozen=True)
class LoadEvent:
    """One step of a model load. `bytes_done`/`bytes_total` are set while downloading
    (the total grows as huggingface_hub learns each file's size)."""

    spec: str
    state: State
    bytes_done: int = 0
    bytes_total: int = 0
    error: str = ""


Listener = Callable[[LoadEvent], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def add_listener(listener: Listener) -> None:
    """Call `listener` with every `LoadEvent` of this process (once per listener)."""
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def report(event: LoadEvent) -> None:
    """Tell every listener; a listener that fails never breaks the load itself."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            log.exception("a model-load listener failed on %s", event)


def on_disk(spec: str) -> bool:
    """Whether `spec` can load without a download: a local checkpoint directory, or a
    hub model whose config and weights are in the hub cache. Never touches the network."""
    try:
        resolved = resolve_spec(spec)
    except ModelUnavailableError:
        return False
    if resolved.path is not None:
        return True
    assert resolved.hub_id is not None
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(resolved.hub_id, "config.json", cache_dir=hub_cache_dir())
    if not isinstance(config, str):  # None (never fetched) or the "known missing" marker
        return False
    return any(Path(config).parent.glob("*.safetensors"))


def hub_cache_dir() -> str | None:
    """The hub cache named by `HF_HUB_CACHE` or `HF_HOME`, read per call (huggingface_hub
    reads them once at import; a process or a test that sets them later is honoured)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    return None
