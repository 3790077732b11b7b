"""The maths of Camera move from clip (realcam_core.addon_only.clip_move): time mapping, resampling, axes, size."""

import json

import numpy as np
import pytest

from realcam_core.addon_only import clip_move
from realcam_core.addon_only.progress import from_job, plan
from realcam_core.camera import Intrinsics, blender_from_opencv_c2w, opencv_c2w_from_blender
from realcam_core.re10k import from_track, write_re10k


def rot(axis, deg):
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = np.radians(deg)
    return np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K


def pose(R=np.eye(3), t=(0, 0, 0)):
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = R, t
    return m


def angle_deg(Ra, Rb):
    return np.degrees(np.arccos(np.clip((np.trace(Ra.T @ Rb) - 1) / 2, -1, 1)))


def move_of(poses, frames, fps, report=None, tmp_path=None):
    """A ClipMove as load() reads it from a camera file written like `realcam track` writes it."""
    K = Intrinsics.from_focal(200.0, 256, 192)
    path = tmp_path / "move.txt"
    write_re10k(path, from_track(np.stack(poses), [K] * len(poses), fps, frame_numbers=frames))
    (tmp_path / "move.json").write_text(json.dumps(report or {"scale": {"status": "metric"}}))
    return clip_move.load(str(path), str(tmp_path / "move.json"))


def test_times_come_from_the_tracked_frames_and_poses_are_resampled_between_them(tmp_path):
    """Frames 0, 3, 6 of a 30 fps clip (frames the reconstruction placed): a truck of 0.3 m per tracked step and a
    pan of 9 degrees each; between them translation is linear and rotation the shortest arc."""
    poses = [pose(rot([0, 1, 0], 9 * k), (0.3 * k, 0, 0)) for k in range(3)]
    m = move_of(poses, [0, 3, 6], 30.0, tmp_path=tmp_path)
    assert m.times == pytest.approx([0.0, 0.1, 0.2]) and m.duration == pytest.approx(0.2)
    for k in range(3):
        assert np.allclose(clip_move.pose_at(m, 0.1 * k), poses[k], atol=1e-9)
    mid = clip_move.pose_at(m, 0.05 * 3 / 2)  # three quarters of the way from frame 0 to frame 3
    assert mid[:3, 3] == pytest.approx([0.3 * 0.75, 0, 0])
    assert angle_deg(np.eye(3), mid[:3, :3]) == pytest.approx(9 * 0.75, abs=1e-9)
    assert np.allclose(clip_move.pose_at(m, -1.0), poses[0]) and np.allclose(clip_move.pose_at(m, 5.0), poses[-1])


def test_slerp_takes_the_short_way_across_the_half_turn():
    a, b = clip_move._quat(rot([0, 0, 1], 170)), clip_move._quat(rot([0, 0, 1], -170))
    q = clip_move._slerp(a, b, 0.5)
    assert angle_deg(clip_move._matrix(q), rot([0, 0, 1], 180)) < 1e-6  # through 180, not through 0


