"""Approximate rank pooling against its closed form, and the static-dynamic image's range."""

from __future__ import annotations

import numpy as np
import pytest

from workloads.rankpool import (
    REPRESENTATIONS,
    dynamic_image,
    minmax,
    rank_pool_weights,
    represent,
    static_dynamic,
)


def closed_form(t: int) -> np.ndarray:
    h = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, t + 1))])  # h[n] = H_n
    idx = np.arange(1, t + 1)
    return 2.0 * (t - idx + 1) - (t + 1) * (h[t] - h[idx - 1])


@pytest.mark.parametrize("t", range(1, 21))
def test_weights_match_closed_form(t: int) -> None:
    np.testing.assert_allclose(rank_pool_weights(t), closed_form(t), atol=1e-9)
    assert abs(rank_pool_weights(t).sum()) < 1e-9


def test_weights_t8_published_values() -> None:
    expected = [-8.461, -1.461, 1.039, 2.039, 2.289, 2.089, 1.589, 0.875]
    np.testing.assert_allclose(rank_pool_weights(8), expected, atol=1e-3)


def test_weights_reject_zero_frames() -> None:
    with pytest.raises(ValueError):
        rank_pool_weights(0)


def test_dynamic_image_of_linear_ramp_is_positive_multiple_of_slope() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, (5, 6, 3))
    slope = rng.uniform(-1, 1, (5, 6, 3))
    frames = np.stack([base + t * slope for t in range(7)])
    dyn = dynamic_image(frames)
    ratio = dyn / slope
    assert ratio.min() > 0
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4)


def test_dynamic_image_of_static_scene_is_zero() -> None:
    frames = np.repeat(np.random.default_rng(1).uniform(0, 1, (1, 4, 4, 3)), 7, axis=0)
    np.testing.assert_allclose(dynamic_image(frames), 0.0, atol=1e-5)


def test_static_dynamic_range_and_constant_input() -> None:
    rng = np.random.default_rng(2)
    static = rng.uniform(0, 1, (8, 8, 3)).astype(np.float32)
    dyn = rng.normal(0, 5, (8, 8, 3)).astype(np.float32)
    out = static_dynamic(static, dyn)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == pytest.approx(1.0)
    flat = static_dynamic(np.full((4, 4, 3), 0.3), np.zeros((4, 4, 3)))
    assert np.isfinite(flat).all() and flat.min() >= 0 and flat.max() <= 1
    assert np.all(minmax(np.full((3, 3), 7.0)) == 0)


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_represent_ranges(representation: str) -> None:
    clip = np.random.default_rng(3).integers(0, 256, (7, 16, 16, 3), dtype=np.uint8)
    out = represent(clip, representation)
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    if representation == "static":
        np.testing.assert_allclose(out, clip[0] / 255.0, atol=1e-6)


def test_represent_unknown_name() -> None:
    with pytest.raises(ValueError, match="static_dynamic"):
        represent(np.zeros((2, 4, 4, 3), np.uint8), "optical_flow")
