"""Scene-fix maths (realcam_core.addon_only.calibration): the scale two points imply, a photo with another focal."""

import math

import numpy as np
import pytest
from helpers import project_blender as project

from realcam_core.addon_only.calibration import (
    CalibrationError,
    check_scale,
    copy_depth,
    refocused,
    scale_from_points,
    with_focal,
)
from realcam_core.camera import Intrinsics

K = Intrinsics(100.0, 110.0, 64.0, 48.0, 128, 96)


def scaled_about(points, origin, s: float) -> np.ndarray:
    """points (N, 3) scaled by s about origin (what Apply Scale does to the photo's mesh, about its camera)."""
    p, o = np.asarray(points, np.float64), np.asarray(origin, np.float64)
    return o + (p - o) * s


def test_scale_from_two_points_and_a_distance():
    assert scale_from_points((0, 1, 0), (0, 1, 1.6), 2.0) == pytest.approx(1.25)
    a, b = np.array([0.3, 2.0, -0.1]), np.array([-0.4, 3.5, 0.2])
    s = scale_from_points(a, b, 1.0)
    assert np.linalg.norm(scaled_about(b, (0, 0, 0), s) - scaled_about(a, (0, 0, 0), s)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("a", "b", "real", "says"),
    [
        ((0, 1, 0), (0, 1, 0), 2.0, "same point"),
        ((0, 1, 0), (0, 2, 0), 0.0, "real distance 0"),
        ((0, 1, 0), (0, 2, 0), -1.0, "real distance -1"),
        ((0, 1, 0), (0, 2, 0), math.nan, "not a length"),
        ((0, 1, 0), (0, 1.000001, 0), 50.0, "outside"),
    ],
)
def test_bad_points_and_distances_say_what_to_do(a, b, real, says):
    with pytest.raises(CalibrationError, match=says):
        scale_from_points(a, b, real)


def test_factor_must_be_a_positive_sane_number():
    assert check_scale(0.8) == 0.8
    for bad in (0.0, -2.0, math.inf, 1e6):
        with pytest.raises(CalibrationError):
            check_scale(bad)


def test_scaling_about_the_camera_keeps_every_pixel():
    rng = np.random.default_rng(1)
    pts = rng.uniform([-1, 1, -1], [1, 5, 1], (50, 3))
    out = scaled_about(pts, (0, 0, 0), 1.7)
    np.testing.assert_allclose(project(out, K), project(pts, K), atol=1e-9)
    np.testing.assert_allclose(out[:, 1], pts[:, 1] * 1.7)


def test_new_focal_keeps_depth_and_pixel():
    new = with_focal(K, 150.0)
    assert (new.fx, new.cx, new.cy) == (150.0, K.cx, K.cy)
    assert new.fy == pytest.approx(K.fy * 1.5)  # the pixel aspect stays
    rng = np.random.default_rng(2)
    pts = rng.uniform([-1, 1, -1], [1, 5, 1], (50, 3)).astype(np.float32)
    out = refocused(pts, K, new)
    np.testing.assert_array_equal(out[:, 1], pts[:, 1])
    np.testing.assert_allclose(project(out, new), project(pts, K), atol=1e-4)
    np.testing.assert_allclose(out[:, 0], pts[:, 0] / 1.5, rtol=1e-6)


def test_bad_focal_is_refused_with_a_range():
    for bad in (0.0, -5.0, math.nan):
        with pytest.raises(CalibrationError, match="focal"):
            with_focal(K, bad)
    with pytest.raises(CalibrationError, match="between"):
        with_focal(K, 1e-3)


def test_copy_depth_scales_the_copy_only(tmp_path):
    depth = np.array([[1.0, 2.0], [0.0, 4.0]], np.float32)
    src, dst = tmp_path / "depth.npy", tmp_path / "out.npy"
    np.save(src, depth)
    copy_depth(str(src), str(dst), 1.25)
    np.testing.assert_array_equal(np.load(dst), depth * np.float32(1.25))
    assert np.load(dst).dtype == np.float32
    np.testing.assert_array_equal(np.load(src), depth)  # the artist's original stays
    copy_depth(str(src), str(dst))
    assert dst.read_bytes() == src.read_bytes()
