import json

import numpy as np
import pytest
from helpers import backproject, project, run_blender_script
from hypothesis import given, settings
from hypothesis import strategies as st

from realcam_core.camera import (
    BlenderCamera,
    CameraError,
    Intrinsics,
    blender_from_intrinsics,
    blender_from_opencv_c2w,
    intrinsics_from_blender,
    opencv_c2w_from_blender,
    relative_to_first,
    rigid_inverse,
    rigid_problems,
)

FITS = ["AUTO", "HORIZONTAL", "VERTICAL"]


@st.composite
def blender_cameras(draw):
    aspect = draw(st.floats(1.0, 3.0))
    on_x = draw(st.booleans())
    return BlenderCamera(
        lens=draw(st.floats(4.0, 400.0)),
        sensor_width=draw(st.floats(4.0, 70.0)),
        sensor_height=draw(st.floats(4.0, 50.0)),
        sensor_fit=draw(st.sampled_from(FITS)),
        shift_x=draw(st.floats(-2.0, 2.0)),
        shift_y=draw(st.floats(-2.0, 2.0)),
        resolution_x=draw(st.integers(16, 4096)),
        resolution_y=draw(st.integers(16, 4096)),
        pixel_aspect_x=aspect if on_x else 1.0,
        pixel_aspect_y=1.0 if on_x else aspect,
    )


@st.composite
def intrinsics(draw):
    w = draw(st.integers(16, 4096))
    h = draw(st.integers(16, 4096))
    fx = draw(st.floats(0.2, 5.0)) * max(w, h)
    fy = fx * draw(st.floats(1 / 3, 3.0))
    cx = draw(st.floats(-0.5, 1.5)) * w
    cy = draw(st.floats(-0.5, 1.5)) * h
    return Intrinsics(fx, fy, cx, cy, w, h)


def rotation(draw_quat):
    q = np.asarray(draw_quat, dtype=np.float64)
    q = q / np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


quats = st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(lambda q: np.linalg.norm(q) > 0.1)


@settings(max_examples=300, deadline=None)
@given(blender_cameras())
def test_blender_to_K_to_blender_round_trip(cam):
    K = intrinsics_from_blender(cam)
    back = blender_from_intrinsics(K, cam.sensor_fit, cam.sensor_width, cam.sensor_height)
    assert back.sensor_fit == cam.sensor_fit
    assert back.lens == pytest.approx(cam.lens, rel=1e-9)
    assert back.shift_x == pytest.approx(cam.shift_x, rel=1e-9, abs=1e-12)
    assert back.shift_y == pytest.approx(cam.shift_y, rel=1e-9, abs=1e-12)
    assert back.pixel_aspect_x == pytest.approx(cam.pixel_aspect_x, rel=1e-9)
    assert back.pixel_aspect_y == pytest.approx(cam.pixel_aspect_y, rel=1e-9)
    assert (back.resolution_x, back.resolution_y) == (cam.resolution_x, cam.resolution_y)


@settings(max_examples=300, deadline=None)
@given(intrinsics(), st.sampled_from(FITS), st.floats(5.0, 60.0), st.floats(5.0, 40.0))
def test_K_to_blender_to_K_round_trip_every_fit(K, fit, sw, sh):
    cam = blender_from_intrinsics(K, fit, sw, sh)
    assert min(cam.pixel_aspect_x, cam.pixel_aspect_y) == 1.0  # Blender's rule
    back = intrinsics_from_blender(cam)
    for a, b in ((back.fx, K.fx), (back.fy, K.fy), (back.cx, K.cx), (back.cy, K.cy)):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9)
    assert (back.width, back.height) == (K.width, K.height)


@settings(max_examples=300, deadline=None)
@given(intrinsics(), st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.05, 500.0))
def test_backprojected_pixel_projects_to_itself(K, fu, fv, depth):
    u, v = fu * K.width, fv * K.height
    p = backproject(u, v, depth, K)
    assert p[2] == pytest.approx(depth)
    uv = project(p, K)
    assert uv[0] == pytest.approx(u, abs=1e-6 * K.width)
    assert uv[1] == pytest.approx(v, abs=1e-6 * K.height)


