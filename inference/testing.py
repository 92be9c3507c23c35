"""Random-weight SAM and SAM 2 models for tests, demos and benchmarks (no download).

Tiny checkpoints (`save_tiny_sam(path)`, `save_tiny_sam2(path)`) keep the real input
size (1024), embedding grid (64x64) and channel counts (256), so every shape the web
app sees is the real one, but shrink the image encoders to a few thin layers: saving
takes well under a second and encoding about a second on a CPU. They are written as
`config.json` + `model.safetensors`, the layout `save_pretrained` gives real
checkpoints, so `load_model(str(path))` loads them through the ordinary
local-directory path. The weights are random (seeded): masks are meaningless but
deterministic, and scaled so logits span several units (see `randomize_weights`).

`build_random_model(name)` builds a registry model at full size with random weights,
in memory, for benchmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from .model import SegmentationModel

TINY_SAM_VISION = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "global_attn_indexes": [1],
    "mlp_dim": 64,
}
TINY_HIERA: dict[str, Any] = {
    "model_type": "sam2_hiera_det_model",
    "hidden_size": 16,
    "num_attention_heads": 1,
    "embed_dim_per_stage": [16, 32, 64, 128],
    "num_attention_heads_per_stage": [1, 1, 2, 2],
    "blocks_per_stage": [1, 1, 2, 1],
    "global_attention_blocks": [3],
}
# Decoders keep the real width (256) so embeddings have their real shapes; only the
# token-side MLPs shrink.
TINY_DECODER = {"mlp_dim": 64, "iou_head_hidden_dim": 64}


def tiny_sam_config() -> Any:
    """A `SamConfig` with a 2-layer, 32-wide ViT and the real 1024 / 64x64 / 256 sizes."""
    from transformers import SamConfig

    return SamConfig(vision_config=dict(TINY_SAM_VISION), mask_decoder_config=dict(TINY_DECODER))


def tiny_sam2_config() -> Any:
    """A `Sam2Config` with a 5-block, 16-wide Hiera and the real feature shapes."""
    from transformers import Sam2Config

    return Sam2Config(
        vision_config={
            "backbone_config": dict(TINY_HIERA),
            "backbone_channel_list": TINY_HIERA["embed_dim_per_stage"][::-1],
        },
        mask_decoder_config=dict(TINY_DECODER),
    )


def save_tiny_sam(path: str | Path, seed: int = 0, *, coherent: bool = False) -> Path:
    """Write a tiny random SAM checkpoint into directory `path`; return the path.

    `coherent` gives blob-shaped masks instead of noise (`make_masks_coherent`).
    """
    from transformers import SamModel

    return _save(SamModel, tiny_sam_config(), Path(path), seed, coherent=coherent)


def save_tiny_sam2(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny random SAM 2 checkpoint into directory `path`; return the path."""
    from transformers import Sam2Model

    return _save(Sam2Model, tiny_sam2_config(), Path(path), seed)


def save_random_model(name: str, path: str | Path, *, coherent: bool = False) -> Path:
    """Registry model `name` at full size with random weights, written to directory
    `path` like a real checkpoint (for benchmarks that run a server); returns `path`."""
    from .specs import SPECS

    spec = SPECS[name]
    config = spec.transformers_config()
    return _save(_network_class(spec.family), config, Path(path), 0, coherent=coherent)


def _network_class(family: str) -> Any:
    from transformers import Sam2Model, SamModel

    return SamModel if family == "sam" else Sam2Model


def _random_network(model_class: Any, config: Any, seed: int, coherent: bool) -> Any:
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = model_class(config).eval()
    finally:
        torch.random.set_rng_state(generator_state)  # leave the caller's RNG untouched
    randomize_weights(model, seed)
    if coherent:
        make_masks_coherent(model)
    return model


def _save(model_class: Any, config: Any, path: Path, seed: int, *, coherent: bool = False) -> Path:
    model = _random_network(model_class, config, seed, coherent)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)  # config.json + model.safetensors
    return path


def randomize_weights(model: torch.nn.Module, seed: int) -> None:
    """Redraw linear and conv weights with std 1/sqrt(fan_in).

    transformers initialises SAM for training (std 0.02, the ViT at 1e-10), which
    leaves a random model's logits within +-0.01 of zero: every mask is noise around
    the threshold and every stability score is 0. Variance-preserving weights keep
    activations at unit scale, so logits span several units and thresholds, sorting
    and stability filters behave as they do with trained weights.
    """
    generator = torch.Generator().manual_seed(seed)
    layers = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, layers):
                weight = module.weight
                # Conv2d: (out, in, k, k); ConvTranspose2d: (in, out, k, k), stride = k.
                if isinstance(module, torch.nn.ConvTranspose2d):
                    fan_in = weight.shape[0]
                else:
                    fan_in = weight[0].numel()
                weight.normal_(0.0, fan_in**-0.5, generator=generator)


def make_masks_coherent(network: torch.nn.Module) -> None:
    """Give each 2x2 transposed conv of the mask decoder one kernel for all four
    output positions, so a random model's masks are blobs, as trained SAM's are.

    With independent kernels a random decoder paints a different pattern on every
    pixel of each 2x2 block: its masks are salt-and-pepper noise whose COCO RLE is
    about 30x longer than a real mask's (~80k characters at 1024x768 against ~3k),
    which would make a benchmark of the whole click path (RLE, JSON, websocket) time
    the noise. Only weight values change: the compute is the model's own.
    """
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.ConvTranspose2d):
                weight = module.weight  # (in, out, k, k)
                weight.copy_(weight[:, :, :1, :1].expand_as(weight))


def build_random_model(
    name: str,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    *,
    coherent: bool = False,
) -> SegmentationModel:
    """Registry model `name` at full size with random weights (for benchmarks).

    The network is built from the registry's hyperparameters, so it has exactly the
    compute of the published model; only the weight values are random. `coherent`
    gives blob-shaped masks, as trained weights do (`make_masks_coherent`).
    """
    from .loading import dtype_for, pick_device
    from .sam import SamSegmentationModel
    from .sam2 import Sam2SegmentationModel
    from .specs import SPECS

    spec = SPECS[name]
    target = pick_device(device)
    network = _random_network(_network_class(spec.family), spec.transformers_config(), 0, coherent)
    network = network.to(target, dtype or dtype_for(target))
    engine = SamSegmentationModel if spec.family == "sam" else Sam2SegmentationModel
    return engine(name, network, "random weights", 0.0)


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like HxWx3 uint8 image: coloured disks over a gradient, plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 200 // width, yy * 200 // height, np.full_like(xx, 90)], axis=-1)
    image = image.astype(np.uint8)
    for _ in range(6):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(0.05, 0.25) * min(height, width)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = rng.integers(0, 256, 3)
    return image + rng.integers(0, 12, image.shape, dtype=np.uint8)
