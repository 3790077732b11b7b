"""Camera move from clip (issue 29) in real Blender from the default startup file, against a real `realcam serve` on
loopback: clips rendered with known cameras and metric depth, tracked by the backend, keyed on the shot's camera.

What is checked, per shot frame f (clip time t = (f - start) / the shot's fps): the camera's move on top of what it
did before, before_f^-1 after_f in its own OpenCV axes, is the downloaded move at t (the keying is exact) and the
true camera move of the render at t (the whole chain is accurate: translation within 3 % of the move's reach in
metres, rotation within 0.3 degrees).
"""

import json

import numpy as np
import pytest
from helpers import SAMPLES, Server, run_blender_script

from realcam.evaluate.accuracy import load_track
from realcam.evaluate.metrics import rotation_angles
from realcam_core import depth_map
from realcam_core.addon_only import clip_move
from realcam_core.camera import relative_to_first

W, H, N = 256, 192, 20


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip_move_renders")
    run_blender_script("textured_moves.py", out, W, H, N, "orbit", "dolly_in", "--depth")
    return out


def truth(renders, move):
    _, gt = load_track(str(renders / move / "cameras.txt"), (W, H))
    return relative_to_first(gt)


def moves_on_top(case) -> np.ndarray:
    """before_f^-1 after_f for every shot frame: the move the operation added, in the camera's OpenCV axes."""
    before, after = np.array(case["before"]), np.array(case["after"])
    return np.linalg.inv(before) @ after


def expected_from_file(case) -> np.ndarray:
    """The downloaded move at each shot frame's clip time, at the size the add-on documents."""
    m = clip_move.ClipMove(np.array(case["move_times"]), np.array(case["move_rel"]), case["move_report"])
    start, end = case["frames"]
    out = []
    for f in range(start, end + 1):
        p = clip_move.pose_at(m, (f - start) / case["fps"])
        p[:3, 3] *= case["info"]["metres_per_unit"]
        out.append(p)
    return np.stack(out)


def errors(got, want):
    t = np.linalg.norm(got[:, :3, 3] - want[:, :3, 3], axis=1)
    r = np.degrees(rotation_angles(want[:, :3, :3], got[:, :3, :3]))
    return t, r


def check_orbit(case, renders, frames, what) -> np.ndarray:
    """The orbit keyed by case (its move on top, returned): exactly the downloaded move, and the rendered truth at
    the clip frames the shot's frames fall on within 3 % of the reach and 0.3 degrees."""
    got = moves_on_top(case)
    t_key, r_key = errors(got, expected_from_file(case))
    true = truth(renders, "orbit")[frames]
    t_err, r_err = errors(got, true)
    reach = np.linalg.norm(true[:, :3, 3], axis=1).max()
    print(
        f"{what}: keyed vs move file {t_key.max():.2e} m, {r_key.max():.2e} deg; keyed vs truth: translation max "
        f"{t_err.max():.4f} m ({100 * t_err.max() / reach:.2f} % of {reach:.3f} m), rotation max {r_err.max():.3f} deg"
    )
    assert t_key.max() < 1e-4 and r_key.max() < 0.01
    assert t_err.max() < 0.03 * reach and r_err.max() < 0.3
    return got


def clip_frames(case, clip_fps):
    """The clip frame each shot frame shows (the shot's fps divides the clip's here), held at the clip's end."""
    start, end = case["frames"]
    return [min(round((f - start) / case["fps"] * clip_fps), N - 1) for f in range(start, end + 1)]


def panel_text(panel) -> str:
    """The Camera move panel's words on the last clip move: its labels after the button, up to the move's extent."""
    i = panel.index("button: realcam.move_from_clip Camera move from clip")
    out = []
    for line in panel[i + 1 :]:
        if line.startswith("label: Move:"):
            break
        out.append(line.split(": ", 1)[1])
    return " ".join(out)


