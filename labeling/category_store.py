"""The one reader and writer of stored category classifiers (their JSON heads).

Heads live in media storage (Django's storage API: local files embedded, S3 in
production; never a filesystem path) under a new name per training, so a name
always means the same head and a per-process LRU of heads by name never needs
invalidating: a retrain changes `Project.category_head`, and the next click reads
the new file once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from inference.category_head import CategoryHead, HeadError

CACHE_SIZE = 32
_cache: OrderedDict[str, CategoryHead] = OrderedDict()
_lock = threading.Lock()


def storage_name(project_id: int, version: int) -> str:
    return f"classifiers/project-{project_id}/head-{version}.json"


def save(project_id: int, version: int, head: CategoryHead) -> str:
    """Store `head` as training `version` of the project; returns its storage name."""
    name = storage_name(project_id, version)
    if default_storage.exists(name):  # a retried job: this version's file is ours
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(head.to_json().encode()))
    return str(saved)


def load(name: str) -> CategoryHead | None:
    """The head stored under `name`, from the LRU or storage; None when `name` is
    empty, or the file is gone or unreadable (a suggestion is a help, never a
    reason to fail a click)."""
    if not name:
        return None
    with _lock:
        found = _cache.get(name)
        if found is not None:
            _cache.move_to_end(name)
            return found
    try:
        with default_storage.open(name, "rb") as handle:
            head = CategoryHead.from_json(handle.read())
    except (OSError, HeadError):
        return None
    with _lock:
        head = _cache.setdefault(name, head)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return head


def delete(name: str) -> None:
    with _lock:
        _cache.pop(name, None)
    if name:
        default_storage.delete(name)


def clear_cache() -> None:
    with _lock:
        _cache.clear()