@settings(max_examples=200, deadline=None)
@given(
    quats,
    st.lists(st.floats(-100, 100), min_size=3, max_size=3),
    st.lists(st.floats(0.1, 10), min_size=3, max_size=3),
    st.floats(0.001, 1000.0),
)
def test_matrix_world_round_trip_removes_scale_and_applies_units(q, t, scale, unit):
    R = rotation(q)
    mw = np.eye(4)
    mw[:3, :3] = R * np.asarray(scale)  # object scale on the camera
    mw[:3, 3] = t
    c2w = opencv_c2w_from_blender(mw, unit)
    assert rigid_problems(c2w) == []
    assert np.allclose(c2w[:3, 3], np.asarray(t) * unit)
    # The OpenCV camera looks where the Blender camera looks (-Z local).
    assert np.allclose(c2w[:3, 2], -R[:, 2], atol=1e-9)
    assert np.allclose(c2w[:3, 1], -R[:, 1], atol=1e-9)
    back = blender_from_opencv_c2w(c2w, unit)
    assert np.allclose(back[:3, :3], R, atol=1e-9)
    assert np.allclose(back[:3, 3], t, atol=1e-9 * max(1.0, np.abs(t).max()))


def test_relative_to_first_makes_frame_zero_identity():
    rng = np.random.default_rng(1)
    poses = []
    for _ in range(5):
        m = np.eye(4)
        m[:3, :3] = rotation(rng.normal(size=4))
        m[:3, 3] = rng.normal(size=3)
        poses.append(m)
    rel = relative_to_first(poses)
    assert np.allclose(rel[0], np.eye(4), atol=1e-12)
    for i in range(1, 5):
        assert np.allclose(poses[0] @ rel[i], poses[i], atol=1e-12)
        assert np.allclose(rigid_inverse(rel[i]) @ rel[i], np.eye(4), atol=1e-12)


def test_rigid_problems_name_the_fault():
    assert rigid_problems(np.eye(4)) == []
    assert "non-finite" in rigid_problems(np.full((4, 4), np.nan))[0]
    assert "orthonormal" in rigid_problems(np.diag([2.0, 1, 1, 1]))[0]
    assert "reflection" in rigid_problems(np.diag([-1.0, 1, 1, 1]))[0]
    bad = np.eye(4)
    bad[3, 0] = 1
    assert "last row" in rigid_problems(bad)[0]
    assert "4x4" in rigid_problems(np.eye(3))[0]


def test_bad_cameras_are_refused_with_a_reason():
    with pytest.raises(CameraError, match="sensor fit"):
        intrinsics_from_blender(BlenderCamera(lens=50, sensor_fit="DIAGONAL"))
    with pytest.raises(CameraError, match="positive"):
        blender_from_intrinsics(Intrinsics(-1, 1, 1, 1, 10, 10))


def test_facts_horizontal_fit_with_shift():
    # facts.md: fx = lens / sensor_width * W; cx = W/2 - shift_x W; cy = H/2 + shift_y W
    cam = BlenderCamera(
        lens=35,
        sensor_width=36,
        sensor_fit="HORIZONTAL",
        shift_x=0.1,
        shift_y=-0.05,
        resolution_x=800,
        resolution_y=600,
    )
    K = intrinsics_from_blender(cam)
    assert K.fx == pytest.approx(35 / 36 * 800)
    assert K.cx == pytest.approx(400 - 80)
    assert K.cy == pytest.approx(300 - 40)


@pytest.mark.every_blender
def test_projection_matches_real_blender(tmp_path, blender_python):
    """Blender's own world_to_camera_view agrees with K and c2w, for every fit, shift and pixel aspect."""
    out = tmp_path / "cases.json"
    run_blender_script("project_points.py", out, 7, 24, python=blender_python)
    cases = json.loads(out.read_text())
    assert len(cases) == 24
    worst = 0.0
    for case in cases:
        cam = BlenderCamera(**case["camera"])
        K = intrinsics_from_blender(cam)
        c2w = opencv_c2w_from_blender(np.array(case["matrix_world"]))
        w2c = rigid_inverse(c2w)
        for p, ndc in zip(case["points"], case["ndc"], strict=True):
            pc = w2c[:3, :3] @ np.array(p) + w2c[:3, 3]
            u, v = project(pc, K)
            # Blender's view coordinates: x from the left, y from the bottom, both 0..1.
            bu, bv = ndc[0] * K.width, (1.0 - ndc[1]) * K.height
            worst = max(worst, abs(u - bu), abs(v - bv))
            assert pc[2] == pytest.approx(ndc[2], rel=1e-4)
    assert worst < 2e-3, f"worst disagreement with Blender {worst} px"
