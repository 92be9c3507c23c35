"""docker/compose.yaml against the app it runs: no docker here, so the file is read
as data and held to what the app needs. A queue that no worker serves would leave
its jobs queued for ever; a setting the app does not read is a typo that silently
falls back to a default; a proxy without the upgrade headers breaks every socket."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml  # PyYAML: a dependency of transformers
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker" / "compose.yaml"


def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # anchors and merges resolved


def served_queues(service: dict[str, Any]) -> set[str]:
    command = service.get("command", "")
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if "celery" not in words[:1] or "worker" not in words:
        return set()
    return set(words[words.index("-Q") + 1].split(","))


def test_every_queue_the_app_sends_to_has_a_worker() -> None:
    served = set().union(*(served_queues(s) for s in services().values()))
    queues = {
        settings.CELERY_QUEUE_EMBEDDINGS, settings.CELERY_QUEUE_AUTOMATIC,
        settings.CELERY_QUEUE_DEFAULT, settings.CELERY_QUEUE_CONCEPTS,
        settings.CELERY_QUEUE_TRAINING,
    }  # fmt: skip
    assert queues <= served, f"no worker for {queues - served}"
    settings_py = (ROOT / "labeling" / "settings.py").read_text()
    sent_to = set(re.findall(r'CELERY_QUEUE_\w+ = env_str\("\w+", "(\w+)"\)', settings_py))
    assert sent_to == queues  # every queue settings names is in the set above


def test_gpu_workers_for_embeddings_concepts_and_training_and_a_cpu_worker() -> None:
    gpu = {
        name: served_queues(s)
        for name, s in services().items()
        if s.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
    }
    for queue in ("embeddings", "concepts", "training"):
        assert any(queue in queues for queues in gpu.values()), f"no GPU worker for {queue}"
    cpu = [s for name, s in services().items() if name not in gpu and served_queues(s)]
    assert any("default" in served_queues(s) for s in cpu)


def test_every_setting_compose_passes_is_one_the_app_reads() -> None:
    app_settings = _settings()
    names = set()
    for service in services().values():
        environment = service.get("environment") or {}
        names |= {n for n in environment if n.startswith("ANYMASK_")}
    assert names
    unread = sorted(n for n in names if f'"{n}"' not in app_settings)
    assert not unread, f"compose sets settings the app never reads: {unread}"


def test_two_web_replicas_behind_a_websocket_proxy_and_redis_with_aof() -> None:
    found = services()
    webs = [n for n, s in found.items() if "labeling.asgi:application" in str(s.get("command"))]
    assert len(webs) >= 2
    nginx = (ROOT / "docker" / "nginx.conf").read_text()
    for web in webs:
        assert f"server {web}:8000" in nginx
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert "proxy_set_header Connection $connection_upgrade;" in nginx
    assert "--appendonly yes" in found["redis"]["command"]
    media = found[webs[0]]["environment"]
    assert media["ANYMASK_S3_ENDPOINT_URL"].startswith("http://s3:")
    assert "s3" in found and "weed" in str(found["s3"]["entrypoint"]) + str(found["s3"]["command"])


def _settings() -> str:
    return (ROOT / "labeling" / "settings.py").read_text() + (
        ROOT / "labeling" / "env.py"
    ).read_text()
