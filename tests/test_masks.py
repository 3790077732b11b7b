import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam_core.masks import (
    downsample_spatial,
    erode,
    latent_frame_groups,
    latent_mask,
    shaping_mask,
    visible_from_alpha,
)


def brute_erode(m, size):
    h, w = m.shape
    r = size // 2
    out = np.zeros_like(m)
    for y in range(h):
        for x in range(w):
            win = m[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
            out[y, x] = win.all()
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 14), st.integers(1, 14), st.integers(0, 2**31), st.sampled_from([3, 5, 7]))
def test_erode_matches_definition(h, w, seed, size):
    m = np.random.default_rng(seed).random((h, w)) > 0.2
    assert np.array_equal(erode(m, size), brute_erode(m, size))


def test_edge_exclusion_drops_pixels_next_to_a_hole_only():
    alpha = np.full((20, 20), 255, np.uint8)
    alpha[10, 10] = 0  # one uncovered pixel
    keep = shaping_mask(alpha)
    assert keep.sum() == 400 - 25  # its 5x5 neighbourhood goes
    assert not keep[8:13, 8:13].any() and keep[7, 7] and keep[13, 13]
    assert keep[0, 0]  # the frame border is not an edge


def test_alpha_not_colour_decides_coverage():
    assert np.array_equal(visible_from_alpha(np.array([0, 127, 128, 255], np.uint8)), [False, False, True, True])
    assert np.array_equal(visible_from_alpha(np.array([0.0, 0.49, 0.5, 1.0])), [False, False, True, True])
    assert np.array_equal(visible_from_alpha(np.array([0, 40000], np.uint16)), [False, True])


@pytest.mark.parametrize("factor", [8, 16])
def test_bilinear_downsampling_matches_torch(factor):
    m = (np.random.default_rng(0).random((3, 64, 96)) > 0.3).astype(np.float32)
    ours = downsample_spatial(m, factor, "bilinear")
    ref = F.interpolate(torch.from_numpy(m)[None], scale_factor=1 / factor, mode="bilinear", align_corners=False)[0]
    assert np.allclose(ours, ref.numpy(), atol=1e-6)


def test_area_downsampling_is_cell_mean():
    m = np.zeros((16, 16), bool)
    m[:8, :8] = True
    m[8:, 8:12] = True
    assert np.allclose(downsample_spatial(m, 8, "area"), [[1.0, 0.0], [0.0, 0.5]])


def test_temporal_groups_of_a_causal_vae():
    assert [list(g) for g in latent_frame_groups(9, 4)] == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    assert [list(g) for g in latent_frame_groups(3, 1)] == [[0], [1], [2]]
    with pytest.raises(ValueError, match="4k\\+1"):
        latent_frame_groups(8, 4)


def test_latent_mask_threshold_and_time_averaging():
    m = np.ones((5, 16, 16), bool)
    m[3] = False  # one of the four frames of latent frame 1 is uncovered: mean 0.75
    out = latent_mask(m, spatial=8, temporal=4, threshold=0.9)
    assert out.shape == (2, 2, 2)
    assert out[0].all() and not out[1].any()
    assert latent_mask(m, 8, 4, threshold=0.7)[1].all()
    per_frame = latent_mask(m, 8, 1, 0.9)  # SVD: one latent frame per frame
    assert per_frame.shape == (5, 2, 2) and not per_frame[3].any() and per_frame[4].all()


def test_size_must_fit_the_factor():
    with pytest.raises(ValueError, match="multiple"):
        downsample_spatial(np.ones((10, 16)), 8)
