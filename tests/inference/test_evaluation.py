"""The evaluator's engine half: RITM click placement, the simulated episode through
the real (tiny) models, and the summary metrics, each against cases worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from inference.embedding import Embedding
from inference.evaluation import Click, next_click, simulate_image, simulate_instance, summarize
from inference.evaluation.clicks import NothingToClick, interior_distance, iou
from inference.masks import rle_decode
from inference.model import SegmentationModel
from inference.prompts import Prompt


def mask(shape: tuple[int, int], *boxes: tuple[int, int, int, int]) -> np.ndarray:
    """Bool mask with rows r0..r1 and columns c0..c1 (inclusive) of each box set."""
    out = np.zeros(shape, bool)
    for r0, r1, c0, c1 in boxes:
        out[r0 : r1 + 1, c0 : c1 + 1] = True
    return out


# ---------------------------------------------------------------- click placement
def test_first_click_goes_to_the_innermost_pixel_first_in_row_major_order() -> None:
    # Rows 2..6, columns 2..8: distance to the outside is min(r-1, 7-r, c-1, 9-c),
    # 3 at row 4 for columns 4, 5 and 6; the first of the tie is column 4.
    gt = mask((10, 10), (2, 6, 2, 8))
    assert next_click(gt, None) == Click(x=4, y=4, positive=True)


def test_a_clicked_pixel_is_not_clicked_again() -> None:
    gt = mask((10, 10), (2, 6, 2, 8))
    assert next_click(gt, None, [Click(4, 4, True)]) == Click(x=5, y=4, positive=True)


def test_the_image_border_counts_as_boundary() -> None:
    # A strip on the left edge, columns 0..5 of all 10 rows. Were the border not a
    # boundary, column 0 would be far from it; with it, the distance is
    # min(r+1, 10-r, c+1, 6-c): 3 first at row 2, column 2.
    gt = mask((10, 10), (0, 9, 0, 5))
    distances = interior_distance(gt)
    assert distances[0, 0] == 1.0 and distances[4, 0] == 1.0
    assert distances.max() == 3.0
    assert next_click(gt, None) == Click(x=2, y=2, positive=True)


def test_a_wider_false_positive_region_gets_a_negative_click_at_its_centre() -> None:
    gt = mask((12, 12), (2, 9, 2, 5))
    # Missed: columns 4..5 (2 wide, innermost distance 1). Taken: rows 2..9 of
    # columns 7..10 (4 wide, distance 2 at columns 8 and 9, rows 3..8).
    pred = mask((12, 12), (2, 9, 2, 3), (2, 9, 7, 10))
    assert next_click(gt, pred) == Click(x=8, y=3, positive=False)


def test_a_wider_false_negative_region_gets_a_positive_click() -> None:
    gt = mask((12, 12), (2, 9, 2, 7))
    # Missed: columns 3..7 of rows 2..9 (5 wide, distance 3 at column 5, rows 4..7).
    # Taken: a single pixel outside (distance 1).
    pred = mask((12, 12), (2, 9, 2, 2), (0, 0, 11, 11))
    assert next_click(gt, pred) == Click(x=5, y=4, positive=True)


def test_equal_regions_go_negative_as_in_the_published_protocol() -> None:
    # RITM's clicker: is_positive = fn_max_dist > fp_max_dist, so a tie is negative.
    gt = mask((9, 9), (0, 8, 0, 3))
    pred = mask((9, 9), (0, 8, 0, 0), (0, 8, 5, 7))  # missed cols 1..3, taken cols 5..7
    click = next_click(gt, pred)
    assert interior_distance(gt & ~pred).max() == interior_distance(pred & ~gt).max() == 2.0
    assert click == Click(x=6, y=1, positive=False)


def test_episode_by_hand_on_a_two_part_object() -> None:
    """Sofiiuk et al. 2021, section 4: the first click at the object's centre, each
    next one at the centre of the biggest error, worked through three clicks."""
    gt = mask((15, 15), (1, 9, 1, 9), (11, 13, 11, 13))  # a 9x9 square and a 3x3 one
    first = next_click(gt, None)
    assert first == Click(5, 5, True)  # the big square's centre, distance 5
    # The model got the big square plus background columns 10..13 of rows 1..9
    # (innermost distance 2, first at row 2, column 11) and missed the small square
    # (its centre is at distance 2 too): a tie, so negative.
    pred = mask((15, 15), (1, 9, 1, 9), (1, 9, 10, 13))
    second = next_click(gt, pred, [first])
    assert second == Click(11, 2, False)
    # With the extra columns gone, only the small square is missed: positive at its centre.
    third = next_click(gt, mask((15, 15), (1, 9, 1, 9)), [first, second])
    assert third == Click(12, 12, True)
    with pytest.raises(NothingToClick):
        next_click(gt, gt.copy(), [first, second, third])


def test_next_click_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        next_click(np.zeros((4, 4), bool), None)
    with pytest.raises(ValueError, match="shape"):
        next_click(np.ones((4, 4), bool), np.ones((4, 5), bool))


def test_iou() -> None:
    a = mask((4, 4), (0, 1, 0, 1))
    b = mask((4, 4), (0, 1, 0, 3))
    assert iou(a, b) == 0.5
    assert iou(a, a) == 1.0


# ------------------------------------------------------------------------ metrics
def test_summarize_by_hand() -> None:
    fast = [0.5, 0.86, 0.91] + [0.95] * 17  # 85% at click 2, 90% at click 3
    slow = [0.2, 0.4, 0.6, 0.8, 0.87] + [0.88] * 15  # 85% at click 5, never 90%
    never = [0.1] * 20  # fails both
    summary = summarize([fast, slow, never])
    assert summary["instances"] == 3
    assert summary["noc85"] == pytest.approx((2 + 5 + 20) / 3, abs=1e-4)
    assert summary["noc90"] == pytest.approx((3 + 20 + 20) / 3, abs=1e-4)
    assert summary["nof85"] == 1
    assert summary["nof90"] == 2
    assert summary["miou1"] == pytest.approx((0.5 + 0.2 + 0.1) / 3, abs=1e-4)
    assert summary["miou3"] == pytest.approx((0.91 + 0.6 + 0.1) / 3, abs=1e-4)
    assert summary["miou5"] == pytest.approx((0.95 + 0.87 + 0.1) / 3, abs=1e-4)


def test_reaching_the_threshold_at_the_last_click_is_not_a_failure() -> None:
    late = [0.1] * 19 + [0.9]
    summary = summarize([late])
    assert summary["noc90"] == 20 and summary["nof90"] == 0


def test_summarize_nothing() -> None:
    assert summarize([]) == {
        "instances": 0,
        "noc85": None,
        "noc90": None,
        "nof85": None,
        "nof90": None,
        "miou1": None,
        "miou3": None,
        "miou5": None,
    }


# -------------------------------------------------------- episodes through models
def objects(embedding: Embedding) -> list[np.ndarray]:
    """The test picture's red disk and green bar (see conftest's `image`)."""
    h, w = embedding.original_size
    yy, xx = np.mgrid[0:h, 0:w]
    disk = (yy - 300) ** 2 + (xx - 450) ** 2 < 150**2
    bar = np.zeros((h, w), bool)
    bar[80:180, 100:320] = True
    return [disk, bar]


def test_episode_follows_the_labeling_page_decode_path(
    model: SegmentationModel, embedding: Embedding
) -> None:
    gt = objects(embedding)[1]
    curve = simulate_instance(model, embedding, gt, max_clicks=3)
    # Replay the first two clicks by hand as the labeling page sends them.
    first = next_click(gt, None)
    decoded = model.decode(embedding, Prompt.click(*first.point, positive=True))
    best = decoded.candidates[0]
    pred1 = rle_decode(model.full_mask(embedding, best.low_res_logits).rle)
    assert curve[0] == pytest.approx(iou(gt, pred1), abs=1e-9)
    second = next_click(gt, pred1, [first])
    prompt = Prompt(
        points=[first.point, second.point],
        labels=[int(first.positive), int(second.positive)],
        mask_logits=best.low_res_logits,
    )
    again = model.decode(embedding, prompt).candidates[0]
    pred2 = rle_decode(model.full_mask(embedding, again.low_res_logits).rle)
    assert curve[1] == pytest.approx(iou(gt, pred2), abs=1e-9)


def test_episode_is_deterministic_with_one_value_per_click(
    model: SegmentationModel, embedding: Embedding
) -> None:
    # A few clicks: each is a full-size decoder pass on a CPU.
    gt = objects(embedding)[0]
    first = simulate_instance(model, embedding, gt, max_clicks=4)
    assert len(first) == 4
    assert all(0.0 <= v <= 1.0 for v in first)
    assert simulate_instance(model, embedding, gt, max_clicks=4) == first


def test_batched_episodes_give_the_single_episode_curves(
    model: SegmentationModel, embedding: Embedding
) -> None:
    gts = objects(embedding)
    batched = simulate_image(model, embedding, gts, max_clicks=4)
    for gt, curve in zip(gts, batched, strict=True):
        assert curve == pytest.approx(simulate_instance(model, embedding, gt, 4), abs=1e-3)


def test_on_step_can_stop_a_batched_run(model: SegmentationModel, embedding: Embedding) -> None:
    steps: list[int] = []

    def stop_after_two() -> None:
        steps.append(1)
        if len(steps) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate_image(model, embedding, objects(embedding), 5, on_step=stop_after_two)
    assert len(steps) == 2


def test_episode_rejects_a_mask_of_the_wrong_size(
    model: SegmentationModel, embedding: Embedding
) -> None:
    with pytest.raises(ValueError, match="does not match"):
        simulate_instance(model, embedding, np.ones((10, 10), bool))
