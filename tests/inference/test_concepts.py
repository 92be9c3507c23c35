"""SAM 3 concept prompts in the engine: one image's features serve many phrases, the
instances match transformers' post-processing, duplicates and specks are dropped,
and every input is bounded. A tiny random SAM 3 saved with `save_pretrained`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from inference import ModelUnavailableError, PromptError
from inference.concepts import (
    MAX_EXEMPLARS,
    ByteLRU,
    ConceptFeatures,
    ConceptModel,
    Exemplar,
    load_concept_model,
    mask_nms,
)
from inference.concepts.loading import concept_checkpoint
from inference.concepts.roi_align import roi_align
from inference.concepts.testing import save_tiny_sam3
from inference.masks import rle_decode
from tests.inference.conftest import float32_loads


@pytest.fixture(scope="module")
def sam3(tmp_path_factory: pytest.TempPathFactory) -> ConceptModel:
    path = save_tiny_sam3(tmp_path_factory.mktemp("models") / "tiny-sam3")
    with float32_loads():
        return load_concept_model(str(path))


@pytest.fixture(scope="module")
def features(sam3: ConceptModel) -> ConceptFeatures:
    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    return sam3.vision_features(image)


# ------------------------------------------------------------------ RoIAlign


def test_roi_align_of_a_constant_map_is_that_constant() -> None:
    features = torch.full((1, 2, 8, 8), 3.0)
    pooled = roi_align(features, [torch.tensor([[1.0, 1.0, 6.0, 5.0]])], 2)
    assert pooled.shape == (1, 2, 2, 2)
    assert torch.allclose(pooled, torch.full_like(pooled, 3.0))


def test_roi_align_of_a_ramp_is_the_value_at_each_bin_centre() -> None:
    # f(y, x) = x: bilinear samples of a linear map average to the value at the mean
    # sample, the bin centre. Box x from 1 to 5 in 2 bins: centres at 2 and 4.
    ramp = torch.arange(8, dtype=torch.float32).repeat(8, 1)[None, None]
    pooled = roi_align(ramp, [torch.tensor([[1.0, 2.0, 5.0, 6.0]])], 2)
    assert torch.allclose(pooled[0, 0], torch.tensor([[2.0, 4.0], [2.0, 4.0]]), atol=1e-5)


def test_roi_align_reads_zero_far_outside_the_map() -> None:
    features = torch.ones((1, 1, 4, 4))
    pooled = roi_align(features, [torch.tensor([[10.0, 10.0, 14.0, 14.0]])], 1)
    assert float(pooled) == 0.0


# ------------------------------------------------------------------ the cache


def test_the_feature_cache_is_bounded_in_bytes_not_entries() -> None:
    cache: ByteLRU[bytes] = ByteLRU(100, len)
    for key in range(10):
        cache.put(key, b"x" * 30)
    assert cache.bytes <= 100 and len(cache) == 3
    assert 9 in cache and 0 not in cache
    cache.get(7)  # used: now the newest
    cache.put("new", b"y" * 30)
    assert 7 in cache and 8 not in cache


def test_an_entry_larger_than_the_whole_cache_is_not_kept() -> None:
    cache: ByteLRU[bytes] = ByteLRU(10, len)
    cache.put("small", b"12345")
    cache.put("huge", b"x" * 11)
    assert "huge" not in cache and "small" in cache


def test_features_of_200_images_stay_under_the_cache_limit(tmp_path: Path) -> None:
    with float32_loads():  # the smallest SAM 3 that runs: 56-px input, 4x4 tokens
        sam3 = load_concept_model(str(save_tiny_sam3(tmp_path / "sam3-56", image_size=56)))
    rng = np.random.default_rng(1)
    one = sam3.vision_features(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).nbytes
    budget = 4 * one  # four images of this tiny model
    cache: ByteLRU[ConceptFeatures] = ByteLRU(budget, lambda f: f.nbytes)
    for image_id in range(200):
        image = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        cache.put(image_id, sam3.vision_features(image))
        assert cache.bytes <= budget
    assert len(cache) == 4


# ------------------------------------------------------------------ queries


def transformers_post_process(outputs: object, **kwargs: object) -> list[dict[str, torch.Tensor]]:
    """transformers' own `Sam3ImageProcessor.post_process_instance_segmentation`, run
    from its installed source. Its module imports torchvision at the top (for other
    methods), which Anymask does not install, so the two functions this one needs are
    read out of the file and run as they are, unchanged."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec("transformers.models.sam3")
    assert spec is not None and spec.submodule_search_locations is not None
    source = Path(next(iter(spec.submodule_search_locations)), "image_processing_sam3.py")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    wanted = {"_scale_boxes", "post_process_instance_segmentation"}
    found: list[ast.stmt] = [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in wanted
    ]
    assert {n.name for n in found if isinstance(n, ast.FunctionDef)} == wanted
    namespace: dict[str, object] = {"torch": torch}
    exec(compile(ast.Module(body=found, type_ignores=[]), str(source), "exec"), namespace)  # noqa: S102
    post_process = namespace["post_process_instance_segmentation"]
    return post_process(None, outputs, **kwargs)  # type: ignore[operator]


