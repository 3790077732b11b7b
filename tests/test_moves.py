"""The move's extent and the preview's coverage, as pure logic (the panel shows both; Blender tests cover that)."""

import numpy as np
import pytest

from realcam_core.addon_only.coverage import coverage, coverage_warning
from realcam_core.addon_only.move_extent import move_extent


def _rz(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _track(positions, angles_deg):
    out = np.tile(np.eye(4), (len(positions), 1, 1))
    for i, (p, a) in enumerate(zip(positions, angles_deg, strict=True)):
        out[i, :3, :3], out[i, :3, 3] = _rz(a), p
    return out


def test_dolly_there_and_back_has_a_path_but_no_net_displacement():
    e = move_extent(_track([[0, 0, 0], [1, 0, 0], [2, 0, 0], [1, 0, 0], [0, 0, 0]], [0] * 5))
    assert e.path_m == pytest.approx(4.0) and e.net_m == pytest.approx(0.0, abs=1e-12)
    assert e.turn_deg == pytest.approx(0.0, abs=1e-6) and e.net_turn_deg == pytest.approx(0.0, abs=1e-6)


def test_combined_dolly_pan_crane_adds_up_and_is_frame_independent():
    pos = [[0, 0, 0], [0, 3, 0], [0, 3, 4]]  # 3 m forward, then 4 m up
    e = move_extent(_track(pos, [0, 10, 25]))
    assert e.path_m == pytest.approx(7.0) and e.net_m == pytest.approx(5.0)
    assert e.turn_deg == pytest.approx(25.0) and e.net_turn_deg == pytest.approx(25.0)
    # The same track seen from another world frame (as relative_to_first does): the same numbers.
    w = np.eye(4)
    w[:3, :3], w[:3, 3] = _rz(70) @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]]), [5, -2, 1]
    moved = move_extent(w @ _track(pos, [0, 10, 25]))
    assert moved.path_m == pytest.approx(e.path_m) and moved.net_turn_deg == pytest.approx(e.net_turn_deg)


def test_pan_left_then_right_turns_without_net_turn_and_scale_is_ignored():
    tr = _track([[0, 0, 0]] * 3, [0, 20, 0])
    tr[1, :3, :3] *= 2.0  # a scaled camera object: its rotation is what turns
    e = move_extent(tr)
    assert e.turn_deg == pytest.approx(40.0) and e.net_turn_deg == pytest.approx(0.0, abs=1e-6)
    assert e.path_m == 0.0 and "turn 40.0°" in e.text()


def test_a_track_must_be_matrices():
    with pytest.raises(ValueError, match="N, 4, 4"):
        move_extent(np.zeros((3, 4)))


def test_coverage_counts_covered_pixels_and_warns_below_the_threshold():
    alpha = np.zeros((10, 10), np.float32)
    alpha[:, :7] = 1.0
    alpha[:, 7] = 0.4  # a soft border below half: not covered
    assert coverage(alpha) == pytest.approx(0.7)
    assert coverage((alpha * 255).astype(np.uint8)) == pytest.approx(0.7)
    assert coverage_warning(0.7, 0.6) is None
    msg = coverage_warning(0.45, 0.6)
    assert "45%" in msg and "60%" in msg and "shorten the move" in msg
    assert coverage_warning(-1.0) is None  # not measured yet
    with pytest.raises(ValueError, match="empty"):
        coverage(np.zeros((0, 4)))
