"""The depth losses against an independent computation of CDCN's definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workloads.losses import contrastive_depth_loss, map_loss, map_score

_OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def _contrasts(m: np.ndarray) -> np.ndarray:
    """Neighbour minus centre for the eight neighbours over the valid interior (B, 8, H-2, W-2)."""
    h, w = m.shape[-2:]
    centre = m[:, 1 : h - 1, 1 : w - 1]
    out = [m[:, 1 + dr : h - 1 + dr, 1 + dc : w - 1 + dc] - centre for dr, dc in _OFFSETS]
    return np.stack(out, axis=1)


def _cdl_numpy(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((_contrasts(pred) - _contrasts(target)) ** 2))


def test_contrasts_cover_only_the_valid_interior() -> None:
    assert _contrasts(np.zeros((1, 32, 32))).shape == (1, 8, 30, 30)


def test_cdl_of_a_single_peak_matches_hand_count() -> None:
    # A 4x4 map with one 1 inside: the interior is 2x2; the peak at (1, 1) is the centre of one
    # interior pixel (8 contrasts of -1) and a neighbour of the other three (one +1 each).
    pred = torch.zeros(1, 4, 4)
    pred[0, 1, 1] = 1.0
    target = torch.zeros(1, 4, 4)
    expected = (8 * 1.0 + 3 * 1.0) / (8 * 2 * 2)
    assert float(contrastive_depth_loss(pred, target)) == pytest.approx(expected)


def test_constant_maps_have_no_contrast_even_at_the_border() -> None:
    # With zero padding a constant map would show contrasts along its border; without, none.
    pred = torch.full((2, 6, 6), 0.7)
    assert float(contrastive_depth_loss(pred, torch.zeros(2, 6, 6))) == 0.0


@pytest.mark.parametrize("shape", [(1, 3, 3), (2, 5, 7), (3, 32, 32)])
def test_cdl_matches_numpy_slicing(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    pred = rng.random(shape).astype(np.float32)
    target = rng.random(shape).astype(np.float32)
    got = float(contrastive_depth_loss(torch.from_numpy(pred), torch.from_numpy(target)))
    assert got == pytest.approx(_cdl_numpy(pred, target), rel=1e-5)


def test_depth_loss_is_mse_plus_cdl() -> None:
    rng = np.random.default_rng(0)
    pred = rng.random((2, 8, 8)).astype(np.float32)
    target = rng.random((2, 8, 8)).astype(np.float32)
    got = float(map_loss("depth", torch.from_numpy(pred), torch.from_numpy(target)))
    expected = float(np.mean((pred - target) ** 2)) + _cdl_numpy(pred, target)
    assert got == pytest.approx(expected, rel=1e-5)


def test_binary_loss_is_bce_on_logits_and_scores_are_probabilities() -> None:
    logits = torch.tensor([[[2.0, -2.0], [0.0, 1.0]]])
    mask = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    expected = F.binary_cross_entropy(torch.sigmoid(logits), mask)
    assert float(map_loss("binary", logits, mask)) == pytest.approx(float(expected), rel=1e-6)
    assert float(map_score("binary", logits)[0]) == pytest.approx(
        float(torch.sigmoid(logits).mean())
    )
    assert float(map_score("depth", logits)[0]) == pytest.approx(float(logits.mean()))


def test_maps_without_interior_contribute_nothing() -> None:
    pred = torch.ones(2, 2, 2, requires_grad=True)
    loss = contrastive_depth_loss(pred, torch.zeros(2, 2, 2))
    assert float(loss.detach()) == 0.0
    loss.backward()  # still part of the graph