def test_instances_match_transformers_post_processing(
    sam3: ConceptModel, features: ConceptFeatures
) -> None:
    outputs = sam3.raw_outputs(features, "tree")
    theirs = transformers_post_process(
        outputs, threshold=0.2, mask_threshold=0.5, target_sizes=[features.size]
    )[0]
    ours = sam3.find_instances(features, "tree", threshold=0.2, nms_iou=1.0, max_instances=200)
    kept = [i for i in range(len(theirs["scores"])) if int(theirs["masks"][i].sum()) > 0]
    assert len(ours) == len(kept) > 0
    by_score = sorted(kept, key=lambda i: -float(theirs["scores"][i]))
    for instance, index in zip(ours, by_score, strict=True):
        assert instance.score == pytest.approx(float(theirs["scores"][index]), abs=1e-6)
        mask = rle_decode(instance.rle)
        assert np.array_equal(mask, theirs["masks"][index].numpy().astype(bool))
        assert instance.area == int(mask.sum())
        box = theirs["boxes"][index].clamp(min=0).tolist()
        assert instance.box == pytest.approx(box, abs=1e-3)


def test_a_phrase_asked_again_reuses_its_text_features(
    sam3: ConceptModel, features: ConceptFeatures
) -> None:
    first = sam3.find_instances(features, "  Red   CAR ", threshold=0.0)
    assert "red car" in sam3.cached_phrases()
    encoded, _ = sam3.text_features("red car")
    again = sam3.find_instances(features, "red car", threshold=0.0)
    assert sam3.text_features("RED car")[0] is encoded  # one entry per phrase
    assert [i.rle for i in first] == [i.rle for i in again]


def test_duplicates_and_specks_are_dropped(sam3: ConceptModel, features: ConceptFeatures) -> None:
    everything = sam3.find_instances(features, "dog", threshold=0.0, nms_iou=1.0)
    deduplicated = sam3.find_instances(features, "dog", threshold=0.0, nms_iou=0.3)
    assert len(deduplicated) < len(everything)
    masks = [rle_decode(i.rle) for i in deduplicated]
    for a in range(len(masks)):
        for b in range(a + 1, len(masks)):
            union = np.logical_or(masks[a], masks[b]).sum()
            assert np.logical_and(masks[a], masks[b]).sum() / union <= 0.3
    smallest = min(i.area for i in everything)
    assert all(
        i.area > smallest
        for i in sam3.find_instances(
            features, "dog", threshold=0.0, nms_iou=1.0, min_area=smallest + 1
        )
    )
    capped = sam3.find_instances(features, "dog", threshold=0.0, nms_iou=1.0, max_instances=2)
    assert [i.score for i in capped] == [i.score for i in everything[:2]]


def test_mask_nms_keeps_the_better_of_two_copies() -> None:
    mask = torch.zeros((3, 8, 8), dtype=torch.bool)
    mask[0, :4, :4] = mask[1, :4, :4] = True
    mask[2, 4:, 4:] = True
    assert mask_nms(mask, torch.tensor([0.4, 0.9, 0.5]), 0.5) == [1, 2]


def test_exemplar_boxes_refine_the_query(sam3: ConceptModel, features: ConceptFeatures) -> None:
    plain = sam3.find_instances(features, "dog", threshold=0.0, nms_iou=1.0)
    refined = sam3.find_instances(
        features,
        "dog",
        [Exemplar((10, 10, 40, 30), True), Exemplar((50, 30, 70, 50), False)],
        threshold=0.0,
        nms_iou=1.0,
    )
    assert refined and [i.score for i in refined] != [i.score for i in plain]
    boxed = sam3.find_instances(features, None, [Exemplar((10, 10, 40, 30), True)], threshold=0.0)
    assert boxed and "visual" in sam3.cached_phrases()  # a box-only query says "visual"


@pytest.mark.parametrize(
    ("text", "exemplars", "message"),
    [
        ("", [], "non-empty"),
        ("x" * 101, [], "at most 100"),
        (None, [], "a phrase or at least one exemplar"),
        ("dog", [Exemplar((0, 0, 90, 10), True)], "inside the image"),
        ("dog", [Exemplar((20, 10, 10, 30), True)], "x1 < x2"),
        ("dog", [Exemplar((1, 1, 5, 5), True)] * (MAX_EXEMPLARS + 1), "at most"),
    ],
)
def test_bad_queries_are_refused_clearly(
    sam3: ConceptModel,
    features: ConceptFeatures,
    text: str | None,
    exemplars: list[Exemplar],
    message: str,
) -> None:
    with pytest.raises(PromptError, match=message):
        sam3.find_instances(features, text, exemplars)


def test_thresholds_and_counts_are_bounded(sam3: ConceptModel, features: ConceptFeatures) -> None:
    with pytest.raises(PromptError, match="threshold"):
        sam3.find_instances(features, "dog", threshold=1.5)
    with pytest.raises(PromptError, match="max_instances"):
        sam3.find_instances(features, "dog", max_instances=100_000)


# ------------------------------------------------------------------ loading


def test_the_registry_name_resolves_to_the_hub_checkpoint() -> None:
    assert concept_checkpoint("sam3") == ("sam3", None, "facebook/sam3")


def test_a_click_model_directory_is_not_taken_for_sam3(tmp_path: Path) -> None:
    from inference.testing import save_tiny_sam

    path = save_tiny_sam(tmp_path / "tiny-sam")
    with pytest.raises(ModelUnavailableError, match="not SAM 3"):
        load_concept_model(str(path))


def test_an_empty_setting_says_concepts_are_off() -> None:
    with pytest.raises(ModelUnavailableError, match="ANYMASK_CONCEPT_MODEL"):
        load_concept_model("")


def test_an_uncached_model_offline_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("ANYMASK_HF_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailableError, match="fetch-model"):
        load_concept_model("sam3")
