"""A first run that explains itself: model problems with their reason and fix, the
first download's progress (from a local stand-in for the Hugging Face Hub), the README
commands as written, running offline, warm start, and who may create projects with
which models."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from inference.testing import save_tiny_sam
from labeling.jobs.embedding import embed_image
from labeling.models import EmbeddingStatus, ModelStatus, Project
from labeling.services.model_status import status_of
from labeling.services.projects import do_create_project
from labeling.services.uploads import do_add_image
from tests.conftest import Personas, make_user
from tests.fake_hub import FakeHub
from tests.live_server import AsgiServer
from tests.test_embedding_worker import picture
from tests.worker_process import ROOT, database_url, stop_process

REPO = "anymask-test/tiny-sam"


def hub_checkpoint(path: Path, padding_mb: int = 0) -> Path:
    """A tiny SAM checkpoint, plus `padding_mb` of extra safetensors for a download
    long enough to watch (huggingface_hub reports bytes per 10 MB read)."""
    save_tiny_sam(path)
    if padding_mb:
        from safetensors.numpy import save_file

        save_file(
            {"padding": np.zeros(padding_mb * 2**20, np.uint8)}, str(path / "pad.safetensors")
        )
    return path


def manage(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ------------------------------------------------------------ model unavailable


def test_a_model_that_cannot_load_fails_its_images_with_the_reason_and_the_fix(
    personas: Personas, caplog: pytest.LogCaptureFixture
) -> None:
    Project.objects.filter(pk=personas.project.pk).update(model_spec="/srv/models/missing-sam")
    image = do_add_image(personas.project, personas.owner, picture(1), "a.png")
    with caplog.at_level(logging.WARNING):
        result = embed_image(image.pk, retries=0, max_retries=5)
    # The task's result (what Celery logs) and the log line both say why.
    assert result.startswith("failed: ") and "/srv/models/missing-sam" in result
    assert "neither a known model nor an existing directory" in result
    assert any("/srv/models/missing-sam" in r.getMessage() for r in caplog.records)
    image.refresh_from_db()
    assert image.embedding_status == EmbeddingStatus.FAILED
    client = personas.client("annotator")
    feed = client.get(reverse("project-status", args=[personas.project.pk])).json()
    model = feed["model"]
    assert model["state"] == "failed" and "neither a known model" in model["error"]
    assert model["fix"][0].startswith("ls /srv/models/missing-sam")
    assert model["fix"][-1] == "make embed-missing"
    page = client.get(reverse("project-detail", args=[personas.project.pk])).content.decode()
    assert 'id="model-banner"' in page and "is unavailable" in page
    assert "make embed-missing" in page and "fetch_model(" not in page


def test_an_unreachable_hub_is_explained_with_make_commands_not_python(
    personas: Personas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No network: nothing listens where the hub should be. (Not HF_HUB_OFFLINE here:
    # huggingface_hub and transformers freeze it at import, for the whole process.)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    from inference import clear_model_cache

    clear_model_cache()
    image = do_add_image(personas.project, personas.owner, picture(2), "b.png")
    assert embed_image(image.pk, retries=0, max_retries=5).startswith("failed: ")
    model = status_of("sam-vit-base")
    assert model["state"] == "failed" and "Hub is unreachable" in model["error"]
    assert "make fetch-model MODEL=sam-vit-base" in model["error"]
    assert model["fix"] == ["make fetch-model MODEL=sam-vit-base", "make embed-missing"]
    assert model["name"] == "SAM ViT-B (sam-vit-base)" and model["on_disk"] is False


def test_a_later_success_clears_the_banner(personas: Personas, tmp_path: Path) -> None:
    spec = str(save_tiny_sam(tmp_path / "sam"))
    Project.objects.filter(pk=personas.project.pk).update(model_spec=spec)
    ModelStatus.objects.create(spec=spec, state="failed", error="was broken", updated_at=_now())
    image = do_add_image(personas.project, personas.owner, picture(3), "c.png")
    assert embed_image(image.pk, retries=0, max_retries=5) == "computed"
    assert status_of(spec)["state"] == "ready" and status_of(spec)["fix"] == []


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


# ------------------------------------------------------------ the first download


@pytest.mark.django_db(transaction=True)
def test_the_first_download_reports_bytes_from_huggingface_hub(
    personas: Personas, tmp_path: Path
) -> None:
    checkpoint = hub_checkpoint(tmp_path / "ckpt", padding_mb=30)
    seen: list[tuple[int, int]] = []
    with FakeHub(REPO, checkpoint, bytes_per_second=6e6) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf")}
        fetch = subprocess.Popen(
            [sys.executable, "manage.py", "fetch_model", REPO],
            cwd=ROOT,
            env={**_online(os.environ), "DATABASE_URL": database_url(), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while fetch.poll() is None and time.monotonic() < deadline:
                row = ModelStatus.objects.filter(spec=REPO).first()
                if row is not None and row.state == "downloading":
                    seen.append((row.bytes_done, row.bytes_total))
                time.sleep(0.1)
            output = fetch.communicate(timeout=30)[0]
        finally:
            stop_process(fetch, grace=5)
        assert fetch.returncode == 0, output
    assert f"{REPO} is ready" in output
    partial = [(done, total) for done, total in seen if 0 < done < total]
    assert partial, f"no partial progress seen in {seen}"
    assert max(total for _, total in seen) == hub.total_bytes
    row = ModelStatus.objects.get(spec=REPO)
    assert row.state == "ready" and row.error == ""
    # And with the hub gone and downloads off, it loads from the cache.
    offline = manage(
        "model_info", REPO, "--json", env={**env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": hub.url}
    )
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout.strip().splitlines()[-1])["family"] == "sam"


def _online(environ: Any) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}


def test_the_status_feed_estimates_the_time_left(personas: Personas) -> None:
    started = _now() - timedelta(seconds=10)
    ModelStatus.objects.create(
        spec="sam-vit-base", state="downloading", bytes_done=100_000_000,
        bytes_total=375_000_000, download_started_at=started, updated_at=_now(),
    )  # fmt: skip
    model = status_of("facebook/sam-vit-base")  # a project may spell it as the hub id
    assert model["state"] == "downloading" and model["bytes_total"] == 375_000_000
    assert 25 < model["seconds_left"] < 30  # 10 MB/s, 275 MB to go


# ------------------------------------------------------ README commands, offline


def test_make_fetch_model_runs_as_written_on_a_fresh_checkout(tmp_path: Path) -> None:
    # No SECRET_KEY in the environment, as for a new user: make supplies it.
    checkpoint = str(save_tiny_sam(tmp_path / "local-sam"))
    venv = Path(sys.executable).parent.parent
    var = tmp_path / "var"
    assert f"{checkpoint} is ready" in _run_make("fetch-model", checkpoint, venv, var)
    info = _run_make("model-info", checkpoint, venv, var)
    assert "sam" in info and "parameters" in info.lower()
    assert (var / "secret_key").exists()


def _run_make(target: str, model: str, venv: Path, var: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["HF_HUB_OFFLINE"] = "1"
    command = ["make", "-s", "-o", f"{venv}/.installed-run", target, f"MODEL={model}"]
    command += [f"VENV={venv}", f"VAR={var}"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_offline_a_local_checkpoint_directory_loads_and_a_missing_model_says_how(
    tmp_path: Path,
) -> None:
    checkpoint = str(save_tiny_sam(tmp_path / "local-sam"))
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf")}
    local = manage("model_info", checkpoint, "--json", env=env)
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout.strip().splitlines()[-1])["spec"] == checkpoint
    missing = manage("fetch_model", "sam-vit-base", env=env)
    assert missing.returncode != 0
    assert "make fetch-model MODEL=sam-vit-base" in missing.stderr
    assert "HF_HUB_OFFLINE" in missing.stderr


# ------------------------------------------------------------------ warm start


@pytest.mark.django_db(transaction=True)
def test_the_web_process_loads_active_models_at_start_and_readyz_says_when(
    tmp_path: Path,
) -> None:
    spec = str(save_tiny_sam(tmp_path / "warm-sam"))
    owner = make_user("wes")
    project = do_create_project(owner, name="Warm")
    project.model_spec = spec
    project.save()
    do_add_image(project, owner, picture(5), "w.png")
    server = AsgiServer(tmp_path / "media", tmp_path / "server.log", lifespan=True)
    server.start()
    try:
        deadline = time.monotonic() + 120
        answer: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{server.url}/readyz", timeout=5) as response:
                    answer = json.loads(response.read())
                    break
            except urllib.error.HTTPError as error:  # 503 while warming
                answer = json.loads(error.read())
                assert answer["ready"] is False
            time.sleep(0.1)
        assert answer["ready"] is True, server.log_tail()
        assert answer["models"] == {"loading": 0, "ready": 1, "failed": 0}, server.log_tail()
        # Nobody clicked: the process loaded it by itself, and said so.
        assert ModelStatus.objects.get(spec=spec).state == "ready"
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"ok": True}
    finally:
        server.stop()


# ------------------------------------------ who may create projects, which models


@pytest.mark.parametrize(
    ("creators", "allowed"),
    [([], False), (["annie"], True), (["rita", "annie"], True), (["rita"], False), (["*"], True)],
)
def test_who_may_create_projects_follows_the_setting(
    personas: Personas, settings: Any, creators: list[str], allowed: bool
) -> None:
    settings.ANYMASK_PROJECT_CREATORS = creators
    client = personas.client("annotator")  # annie, not staff
    listing = client.get(reverse("project-list")).content.decode()
    assert ("New project" in listing) is allowed
    response = client.post(
        reverse("project-create"), {"name": "Mine", "model_spec": "sam-vit-base"}
    )
    assert response.status_code == (302 if allowed else 403)
    assert Project.objects.filter(name="Mine").exists() is allowed
    if not allowed:
        assert "ANYMASK_PROJECT_CREATORS" in response.content.decode()
        assert client.get(reverse("project-create")).status_code == 403


def test_site_staff_may_always_create_projects(personas: Personas) -> None:
    User.objects.filter(pk=personas.annotator.pk).update(is_staff=True)
    response = personas.client("annotator").post(
        reverse("project-create"), {"name": "Staff's", "model_spec": "sam-vit-base"}
    )
    assert response.status_code == 302


def test_projects_offer_only_the_allowed_models_by_name(
    personas: Personas, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ANYMASK_PROJECT_CREATORS = ["*"]
    local = str(save_tiny_sam(tmp_path / "street-sam"))
    settings.ANYMASK_MODELS = ["sam-vit-base", "sam2.1-hiera-tiny", local]
    settings.ANYMASK_EXTRA_MODELS = []
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # nothing downloaded here
    client = personas.client("annotator")
    page = client.get(reverse("project-create")).content.decode()
    assert ">SAM ViT-B (sam-vit-base), not downloaded yet<" in page
    assert ">SAM 2.1 Hiera-T (sam2.1-hiera-tiny), not downloaded yet<" in page
    assert ">street-sam<" in page  # on disk: not marked; its name, not its path
    assert "sam-vit-huge" not in page
    refused = client.post(reverse("project-create"), {"name": "Huge", "model_spec": "sam-vit-huge"})
    assert refused.status_code == 200 and not Project.objects.filter(name="Huge").exists()
    assert "not one of the available choices" in refused.content.decode()


def test_a_project_keeps_its_model_after_the_operator_drops_it(
    personas: Personas, settings: Any
) -> None:
    Project.objects.filter(pk=personas.project.pk).update(model_spec="sam-vit-large")
    client = personas.client("owner")
    url = reverse("project-settings", args=[personas.project.pk])
    response = client.post(
        url, {"name": "Renamed", "description": "", "model_spec": "sam-vit-large"}
    )
    assert response.status_code == 302
    assert Project.objects.get(pk=personas.project.pk).name == "Renamed"


def test_the_pages_say_loading_the_model_while_a_process_loads_it(
    personas: Personas, settings: Any
) -> None:
    image = do_add_image(personas.project, personas.owner, picture(6), "l.png")
    ModelStatus.objects.create(spec="sam-vit-base", state="loading", updated_at=_now())
    client = personas.client("annotator")
    label = client.get(reverse("label-page", args=[personas.project.pk, image.pk]))
    assert "Loading the model SAM ViT-B (sam-vit-base)" in label.content.decode()
    model = client.get(reverse("project-model-status", args=[personas.project.pk])).json()
    assert model["state"] == "loading"
    grid = client.get(reverse("project-detail", args=[personas.project.pk])).content.decode()
    assert "waiting for the model" in grid
    # A row its process left behind long ago says nothing rather than "loading" forever.
    ModelStatus.objects.update(updated_at=_now() - timedelta(hours=1))
    assert status_of("sam-vit-base")["state"] == "unknown"


def test_the_model_status_is_for_members_only(personas: Personas) -> None:
    url = reverse("project-model-status", args=[personas.project.pk])
    assert personas.client("outsider").get(url).status_code == 404
    assert Client().get(url).status_code == 401


def test_a_device_problem_gets_a_device_fix_not_a_download(
    personas: Personas, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = str(save_tiny_sam(tmp_path / "sam"))
    Project.objects.filter(pk=personas.project.pk).update(model_spec=spec)
    monkeypatch.setenv("ANYMASK_DEVICE", "cuda:7")
    image = do_add_image(personas.project, personas.owner, picture(7), "d.png")
    assert embed_image(image.pk, retries=0, max_retries=5).startswith("failed: ")
    model = status_of(spec)
    assert model["state"] == "failed" and "cuda:7" in model["error"]
    assert model["fix"][0].startswith("export ANYMASK_DEVICE=cpu")
