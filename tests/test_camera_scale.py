"""How a metric track enters each camera model (realcam_core.camera_scale), and RealEstate10K files read at
another aspect than they were written for (realcam_core.re10k), against upstream's own formulas."""

import math

import numpy as np
import pytest

from realcam_core.camera_scale import (
    CONVENTIONS,
    FALLBACK_NEAR_DEPTH_M,
    UPSTREAM_APP_TRACE_SCALE,
    CameraScaleError,
    camera_scale,
    model_track,
    motionctrl_rt,
    near_depth,
    reach,
    upstream_inference_intrinsics,
)
from realcam_core.re10k import format_re10k, parse_re10k

# A RealEstate10K row as the dataset writes it for 1280x720 video: fx = 681.1 px over 1280, fy = 681.1 px over 720.
FX_N, FY_N = 681.1392 / 1280, 681.1392 / 720


def _row(fx=FX_N, fy=FY_N, cx=0.5, cy=0.5):
    return parse_re10k(f"0 {fx!r} {fy!r} {cx!r} {cy!r} 0 0 1 0 0 0 0 1 0 0 0 0 1 0\n").frames[0]


def cami2v_rule(fx_n, fy_n, cx_n, cy_n, src_w, src_h, H, W):
    """CamI2V's _resize_for_rectangle_crop (data/realestate10k.py, mix_dataset.py), sizes truncated as torch's."""
    if src_w / src_h > W / H:
        rh, rw = H, int(src_w * H / src_h)
    else:
        rh, rw = int(src_h * W / src_w), W
    return fx_n * rw, fy_n * rh, cx_n * W, cy_n * H


def videox_fun_rule(fx_n, fy_n, cx_n, cy_n, src_w, src_h, H, W):
    """VideoX-Fun's process_pose_file (videox_fun/data/utils.py)."""
    if src_w / src_h > W / H:
        fx_n = H * (src_w / src_h) * fx_n / W
    else:
        fy_n = W / (src_w / src_h) * fy_n / H
    return fx_n * W, fy_n * H, cx_n * W, cy_n * H


@pytest.mark.parametrize("size", [(256, 256), (512, 320)])
def test_a_1280x720_file_read_at_another_size_keeps_pixels_square_as_upstream(size):
    w, h = size
    K = _row().intrinsics(w, h)
    fun = videox_fun_rule(FX_N, FY_N, 0.5, 0.5, 1280, 720, h, w)
    cami2v = cami2v_rule(FX_N, FY_N, 0.5, 0.5, 1280, 720, h, w)
    assert (K.fx, K.fy, K.cx, K.cy) == pytest.approx(fun, rel=1e-12)
    # CamI2V truncates the resized width to whole pixels (455.1 -> 455, 568.9 -> 568): up to 0.2 %.
    assert (K.fx, K.fy, K.cx, K.cy) == pytest.approx(cami2v, rel=2e-3)
    assert K.fx == pytest.approx(K.fy, rel=1e-12)  # square pixels
    assert K.fx == pytest.approx(681.1392 * h / 720)  # the 16:9 image scaled to the height, its sides cropped
    old = (FX_N * w, FY_N * h)  # what it used to read: squashed pixels (0.56 at 256x256, 0.9 at 512x320)
    assert old[0] / old[1] == pytest.approx((720 / 1280) * (w / h))


def test_the_explicit_source_aspect_gives_upstreams_numbers_for_any_row():
    row = _row(0.6, 0.9, 0.5, 0.5)  # not square at 16:9: only the stated source size makes sense of it
    K = row.intrinsics(512, 320, source_aspect=1280 / 720)
    assert (K.fx, K.fy, K.cx, K.cy) == pytest.approx(videox_fun_rule(0.6, 0.9, 0.5, 0.5, 1280, 720, 320, 512))


def test_a_taller_source_is_cropped_top_and_bottom_and_an_offset_principal_point_moves_with_the_crop():
    row = _row(0.8, 0.6, 0.55, 0.5)  # 3:4 portrait with square pixels (0.8 * 3 = 0.6 * 4)
    K = row.intrinsics(256, 256)
    assert K.fx == pytest.approx(0.8 * 256) and K.fy == pytest.approx(0.6 * 256 * 4 / 3)
    assert K.cx == pytest.approx(0.55 * 256) and K.cy == pytest.approx(128.0)
    wide = _row(FX_N, FY_N, 0.55, 0.5).intrinsics(256, 256)
    rw = 256 * 1280 / 720
    assert wide.cx == pytest.approx(0.55 * rw - (rw - 256) / 2)  # the pixel at cx_n of the source stays put


