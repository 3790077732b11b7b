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
def test_centred_bilinear_is_torch_with_align_corners_false_not_upstreams_sampling(factor):
    m = (np.random.default_rng(0).random((3, 64, 96)) > 0.3).astype(np.float32)
    ours = downsample_spatial(m, factor, "bilinear")
    t = torch.from_numpy(m)[None]
    centred = F.interpolate(t, scale_factor=1 / factor, mode="bilinear", align_corners=False)[0]
    assert np.allclose(ours, centred.numpy(), atol=1e-6)
    # Upstream's align_corners=True samples elsewhere (cell corners at the image borders): not the same rule.
    upstream = F.interpolate(t, size=ours.shape[-2:], mode="bilinear", align_corners=True)[0]
    assert not np.allclose(ours, upstream.numpy(), atol=1e-3)


def test_area_downsampling_is_cell_mean():
    m = np.zeros((16, 16), bool)
    m[:8, :8] = True
    m[8:, 8:12] = True
    assert np.allclose(downsample_spatial(m, 8, "area"), [[1.0, 0.0], [0.0, 0.5]])


def _cell_covered_around_its_centre(factor, side):
    """One factor x factor cell (of a 3x3 grid of them) whose only covered pixels are a side x side square
    around its centre; every other cell fully covered. Returns the eroded (kept) mask."""
    alpha = np.full((3 * factor, 3 * factor), 255, np.uint8)
    cell = alpha[factor : 2 * factor, factor : 2 * factor]
    cell[:] = 0
    lo = (factor - side) // 2
    cell[lo : lo + side, lo : lo + side] = 255
    return shaping_mask(alpha)


@pytest.mark.parametrize("factor", [8, 16])
def test_a_mostly_uncovered_cell_is_never_shaped(factor):
    # 6x6 covered pixels around the centre: after the 5x5 erosion the centre 2x2 survives, so centred point
    # sampling reads 1.0 and would shape the cell (14% covered at 16x, 56% at 8x); the area rule does not.
    kept = _cell_covered_around_its_centre(factor, 6)
    assert 36 / factor**2 < 0.6
    assert downsample_spatial(kept, factor, "bilinear")[1, 1] == 1.0  # the flaw of point sampling
    out = latent_mask(kept[None], factor, 1, 0.9)[0]
    assert not out[1, 1]
    assert out[0, 0] and out[2, 2]  # corners are far from the hole: kept


@pytest.mark.parametrize("factor", [8, 16])
def test_area_rule_means_the_same_fraction_at_every_factor(factor):
    # A cell whose kept pixels are exactly 90% / just under 90% of it.
    m = np.ones((1, 2 * factor, 2 * factor), bool)
    n = factor * factor
    bad = int(round(0.1 * n))
    m[0, :factor, :factor].flat[:bad] = False
    frac = (n - bad) / n
    assert latent_mask(m, factor, 1, frac)[0, 0, 0]
    assert not latent_mask(m, factor, 1, frac + 1e-3)[0, 0, 0]
    assert latent_mask(m, factor, 1, 0.9)[0, 1:, 1:].all()


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
