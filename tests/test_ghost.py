"""The ghost camera's placement, as pure logic: recovered poses (SfM units, relative to frame 0) land on the
artist's keyed camera in Blender's world when the video followed the move exactly."""

import numpy as np
import pytest

from realcam_core.addon_only.ghost import ghost_track
from realcam_core.camera import CameraError, opencv_c2w_from_blender, relative_to_first


def _rot(axis, deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _blender_track(n=9):
    """matrix_world per frame of a camera that dollies, cranes and pans, somewhere off the origin, scaled 2x."""
    out = []
    for k in range(n):
        m = np.eye(4)
        m[:3, :3] = _rot(2, 30 + 2.0 * k) @ _rot(0, 80) * 2.0  # object scale: ignored by cameras
        m[:3, 3] = [1.5 + 0.1 * k, -3.0 + 0.25 * k, 1.2 + 0.05 * k]
        out.append(m)
    return np.stack(out)


def _accuracy(rel, frames, sfm_units_per_metre, metric=True, model="global"):
    rec = rel[frames].copy()
    rec[:, :3, 3] *= sfm_units_per_metre
    return {
        "registered_frames": list(frames),
        "recovered_c2w": rec.tolist(),
        "metric_scale": 1.0 / sfm_units_per_metre if metric else None,
        "model": model,
        "RotErr": 0.0,
    }


@pytest.mark.parametrize("metric", [True, False])
@pytest.mark.parametrize("unit", [1.0, 0.01])
def test_ghost_lies_on_the_requested_track(metric, unit):
    bl = _blender_track()
    rel = relative_to_first([opencv_c2w_from_blender(m, unit) for m in bl])
    frames = [0, 1, 2, 4, 5, 8]  # frames 3, 6, 7 not registered: no key there
    g = ghost_track(_accuracy(rel, frames, 7.3, metric), rel, bl[0], unit)
    assert g.frames == frames
    assert g.scaled_by == ("metric" if metric else "requested track")
    assert g.scale == pytest.approx(1 / 7.3)
    want = bl[frames].copy()
    want[:, :3, :3] /= 2.0  # the ghost has no object scale
    np.testing.assert_allclose(g.matrices, want, atol=1e-9)


def test_drift_shows_as_distance_from_the_track():
    bl = _blender_track()
    rel = relative_to_first([opencv_c2w_from_blender(m) for m in bl])
    acc = _accuracy(rel, range(9), 1.0)
    drifted = np.asarray(acc["recovered_c2w"])
    drifted[-1, :3, 3] += [0.0, 0.0, 0.5]  # the video's last camera went 0.5 m further along frame 0's view
    acc["recovered_c2w"] = drifted.tolist()
    g = ghost_track(acc, rel, bl[0])
    gap = np.linalg.norm(g.matrices[:, :3, 3] - bl[:, :3, 3], axis=1)
    np.testing.assert_allclose(gap[:-1], 0, atol=1e-9)
    assert gap[-1] == pytest.approx(0.5)
    # relative poses are in frame 0's camera axes: OpenCV +Z there is Blender's -Z of the frame-0 camera
    step = g.matrices[-1, :3, 3] - bl[-1, :3, 3]
    view = -bl[0, :3, 2] / np.linalg.norm(bl[0, :3, 2])
    assert step @ view == pytest.approx(0.5)


def test_rotation_only_reconstruction_stays_at_frame_0():
    bl = _blender_track()
    rel = relative_to_first([opencv_c2w_from_blender(m) for m in bl])
    acc = _accuracy(rel, range(9), 1.0, metric=False, model="rotation_only")
    g = ghost_track(acc, rel, bl[0])
    assert g.scaled_by == "rotation only"
    np.testing.assert_allclose(g.matrices[:, :3, 3], np.tile(bl[0, :3, 3], (9, 1)), atol=1e-9)
    np.testing.assert_allclose(g.matrices[:, :3, :3], bl[:, :3, :3] / 2.0, atol=1e-9)


@pytest.mark.parametrize(
    ("acc", "says"),
    [
        (None, "Measure camera accuracy"),
        ({"error": "only 2 of 9 frames registered"}, "only 2 of 9"),
        ({"RotErr": 0.1, "registered_frames": [0, 1]}, "older backend"),
        ({"registered_frames": [0, 1], "recovered_c2w": [np.eye(4).tolist()]}, "2 registered frames"),
        ({"registered_frames": [0], "recovered_c2w": [(np.eye(4) * 2).tolist()]}, "recovered camera 0"),
        ({"registered_frames": [1], "recovered_c2w": [np.eye(4).tolist()]}, "frame 0 must be among them"),
        ({"registered_frames": [0, 20], "recovered_c2w": [np.eye(4).tolist()] * 2}, "no longer match"),
    ],
)
def test_unusable_accuracy_says_what_to_do(acc, says):
    bl = _blender_track()
    rel = relative_to_first([opencv_c2w_from_blender(m) for m in bl])
    with pytest.raises(CameraError, match=says):
        ghost_track(acc, rel, bl[0])