def test_a_file_read_at_its_own_aspect_is_plain_scaling_bit_for_bit():
    text = format_re10k(parse_re10k(f"0 {500 / 832!r} {500 / 480!r} 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 0\n"))
    K = parse_re10k(text).frames[0].intrinsics(832, 480)
    assert (K.fx, K.fy, K.cx, K.cy) == (500 / 832 * 832, 500 / 480 * 480, 416.0, 240.0)


def test_upstream_inference_intrinsics_are_90_degrees_across_the_resized_photos_long_side():
    K = upstream_inference_intrinsics(256, 256)
    assert (K.fx, K.fy, K.cx, K.cy) == (128.0, 128.0, 128.0, 128.0)
    assert K.fov_x_degrees() == pytest.approx(90.0)
    # A 16:9 photo made 256x256: resized to 455x256 first (upstream's int()), so 90 degrees across 455 px.
    K = upstream_inference_intrinsics(256, 256, photo_size=(1920, 1080))
    assert K.fx == K.fy == 0.5 * 455 and (K.cx, K.cy) == (128.0, 128.0)
    K = upstream_inference_intrinsics(512, 320, photo_size=(1000, 1000))
    assert K.fx == 256.0 and (K.cx, K.cy) == (256.0, 160.0)


def test_realcam_takes_metres_as_trained_and_records_the_apps_slider():
    s = camera_scale("realcam-i2v", depth=np.full((4, 4), 3.0))
    assert s.units_per_metre == 1.0 and s.translation == "metric" and s.source == "trained metric"
    assert s.upstream_inference_scale == UPSTREAM_APP_TRACE_SCALE == 0.5
    assert camera_scale("realcam-i2v", setting=0.5).units_per_metre == 0.5


@pytest.mark.parametrize("family", ["cami2v", "cameractrl", "motionctrl", "wan-fun-camera"])
def test_re10k_scale_models_divide_metres_by_the_photos_near_depth(family):
    depth = np.linspace(1.0, 9.0, 101).reshape(1, -1)
    depth[0, :3] = [0.0, np.nan, np.inf]  # holes are not depth
    s = camera_scale(family, depth=depth)
    near = np.percentile(depth[0, 3:], 5)
    assert s.near_depth_m == pytest.approx(near) and s.units_per_metre == pytest.approx(1 / near)
    assert s.source == "photo depth" and s.to_dict()["translation"] == "re10k"
    assumed = camera_scale(family)
    assert assumed.source == "no depth (assumed)" and assumed.units_per_metre == 1 / FALLBACK_NEAR_DEPTH_M
    assert camera_scale(family, depth=depth, setting=2.5).source == "setting"


def test_bad_scales_and_depths_are_refused_with_a_reason():
    with pytest.raises(CameraScaleError, match="positive"):
        camera_scale("cami2v", setting=-1.0)
    with pytest.raises(CameraScaleError, match="no valid"):
        near_depth(np.zeros((3, 3)))
    with pytest.raises(CameraScaleError, match="family"):
        camera_scale("svd")


def test_model_track_scales_translation_only_and_is_relative_to_frame_0():
    rng = np.random.default_rng(1)
    c2w = np.tile(np.eye(4), (3, 1, 1))
    c2w[:, :3, 3] = rng.normal(size=(3, 3))
    c2w[2, :3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    rel = model_track(c2w, 0.25)
    assert np.allclose(rel[0], np.eye(4))
    full = model_track(c2w, 1.0)
    assert np.allclose(rel[:, :3, :3], full[:, :3, :3]) and np.allclose(rel[:, :3, 3], 0.25 * full[:, :3, 3])
    assert reach(rel) == pytest.approx(0.25 * reach(full))
    rt = motionctrl_rt(rel)  # the world-to-camera of each frame, rows flattened
    assert rt.shape == (3, 12) and np.allclose(rt[2].reshape(3, 4), np.linalg.inv(rel[2])[:3])


def test_every_convention_says_what_enters_and_what_the_panel_shows():
    for family, conv in CONVENTIONS.items():
        d = conv.to_dict()
        assert d["family"] == family and d["translation"] in ("metric", "re10k")
        assert d["intrinsics"] in ("bundle", "upstream-90deg") and len(d["panel_note"]) > 20
    assert CONVENTIONS["motionctrl"].intrinsics == "upstream-90deg"  # it is never told the lens
    assert "90°" in CONVENTIONS["motionctrl"].panel_note
    assert math.isfinite(CONVENTIONS["cami2v"].upstream_inference_scale)