def test_a_move_in_the_clip_cameras_axes_is_the_same_move_of_any_blender_camera():
    """For a camera standing anywhere in Blender's world, basis @ camera_delta(rel) is the camera that moved by rel
    in its own OpenCV axes; metres become Blender units."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        B = pose(rot(rng.normal(size=3), rng.uniform(0, 180)), rng.normal(size=3) * 5)
        rel = pose(rot(rng.normal(size=3), rng.uniform(0, 40)), rng.normal(size=3))
        unit = rng.choice([1.0, 0.01])  # metres per Blender unit: metres or centimetres
        want = blender_from_opencv_c2w(opencv_c2w_from_blender(B, unit) @ rel, unit)
        assert np.allclose(B @ clip_move.camera_delta(rel, 1.0 / unit), want, atol=1e-9)
    forward = clip_move.camera_delta(pose(t=(0, 0, 1.0)), 1.0)  # OpenCV +z: the Blender camera's -z
    assert forward[:3, 3] == pytest.approx([0, 0, -1.0])


def test_frame_mapping_by_the_clips_time_or_stretched_over_the_shot():
    t = clip_move.clip_times(1001, 1011, 25.0, "CLIP", 0.2)
    assert t[1001] == 0.0 and t[1006] == pytest.approx(0.2) and t[1011] == pytest.approx(0.4)
    s = clip_move.clip_times(1001, 1011, 25.0, "STRETCH", 2.0)
    assert s[1001] == 0.0 and s[1006] == pytest.approx(1.0) and s[1011] == pytest.approx(2.0)
    with pytest.raises(clip_move.ClipMoveError):
        clip_move.clip_times(5, 5, 24.0, "CLIP", 1.0)


def test_size_metric_relative_and_rotation_only(tmp_path):
    """Metres stay metres (in Blender units); a relative move takes the photo's median depth as its unit; the
    report's warnings reach the panel, the relative-scale one said with the size it got."""
    poses = [pose(t=(0, 0, 0.1 * k)) for k in range(5)]
    report = {
        "clip": "clip.mp4",
        "frames_registered": 5,
        "frames_sampled": 5,
        "scale": {"status": "relative", "reason": "the depth model could not be loaded"},
        "warnings": [
            {"code": "relative_scale", "message": "no metric scale"},
            {"code": "focal_unreliable", "message": "the focal length was estimated"},
        ],
    }
    m = move_of(poses, list(range(5)), 24.0, report, tmp_path)
    deltas, info = clip_move.shot_deltas(m, 1, 9, 24.0, "CLIP", median_depth_m=4.0, metres_per_bu=0.01)
    assert sorted(deltas) == list(range(1, 10))
    assert deltas[5][:3, 3] == pytest.approx([0, 0, -0.4 * 4.0 / 0.01], rel=1e-5)  # 0.4 x 4 m, in cm (µs stamps)
    assert deltas[9][:3, 3] == pytest.approx(deltas[5][:3, 3], rel=1e-5)  # the clip ends at frame 5: held
    assert info["scaled"] == "relative" and info["metres_per_unit"] == 4.0
    assert info["lines"][0] == "5 of 5 frames tracked, at relative scale: ×4.00 m, the photo's median depth"
    assert info["lines"][1] == "No metric scale: the depth model could not be loaded"
    assert info["lines"][2] == "Clip's 0.17 s over frames 1-5, held to 9"
    assert [w["code"] for w in info["warnings"]] == ["focal_unreliable"]
    m.report = {"scale": {"status": "metric", "spread": 0.004}, "warnings": []}
    deltas, info = clip_move.shot_deltas(m, 1, 9, 24.0, "CLIP", median_depth_m=4.0, metres_per_bu=1.0)
    assert deltas[5][:3, 3] == pytest.approx([0, 0, -0.4], rel=1e-5) and info["lines"][0].endswith(
        "in metres (scale spread 0.4 %)"
    )
    m.report = {"scale": {"status": "relative", "reason": "x"}, "warnings": []}
    with pytest.raises(clip_move.ClipMoveError, match="median depth"):
        clip_move.shot_deltas(m, 1, 9, 24.0, "CLIP", median_depth_m=0.0, metres_per_bu=1.0)


def test_unusable_move_files_are_refused_with_what_to_do(tmp_path):
    (tmp_path / "bad.txt").write_text("not a camera file\n")
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(clip_move.ClipMoveError, match="track the clip again"):
        clip_move.load(str(tmp_path / "bad.txt"), str(tmp_path / "r.json"))


def test_a_tracks_stages_as_the_panel_shows_them():
    assert plan("track") == ("upload_clip", "queued", "track", "download_move", "key")
    job = {"kind": "track", "state": "running", "progress": {"stage": "reconstruct"}}
    assert from_job(job)[0] == "track" and "structure from motion" in from_job(job)[4]
    assert from_job({**job, "progress": {"stage": "a_new_stage"}})[0] == "backend:a_new_stage"
    assert from_job({"state": "running", "progress": {"stage": "write"}})[0] == "decode"  # a generation job's write
