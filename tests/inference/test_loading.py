"""Loading by spec: local directories, the per-process cache, and every failure mode.

Hub failures are provoked for real, without network: offline mode with an empty
cache, and an endpoint on a closed local port.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from inference import ModelUnavailableError, fetch_model, load_model, loaded_models
from inference.loading import dtype_for, pick_device
from inference.testing import save_tiny_sam


def test_it_loads_a_local_checkpoint_once_per_process(sam_dir: Path) -> None:
    first = load_model(str(sam_dir), device="cpu")
    assert load_model(str(sam_dir), device="cpu") is first
    assert first.info.spec == str(sam_dir) and first.family == "sam"
    assert first.dtype == torch.float32 and first.device.type == "cpu"
    assert first.info in loaded_models()


def test_concurrent_loads_share_one_model(tmp_path: Path, sam_dir: Path) -> None:
    spec = str(shutil.copytree(sam_dir, tmp_path / "copy"))
    results = []
    barrier = threading.Barrier(4)

    def load() -> None:
        barrier.wait()
        results.append(load_model(spec, device="cpu"))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(model is results[0] for model in results)


def test_a_sam2_video_checkpoint_loads_as_sam2(tmp_path: Path, sam2_dir: Path) -> None:
    # SAM 2.1 checkpoints on the hub are published with model_type "sam2_video".
    copy = shutil.copytree(sam2_dir, tmp_path / "video")
    config = json.loads((copy / "config.json").read_text())
    config["model_type"] = "sam2_video"
    (copy / "config.json").write_text(json.dumps(config))
    model = load_model(str(copy), device="cpu")
    assert model.family == "sam2"


def test_fetch_model_returns_a_local_directory_untouched(sam_dir: Path) -> None:
    assert fetch_model(str(sam_dir)) == sam_dir


@pytest.mark.parametrize("spec", ["sam-vit-gigantic", "./missing-dir", "/definitely/not/here"])
def test_unknown_specs_fail_at_once(spec: str) -> None:
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="known models: sam-vit-base"):
        load_model(spec, device="cpu")
    assert time.monotonic() - started < 1


def test_a_directory_with_another_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelUnavailableError, match="'vit' model, not SAM or SAM 2"):
        load_model(str(tmp_path), device="cpu")


def test_corrupt_weights_are_refused(tmp_path: Path, sam_dir: Path) -> None:
    copy = shutil.copytree(sam_dir, tmp_path / "corrupt")
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    with pytest.raises(ModelUnavailableError, match="corrupt or incomplete") as info:
        load_model(str(copy), device="cpu")
    assert str(copy) in str(info.value)


def test_incomplete_weights_are_refused_not_randomly_filled(tmp_path: Path, sam_dir: Path) -> None:
    copy = shutil.copytree(sam_dir, tmp_path / "incomplete")
    tensors = load_file(copy / "model.safetensors")
    dropped = sorted(k for k in tensors if k.startswith("mask_decoder.iou_prediction_head"))
    for key in dropped:
        del tensors[key]
    save_file(tensors, copy / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelUnavailableError, match="lacks or mis-sizes"):
        load_model(str(copy), device="cpu")


def test_a_family_that_contradicts_the_registry_is_refused(tmp_path: Path) -> None:
    from inference.loading import _check_family
    from inference.specs import resolve_spec

    with pytest.raises(ModelUnavailableError, match="should be a 'sam' checkpoint"):
        _check_family(resolve_spec("sam-vit-base"), "sam2")


def test_offline_with_an_empty_cache_fails_fast_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        load_model("sam-vit-base", device="cpu")
    message = str(info.value)
    assert "'sam-vit-base' (facebook/sam-vit-base) is unavailable" in message
    assert "HF_HUB_OFFLINE" in message and str(tmp_path) in message
    assert "make fetch-model MODEL=sam-vit-base" in message
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE"):
        fetch_model("facebook/sam2.1-hiera-tiny")
    assert time.monotonic() - started < 5


def test_an_unreachable_hub_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="Hugging Face Hub is unreachable"):
        load_model("someone/some-sam", device="cpu")
    assert time.monotonic() - started < 15


class _NotFoundHandler(BaseHTTPRequestHandler):
    """A hub that knows no models: every request gets the hub's 404 answer."""

    def do_GET(self) -> None:  # http.server's method naming
        body = b'{"error": "Repository not found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def empty_hub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFoundHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_model_the_hub_does_not_have_is_reported_as_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_hub: str
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_ENDPOINT", empty_hub)
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="refused it") as info:
        load_model("someone/no-such-sam", device="cpu")
    assert "HF_TOKEN" in str(info.value) and "no local directory has that name" in str(info.value)
    assert time.monotonic() - started < 15


def test_device_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANYMASK_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    monkeypatch.setenv("ANYMASK_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("ANYMASK_DEVICE", "tpu-please")
    with pytest.raises(ModelUnavailableError, match="not a torch device name"):
        pick_device()


def test_precision_is_bf16_where_native_and_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    from inference.loading import cpu_has_native_bf16

    monkeypatch.delenv("ANYMASK_DTYPE", raising=False)
    assert dtype_for(torch.device("cuda", 0)) == torch.bfloat16
    # The CPU's answer is torch's probe (private API; patched to cover both answers).
    for native, expected in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda n=native: n)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        cpu_has_native_bf16.cache_clear()
        assert dtype_for(torch.device("cpu")) == expected
    monkeypatch.undo()
    cpu_has_native_bf16.cache_clear()  # the real answer again for later tests
    monkeypatch.delenv("ANYMASK_DTYPE", raising=False)
    monkeypatch.setenv("ANYMASK_DTYPE", "float32")
    assert dtype_for(torch.device("cuda", 0)) == torch.float32
    monkeypatch.setenv("ANYMASK_DTYPE", "BFloat16")
    assert dtype_for(torch.device("cpu")) == torch.bfloat16
    monkeypatch.setenv("ANYMASK_DTYPE", "float8")
    with pytest.raises(ModelUnavailableError, match="ANYMASK_DTYPE='float8'"):
        dtype_for(torch.device("cpu"))


def test_a_model_is_loaded_once_per_dtype(sam_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYMASK_DTYPE", "bfloat16")
    fast = load_model(str(sam_dir))
    assert fast.info.dtype == "bfloat16" and load_model(str(sam_dir)) is fast
    monkeypatch.setenv("ANYMASK_DTYPE", "float32")
    exact = load_model(str(sam_dir))
    assert exact is not fast and exact.info.dtype == "float32"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error(
    sam_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYMASK_DEVICE", "cuda")
    with pytest.raises(ModelUnavailableError, match="CUDA is not available"):
        load_model(str(sam_dir))


def test_a_loaded_model_is_served_without_reading_its_directory_again(tmp_path: Path) -> None:
    """The labeling socket asks for its model on every click: that must not touch disk."""
    path = save_tiny_sam(tmp_path / "sam")
    model = load_model(str(path))
    (path / "config.json").unlink()
    assert load_model(str(path)) is model
