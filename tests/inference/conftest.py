"""Fixtures for the inference engine: tiny random SAM / SAM 2 checkpoints on disk.

The checkpoints are written once per session with `save_pretrained` and loaded
through the same local-directory spec path as real weights. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inference.embedding import Embedding
from inference.loading import load_model
from inference.model import SegmentationModel
from inference.testing import save_tiny_sam, save_tiny_sam2

IMAGE_HEIGHT, IMAGE_WIDTH = 600, 900


@contextlib.contextmanager
def float32_loads() -> Iterator[None]:
    """Engine tests check our math against transformers' float32 reference, to
    float32 tolerances; bfloat16 rounding (the default on some CPUs) is not ours to
    test there. The app's tests run in whatever precision production picks."""
    before = os.environ.get("ANYMASK_DTYPE")
    os.environ["ANYMASK_DTYPE"] = "float32"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("ANYMASK_DTYPE", None)
        else:
            os.environ["ANYMASK_DTYPE"] = before


@pytest.fixture(scope="package", autouse=True)
def exact_precision() -> Iterator[None]:
    """Every model a test of this package loads itself is float32 (see above)."""
    with float32_loads():
        yield


def load_float32(path: Path) -> SegmentationModel:
    # Session fixtures are set up before the package's autouse one: pin it here too.
    with float32_loads():
        return load_model(str(path), device="cpu")


@pytest.fixture(scope="session")
def sam_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_sam(tmp_path_factory.mktemp("tiny-sam"))


@pytest.fixture(scope="session")
def sam2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_sam2(tmp_path_factory.mktemp("tiny-sam2"))


@pytest.fixture(scope="session")
def image() -> np.ndarray:
    """A 600x900 RGB picture: a red disk and a green bar on grey, plus mild noise."""
    yy, xx = np.mgrid[0:IMAGE_HEIGHT, 0:IMAGE_WIDTH]
    picture = np.full((IMAGE_HEIGHT, IMAGE_WIDTH, 3), 60, np.uint8)
    picture[(yy - 300) ** 2 + (xx - 450) ** 2 < 150**2] = (200, 40, 40)
    picture[80:180, 100:320] = (40, 200, 80)
    noise = np.random.default_rng(0).integers(0, 20, picture.shape, dtype=np.uint8)
    return picture + noise


@pytest.fixture(scope="session", params=["sam", "sam2"])
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def model(family: str, sam_dir: Path, sam2_dir: Path) -> SegmentationModel:
    return load_float32(sam_dir if family == "sam" else sam2_dir)


@pytest.fixture(scope="session")
def embedding(model: SegmentationModel, image: np.ndarray) -> Embedding:
    return model.encode(image)


@pytest.fixture(scope="session")
def sam_model(sam_dir: Path) -> SegmentationModel:
    return load_float32(sam_dir)


@pytest.fixture(scope="session")
def sam_embedding(sam_model: SegmentationModel, image: np.ndarray) -> Embedding:
    return sam_model.encode(image)
