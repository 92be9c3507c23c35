"""Loading models by spec, once per process.

`load_model(spec)` resolves the spec (see `specs`), downloads hub checkpoints with
`huggingface_hub` (its tqdm progress bar, its normal cache, only config and
safetensors files), loads the weights with transformers, and caches the result per
(spec, device). Every way this can fail (unknown name, no network, offline mode
with an empty cache, a wrong path, a config that is not SAM, corrupt or incomplete
weights, a device that is not there) ends in one `ModelUnavailableError` naming the
spec and what to do about it.

Nothing here waits without a bound: the hub is probed with a 10 s timeout before a
download starts (huggingface_hub's own metadata calls have none), and downloads use
its per-request timeouts.

Environment, read at call time: `ANYMASK_DEVICE` (e.g. cpu, cuda, cuda:1) overrides
the automatic choice (CUDA when available, else CPU); `ANYMASK_DTYPE` (float32,
bfloat16 or auto) overrides the precision (see `dtype_for`); `HF_HUB_OFFLINE`,
`HF_ENDPOINT`, `HF_HOME` and `HF_HUB_CACHE` as huggingface_hub documents them.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from .availability import LoadEvent, hub_cache_dir, report
from .errors import DeviceOutOfMemoryError, InferenceError, ModelUnavailableError
from .model import ModelInfo, SegmentationModel
from .specs import (
    Family,
    ResolvedSpec,
    canonical_spec,
    read_checkpoint_family,
    resolve_spec,
)

log = logging.getLogger(__name__)

DEVICE_ENV = "ANYMASK_DEVICE"
HUB_TIMEOUT_S = 10.0
WEIGHT_FILES = ["config.json", "*.safetensors", "*.safetensors.index.json"]

_models: dict[tuple[str, str, str], SegmentationModel] = {}
# The same models keyed by the spec as callers spell it: the labeling socket asks for
# its model on every click, and resolving a local-directory spec reads its config.
_requested: dict[tuple[str, str, str], SegmentationModel] = {}
_key_locks: dict[tuple[str, str, str], threading.Lock] = {}
_registry_lock = threading.Lock()
_T = TypeVar("_T")


def load_model(spec: str, device: str | None = None) -> SegmentationModel:
    """The model for `spec` on `device` (default: `ANYMASK_DEVICE`, else CUDA, else CPU).

    Loaded once per process and (spec, device, dtype); concurrent callers of the same
    key wait for one load. The dtype is `dtype_for(device)`.
    """
    try:
        target = pick_device(device)
        dtype = dtype_for(target)
    except ModelUnavailableError as exc:  # no such device here: worth showing too
        report(LoadEvent(canonical_spec(str(spec)), "failed", error=str(exc)))
        raise
    asked = (spec, str(target), str(dtype))
    model = _requested.get(asked)
    if model is not None:
        return model
    try:
        resolved = resolve_spec(spec)
    except ModelUnavailableError as exc:  # a wrong path, say: still worth showing
        report(LoadEvent(canonical_spec(str(spec)), "failed", error=str(exc)))
        raise
    key = (resolved.spec, str(target), str(dtype))
    with _registry_lock:
        model = _models.get(key)
        key_lock = _key_locks.setdefault(key, threading.Lock())
    if model is None:
        with key_lock:  # one loader per key; other keys load in parallel
            model = _models.get(key)
            if model is None:
                model = _reported(resolved.spec, lambda: _load(resolved, target, dtype))
    with _registry_lock:
        _models[key] = model
        _requested[asked] = model
    return model


def fetch_model(spec: str) -> Path:
    """Make sure the checkpoint for `spec` is on disk (download it if needed); return its
    directory. Loads nothing into memory: for `manage.py` commands and image builds."""
    resolved = resolve_spec(spec)

    def fetch() -> Path:
        path = _checkpoint_dir(resolved)
        _check_family(resolved, read_checkpoint_family(path, resolved.spec))
        return path

    return _reported(resolved.spec, fetch)


def _reported(spec: str, work: Callable[[], _T]) -> _T:
    """Run a load (or a fetch), telling `availability` listeners how it goes: ready
    at the end means the model can be used here (loaded, or on disk for a fetch)."""
    report(LoadEvent(spec, "loading"))
    try:
        result = work()
    except ModelUnavailableError as exc:
        report(LoadEvent(spec, "failed", error=str(exc)))
        raise
    except Exception as exc:
        report(LoadEvent(spec, "failed", error=f"{type(exc).__name__}: {exc}"))
        raise
    report(LoadEvent(spec, "ready"))
    return result


def loaded_models() -> list[ModelInfo]:
    """Summaries of the models this process has loaded."""
    with _registry_lock:
        return [model.info for model in _models.values()]


def clear_model_cache() -> None:
    """Forget loaded models (they are freed once no caller holds them)."""
    with _registry_lock:
        _models.clear()
        _requested.clear()
        _key_locks.clear()


def pick_device(device: str | None = None) -> torch.device:
    """Resolve `device`, else `ANYMASK_DEVICE`, else CUDA if available, else CPU."""
    name = device or os.environ.get(DEVICE_ENV, "").strip() or None
    if name is None:
        if _has_cuda():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    try:
        target = torch.device(name)
    except (RuntimeError, ValueError):
        raise ModelUnavailableError(
            f"device {name!r} is not a torch device name (try cpu, cuda or cuda:0)"
        ) from None
    if target.type == "cuda":
        if not _has_cuda():
            raise ModelUnavailableError(
                f"device {name!r} was requested but CUDA is not available here; "
                f"unset {DEVICE_ENV} or set it to cpu"
            )
        index = torch.cuda.current_device() if target.index is None else target.index
        if index >= torch.cuda.device_count():
            raise ModelUnavailableError(
                f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
        return torch.device("cuda", index)
    if target.type not in ("cpu", "mps"):
        raise ModelUnavailableError(f"device {name!r} is not supported (use cpu or cuda)")
    if target.type == "mps" and not torch.backends.mps.is_available():
        raise ModelUnavailableError(f"device {name!r} was requested but MPS is not available")
    return target


DTYPE_ENV = "ANYMASK_DTYPE"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def dtype_for(device: torch.device) -> torch.dtype:
    """`ANYMASK_DTYPE` if set (float32 or bfloat16), else bfloat16 where the hardware
    computes it natively and float32 elsewhere.

    Native means CUDA (tensor cores, half the memory) or a CPU with AVX512-BF16 or
    AMX: there SAM ViT-B encodes ~2.8x and decodes ~15% faster than in float32
    (bench/encode.py, bench/decode.py), which is what lets two cores keep up with
    ten annotators (bench/ws_clicks.py). Elsewhere bfloat16 is emulated, and slower.
    """
    chosen = os.environ.get(DTYPE_ENV, "").strip().lower()
    if chosen and chosen != "auto":
        if chosen not in _DTYPES:
            raise ModelUnavailableError(
                f"{DTYPE_ENV}={chosen!r} is not a dtype Anymask runs in; use "
                f"{', '.join(sorted(_DTYPES))} or auto."
            )
        return _DTYPES[chosen]
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()):
        return torch.bfloat16
    return torch.float32


@functools.cache
def cpu_has_native_bf16() -> bool:
    # torch only exposes these probes privately; without them, assume no.
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(getattr(torch.cpu, probe)() for probe in probes if hasattr(torch.cpu, probe))
    except Exception:
        return False


def _has_cuda() -> bool:
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def _load(resolved: ResolvedSpec, device: torch.device, dtype: torch.dtype) -> SegmentationModel:
    from transformers import Sam2Model, SamModel

    from .sam import SamSegmentationModel
    from .sam2 import Sam2SegmentationModel

    started = time.perf_counter()
    path = _checkpoint_dir(resolved)
    family = read_checkpoint_family(path, resolved.spec)
    _check_family(resolved, family)
    network_class = SamModel if family == "sam" else Sam2Model
    engine_class = SamSegmentationModel if family == "sam" else Sam2SegmentationModel
    try:
        loaded: Any = network_class.from_pretrained(
            path, local_files_only=True, dtype=dtype, output_loading_info=True
        )
        network, report = loaded
    except Exception as exc:  # transformers and safetensors raise many unrelated types
        raise ModelUnavailableError(
            f"model {resolved.spec!r}: cannot load the checkpoint in {path} "
            f"({type(exc).__name__}: {exc}); the files may be corrupt or incomplete, "
            "delete them and download or save them again"
        ) from exc
    # from_pretrained fills absent weights with random values and only warns: refuse.
    broken = sorted(report.get("missing_keys", ())) + [
        str(item[0]) if isinstance(item, tuple) else str(item)
        for item in report.get("mismatched_keys", ())
    ]
    if broken:
        raise ModelUnavailableError(
            f"model {resolved.spec!r}: the checkpoint in {path} lacks or mis-sizes "
            f"{len(broken)} weights (e.g. {', '.join(broken[:3])}); it is incomplete "
            "or for another architecture"
        )
    try:
        network = network.to(device)
    except RuntimeError as exc:
        raise device_error(resolved.spec, device, exc) from exc
    source = resolved.hub_id if resolved.source != "local" else str(path)
    model = engine_class(resolved.spec, network, str(source), time.perf_counter() - started)
    log.info("loaded %s", model.info)
    return model


def device_error(spec: str, device: torch.device, exc: RuntimeError) -> InferenceError:
    """What a failed move of a model onto `device` means for the caller. Out of memory
    is transient (another process holds the GPU now and frees it later), so it is a
    `DeviceOutOfMemoryError` the job retries; anything else will not fix itself."""
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return DeviceOutOfMemoryError(
            f"model {spec!r}: no room on {device} for it right now ({exc}); will retry"
        )
    return ModelUnavailableError(f"model {spec!r}: cannot move it to {device} ({exc})")


def _check_family(resolved: ResolvedSpec, family: Family) -> None:
    if resolved.family is not None and resolved.family != family:
        raise ModelUnavailableError(
            f"model {resolved.spec!r} should be a {resolved.family!r} checkpoint but its "
            f"config.json says {family!r}"
        )


def _checkpoint_dir(resolved: ResolvedSpec) -> Path:
    if resolved.path is not None:
        return resolved.path
    assert resolved.hub_id is not None
    return _download(resolved.spec, resolved.hub_id)


def _download(spec: str, repo_id: str, patterns: list[str] | None = None) -> Path:
    """Fetch config + safetensors of `repo_id` (and any other `patterns`, a concept
    model's tokenizer, say) into the hub cache, or find them there."""
    from huggingface_hub import snapshot_download

    cache_dir = hub_cache_dir()
    offline = _env_flag("HF_HUB_OFFLINE") or _env_flag("TRANSFORMERS_OFFLINE")
    endpoint = os.environ.get("HF_ENDPOINT") or None
    probe_error = None if offline else _probe_hub(repo_id, endpoint)
    try:
        path = snapshot_download(
            repo_id,
            cache_dir=cache_dir,
            allow_patterns=patterns or WEIGHT_FILES,
            local_files_only=offline or probe_error is not None,
            etag_timeout=HUB_TIMEOUT_S,
            endpoint=endpoint,
            tqdm_class=_progress_bar_class(spec),
        )
    except Exception as exc:  # network, auth, disk, cache-miss errors all end here
        where = cache_dir or "the default Hugging Face cache"
        if offline:
            reason = f"downloads are disabled (HF_HUB_OFFLINE) and it is not cached in {where}"
        elif probe_error is not None:
            reason = f"{probe_error}, and it is not in {where}"
        else:
            reason = f"the download failed ({type(exc).__name__}: {exc})"
        not_a_dir = " (and no local directory has that name)" if spec == repo_id else ""
        raise ModelUnavailableError(
            f"model {spec!r} ({repo_id}) is unavailable{not_a_dir}: {reason}. Download it "
            f"where the hub is reachable with `make fetch-model MODEL={spec}` (into the "
            "same HF_HOME), or set the project's model to the path of a local checkpoint "
            "directory"
        ) from exc
    return Path(path)


def _probe_hub(repo_id: str, endpoint: str | None) -> str | None:
    """None if the hub serves `repo_id` within the timeout, else why not (a phrase)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        HfApi(endpoint=endpoint).model_info(repo_id, timeout=HUB_TIMEOUT_S)
    except HfHubHTTPError as exc:  # 401 / 403 / 404 / 5xx: the hub answered
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (
            f"the Hugging Face Hub refused it ({first_line}); check the repo id, "
            "and HF_TOKEN for gated or private models"
        )
    except Exception as exc:  # connection refused, DNS failure, timeout, proxy, ...
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        return f"the Hugging Face Hub is unreachable ({type(exc).__name__}: {first_line})"
    return None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _progress_bar_class(spec: str) -> type[Any]:
    """A tqdm class for `snapshot_download` that reports its byte counts.

    huggingface_hub sums every file's bytes into one bar named
    `huggingface_hub.snapshot_download` (and shows it as before); this subclass also
    passes its count and total on as `downloading` events, at most every 0.25 s.
    """
    from huggingface_hub.utils import tqdm as hf_tqdm

    class ReportingBar(hf_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._reports = kwargs.get("name") == "huggingface_hub.snapshot_download"
            self._done, self._last = 0, 0.0
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            if self._reports:
                self._done += int(n or 0)
                now = time.monotonic()
                total = int(self.total or 0)
                if now - self._last >= 0.25 or (total and self._done >= total):
                    self._last = now
                    report(LoadEvent(spec, "downloading", self._done, max(total, self._done)))
            return super().update(n)

    return ReportingBar