@pytest.mark.slow
def test_camera_move_from_clip_lands_on_the_true_track(addon_zip, tiny_models, renders, tmp_path):
    """Blender 4.5 only: the keys go through the presets' keying, which the preset tests run in every version."""
    srv = Server(tmp_path / "data", tiny_models)
    try:
        run_blender_script(
            "addon_clip_move.py",
            addon_zip,
            srv.url,
            SAMPLES,
            renders,
            tmp_path / "report.json",
            tmp_path,
            user_dir=tmp_path / "blender-user",
            timeout=2400,
        )
    finally:
        srv.stop()
    check(json.loads((tmp_path / "report.json").read_text()), renders)


def check(rep, renders):
    assert rep["deprecations"] == []
    assert {"Cube", "Light", "Camera"} <= set(rep["startup"])  # the default startup file
    assert rep["import"]["error"] is None and rep["shot"]["frames"] == [1, 21]
    untouched = rep["untouched"]

    # A clip that cannot be tracked, two that are no video, and a cancel while the backend tracks: the camera as it
    # was, nothing left on the backend or on disk. Blender is never held: every press returns at once, and no tick
    # of the add-on's timer runs long (the tracking is the backend's, the upload and polls a worker thread's).
    noise = rep["noise"]
    assert "could not track the clip" in noise["error"] and "frames could be placed" in noise["error"], noise
    assert noise["camera_state"] == untouched and noise["info"] is None
    assert any("Camera move from clip stopped: the backend could not track" in ln for ln in noise["panel"])
    assert noise["tracks_left"] == [] and noise["track_folders"] == []
    ext = rep["not_video_ext"]
    assert ext["result"] == ["CANCELLED"] and ext["stage"] is None, ext
    assert "notes.txt is neither a video" in ext["error"] and "pick one of those" in ext["error"], ext
    fake = rep["not_video"]
    assert "not a video this server can read" in fake["error"], fake
    for case in (ext, fake):
        assert case["camera_state"] == untouched and case["info"] is None
        assert case["tracks_left"] == [] and case["track_folders"] == []
    assert "structure from motion" in rep["cancel_seen"]["message"], rep["cancel_seen"]
    assert any("Stage 3 of 5: Tracking the clip" in ln for ln in rep["cancel_seen"]["panel"])
    cancel = rep["cancel"]
    assert cancel["stage"] == "cancelled" and cancel["error"] is None, cancel
    assert cancel["camera_state"] == untouched and cancel["tracks_left"] == [] and cancel["track_folders"] == []
    timed = {k: rep[k]["main_thread_s"] for k in ("noise", "not_video", "cancel", "metric", "rig", "relative")}
    print("longest main-thread step per run (s): " + ", ".join(f"{k} {v:.3f}" for k, v in timed.items()))
    assert max(timed.values()) < 1.0, timed  # a track takes tens of seconds: none of it is on the main thread
    assert all(rep[k]["returned_while_running"] for k in ("noise", "not_video", "metric", "rig", "relative"))

    # The orbit in metres on the plain camera: keys on the camera itself, the shot at 24 fps like the clip.
    metric = rep["metric"]
    assert metric["error"] is None and metric["holder"] == rep["shot"]["camera"], metric["error"]
    assert metric["info"]["scaled"] == "metric" and metric["info"]["metres_per_unit"] == 1.0
    got = check_orbit(metric, renders, clip_frames(metric, 24.0), "orbit on the camera")
    assert np.allclose(got[0], np.eye(4), atol=1e-6)  # the first frame is still the photo's camera
    lines = metric["clip_lines"]
    assert lines[0][0] == "label" and lines[0][1].startswith("From frames: 20 of 20 frames tracked, in metres (scale ")
    assert lines[1:] == [["label", "Clip's 0.79 s over frames 1-20, held to 21"]], lines
    assert panel_text(metric["panel"]) == " ".join(text for _, text in lines)  # what the panel draws, wrapped
    assert not any("Stage" in ln for ln in metric["panel"])  # done: no progress left
    assert metric["tracks_left"] == [] and len(metric["track_folders"]) == 1  # the move kept beside the project
    # One undo step takes it all back; redo brings it again.
    assert rep["undo"]["camera_state"]["animated"] is False and rep["undo"]["clip_move"] == ""
    assert np.allclose(rep["undo"]["camera_state"]["matrix"], untouched["matrix"], atol=1e-6)
    assert np.allclose(rep["redo"]["after"], metric["after"], atol=1e-6)

    # A studio's file (frame 1001, 25 fps, centimetres), a second shot on a rig (Track To an empty that drifts):
    # keys on the "RealCam move" empty, the camera keeps its rig; the shot calibrated x1.25 (a metre of the clip
    # stays a metre); the frames at the scene's 25 fps (shot frame 1001 + k: clip frame k).
    studio = rep["studio_shot"]
    assert (
        rep["import_studio"]["error"] is None
        and studio["frames"] == [1001, 1021]
        and abs(studio["unit_scale"] - 0.01) < 1e-6
    )  # a float32 property
    rig = rep["rig"]
    assert rig["error"] is None, rig["error"]
    assert rig["holder"].startswith("RealCam move") and rig["holder_type"] == "EMPTY"
    assert rig["camera_state"]["constraints"] == ["Track To", "RealCam move"] and not rig["camera_state"]["animated"]
    before = np.array(rig["before"])
    assert not np.allclose(before[0], before[-1], atol=1e-3)  # the rig itself moves the camera
    assert rep["scale_fix"]["total"] == pytest.approx(1.25) and rig["fps"] == 25.0 and rig["frames"] == [1001, 1021]
    assert rig["info"]["metres_per_unit"] == 1.0 and rig["move_report"]["fps"] == 25.0
    frames = clip_frames(rig, 25.0)
    assert frames[:3] == [0, 1, 2] and frames[-2:] == [N - 1, N - 1]
    check_orbit(rig, renders, frames, "orbit on a Track To rig, frame 1001, 25 fps, centimetres, scale x1.25")
    assert rig["clip_lines"][1:] == [["label", "Clip's 0.76 s over frames 1001-1020, held to 1021"]], rig["clip_lines"]
    # One undo step takes the move off the rig (the rig itself stays); redo brings it back.
    assert np.allclose(rep["rig_undo"]["after"], rig["before"], atol=1e-5)
    assert rep["rig_undo"]["camera_state"]["constraints"] == ["Track To"]

    # A dolly without its lens, at relative scale, on top of all that: sized by the photo's median depth (after the
    # calibration), against the true move over the clip's own median depth; the panel says so, and warns.
    rel = rep["relative"]
    assert rel["error"] is None, rel["error"]
    info = rel["info"]
    assert info["scaled"] == "relative" and info["metres_per_unit"] == pytest.approx(rel["median_depth"])
    got = moves_on_top(rel)
    t_key, _ = errors(got, expected_from_file(rel))
    assert t_key.max() < 1e-4
    z0 = depth_map.read(renders / "dolly_in" / "depth" / "0000.exr", None)
    frames = clip_frames(rel, 50.0)
    assert frames[:3] == [0, 2, 4] and frames[-1] == N - 1
    true = truth(renders, "dolly_in")[frames]
    true[:, :3, 3] *= rel["median_depth"] / np.median(z0[z0 > 0])
    t_err, r_err = errors(got, true)
    reach = np.linalg.norm(true[:, :3, 3], axis=1).max()
    print(f"dolly at relative scale: vs truth sized by the photo's depth {100 * t_err.max() / reach:.2f} % of reach")
    assert t_err.max() < 0.1 * reach and r_err.max() < 0.5
    lines = rel["clip_lines"]
    md = rel["median_depth"]
    assert lines[:3] == [
        ["label", f"From frames: 20 of 20 frames tracked, at relative scale: ×{md:.2f} m, the photo's median depth"],
        ["label", "No metric scale: none asked for (No metric scale)"],
        ["label", "Clip's 0.38 s over frames 1001-1010, held to 1021"],
    ], lines
    assert [k for k, _ in lines[3:]] == ["warning"] and lines[3][1].startswith("the focal length was estimated but")
    assert lines[3][1].endswith("Give the clip's Focal (px) or Field of view"), lines[3]
    assert panel_text(rel["panel"]) == " ".join(text for _, text in lines)
