"""Prompt validation: every malformed prompt is a PromptError with a useful message."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from inference import MAX_POINTS, Prompt, PromptError


def test_it_normalises_lists_to_typed_arrays() -> None:
    prompt = Prompt(points=[[10, 20.5], [30, 40]], labels=[1, 0], box=(1, 2, 30, 40))
    assert prompt.points.dtype == np.float32 and prompt.points.shape == (2, 2)
    assert prompt.labels.dtype == np.int64 and prompt.labels.tolist() == [1, 0]
    assert prompt.box.tolist() == [1, 2, 30, 40]
    assert prompt.mask_logits is None


def test_multimask_defaults_to_true_only_for_a_lone_click() -> None:
    assert Prompt.click(5, 5).multimask is True
    assert Prompt.click(5, 5, positive=False).labels.tolist() == [0]
    assert Prompt(points=[[1, 1], [2, 2]], labels=[1, 1]).multimask is False
    assert Prompt(box=[0, 0, 10, 10]).multimask is False
    assert Prompt(points=[[1, 1]], labels=[1], box=[0, 0, 10, 10]).multimask is False
    logits = np.zeros((1, 256, 256), np.float32)
    assert Prompt(points=[[1, 1]], labels=[1], mask_logits=logits).multimask is False
    assert Prompt(points=[[1, 1], [2, 2]], labels=[1, 1], multimask=True).multimask is True


def test_a_box_alone_is_a_prompt() -> None:
    prompt = Prompt(box=[0, 0, 10, 10])
    assert prompt.points.shape == (0, 2) and prompt.labels.shape == (0,)


def test_mask_logits_accept_torch_and_2d_arrays() -> None:
    from_torch = Prompt(points=[[1, 1]], labels=[1], mask_logits=torch.ones(1, 256, 256))
    from_2d = Prompt(points=[[1, 1]], labels=[1], mask_logits=np.ones((256, 256)))
    assert from_torch.mask_logits.shape == from_2d.mask_logits.shape == (1, 256, 256)
    assert from_torch.mask_logits.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "empty"),
        ({"points": [], "labels": []}, "empty"),
        ({"points": [[1, math.nan]], "labels": [1]}, "NaN or infinite"),
        ({"points": [[1, math.inf]], "labels": [1]}, "NaN or infinite"),
        ({"points": [[1, 2, 3]], "labels": [1]}, "[x, y] pairs"),
        ({"points": [1, 2], "labels": [1]}, "[x, y] pairs"),
        ({"points": [[1, 2], [3]], "labels": [1, 1]}, "must be numbers"),
        ({"points": [["1", "2"]], "labels": [1]}, "must be numbers"),
        ({"points": [[1, 2]], "labels": [2]}, "1 (object) or 0 (background)"),
        ({"points": [[1, 2]], "labels": [-1]}, "1 (object) or 0 (background)"),
        ({"points": [[1, 2]], "labels": [0.5]}, "1 (object) or 0 (background)"),
        ({"points": [[1, 2]], "labels": []}, "one 0/1 value per point"),
        ({"points": [[1, 2]], "labels": [1, 1]}, "one 0/1 value per point"),
        ({"box": [1, 2, 3]}, "[x0, y0, x1, y1]"),
        ({"box": [10, 10, 5, 20]}, "x1 > x0 and y1 > y0"),
        ({"box": [0, 0, 10, 0]}, "x1 > x0 and y1 > y0"),
        ({"box": [0, 0, math.nan, 10]}, "NaN or infinite"),
        ({"points": [[1, 1]], "labels": [1], "mask_logits": np.zeros((64, 64))}, "(1, 256, 256)"),
        ({"points": [[1, 1]], "labels": [1], "multimask": "yes"}, "true or false"),
    ],
)
def test_it_rejects_malformed_prompts(kwargs: dict, message: str) -> None:
    with pytest.raises(PromptError, match=re.escape(message)):
        Prompt(**kwargs)


def test_it_rejects_too_many_points() -> None:
    points = np.ones((MAX_POINTS + 1, 2))
    with pytest.raises(PromptError, match=f"at most {MAX_POINTS}"):
        Prompt(points=points, labels=np.ones(MAX_POINTS + 1))
    assert len(Prompt(points=points[:MAX_POINTS], labels=np.ones(MAX_POINTS)).points) == 64


def test_it_rejects_points_outside_the_image() -> None:
    prompt = Prompt(points=[[10, 10], [901, 5]], labels=[1, 1])
    with pytest.raises(PromptError, match=r"point 1 at \(901, 5\) is outside the 900x600 image"):
        prompt.check_bounds(600, 900)
    with pytest.raises(PromptError, match="outside"):
        Prompt.click(-0.5, 3).check_bounds(600, 900)


def test_it_accepts_the_far_edges_of_the_image() -> None:
    Prompt(points=[[900, 600], [0, 0]], labels=[1, 0], box=[0, 0, 900, 600]).check_bounds(600, 900)


def test_it_rejects_a_box_reaching_outside_the_image() -> None:
    with pytest.raises(PromptError, match="reaches outside the 900x600 image"):
        Prompt(box=[10, 10, 50, 601]).check_bounds(600, 900)


def test_prompt_error_is_a_value_error() -> None:
    # The web app may catch ValueError generically; PromptError must be one.
    with pytest.raises(ValueError, match="empty"):
        Prompt()
