"""The add-on in a studio's own file (frame 1001, 25 fps, centimetres, a rig, two shots) and a take that
outlives a killed backend and Blender closing, against a real backend on loopback."""

import os
import sys

import numpy as np
import pytest
from helpers import REPORT, SAMPLES, Server, blender_report, free_port

from realcam_core.re10k import read_re10k


def test_a_studio_file_two_shots_units_rig_stale_preview_and_a_moved_project(addon_zip, tiny_models, tmp_path):
    """Frame 1001, 25 and 23.976 fps, centimetres, the artist's objects and rigged camera; save, move, reopen."""
    from PIL import Image

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.open(os.path.join(SAMPLES, "room.jpg")).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
        inputs / "room_flip.png"
    )
    depth = np.asarray(Image.open(os.path.join(SAMPLES, "room_depth.png")), np.float32) / 1000.0
    np.save(inputs / "room_flip_depth.npy", depth[:, ::-1].copy())
    np.save(inputs / "room_depth_far.npy", depth * 1.5)
    with Server(tmp_path / "data", tiny_models) as srv:
        rep = blender_report(tmp_path, "addon_studio.py", addon_zip, srv.url, SAMPLES, inputs, REPORT, tmp_path)
    A, B = rep["import_a"]["scene"], rep["import_b"]["scene"]
    assert rep["import_a"]["error"] is None and rep["import_b"]["error"] is None
    # Importing never touches the artist's scene: frames, fps, size and %, units, camera and its rig, objects.
    assert rep["studio_after_a"] == rep["studio_before"]
    a, b = rep["shot_a"], rep["shot_b"]
    assert a["frames"] == b["frames"] == [1001, 1009]  # the file's start frame, the model's frame count
    assert a["fps"] == 25.0 and b["fps"] == 23.976  # the file's rate when each was imported
    assert a["resolution"] == b["resolution"] == [128, 96, 100]  # the model's size, in the shot only
    assert a["scale_length"] == pytest.approx(0.01) and a["metres_per_unit"] == pytest.approx(0.01)
    assert b["metres_per_unit"] == 1.0
    assert len(a["objects"]) == len(b["objects"]) == 2
    assert 4.5 < a["median_depth"] < 7.0 and a["median_depth"] == pytest.approx(b["median_depth"], rel=1e-6)
    # Centimetres: the mesh is 100 times larger in Blender units, and so is the camera's clipping.
    assert a["mesh_y_max"] == pytest.approx(100 * b["mesh_y_max"], rel=1e-4)
    assert a["camera_clip"][0] == pytest.approx(100 * b["camera_clip"][0], rel=1e-4)
    iso = rep["isolation"]
    assert iso["errors"] == [None, None]
    assert iso["a_vs_a"] >= 30 and iso["b_vs_b"] >= 30 and iso["a_vs_b"] < 20, iso
    props = rep["props"]
    assert "Blocking" in props["a_collections"] and not props["b_has_crate"]
    assert props["crate_users"] == sorted(["Studio", A])  # linked, not copied
    assert props["state_after_link"] == "stale" and props["state_after_preview"] == "current"
    assert props["changed_pixels"] > 0.005, props
    # Units: a 0.5 m dolly is 50 units in centimetres, 0.5 in metres, and 0.5 m in both bundles.
    assert np.allclose(rep[f"dolly_end_{A}"], [0, 50, 0], atol=1e-3)
    assert np.allclose(rep[f"dolly_end_{B}"], [0, 0.5, 0], atol=1e-5)
    ta, tb = rep["take_a1"], rep["take_b1"]
    assert rep["generate_a1"]["error"] is None and rep["generate_b1"]["error"] is None
    for t in (ta, tb):
        assert np.allclose(np.array(t["c2w_last"])[:3, 3], [0, 0, 0.5], atol=1e-5), t["c2w_last"]
        assert np.allclose(np.array(t["c2w_last"])[:3, :3], np.eye(3), atol=1e-6)
        assert t["reference_is_own"] and t["scene_frames"] == [1001, 1009]
        assert t["strip"]["start"] == 1001 and t["strip"]["duration"] == 9
    assert ta["fps"] == 25.0 and tb["fps"] == pytest.approx(24 / 1.001)
    assert ta["result"]["camera_accuracy"] and "camera_accuracy" not in tb["result"]
    # Each shot plays at its own rate, frame for frame: an edit per frame rate.
    assert ta["edit"][0] != tb["edit"][0] and ta["edit"][1] == 25.0 and tb["edit"][1] == pytest.approx(24 / 1.001)
    assert np.allclose(rep["re10k"]["probe_end"], [0, 50, 0], atol=1e-3)
    rows = read_re10k(rep["re10k"]["file"]).frames
    assert np.allclose(rows[-1].c2w()[:3, 3], [0, 0, 0.5], atol=1e-5)  # RE10K in metres
    other = rep["other_camera"]
    assert "does not see what the photo saw" in other["error"] and other["takes"] == 1
    st = rep["stale"]
    assert st["after_prop_move"] == "stale"
    assert st["prop_generate"]["error"] is None and st["prop_generate"]["rendered_again"]
    assert st["prop_generate"]["bundle_uses_new"]
    assert st["unchanged_generate"]["error"] is None and not st["unchanged_generate"]["rendered_again"]
    assert st["unchanged_generate"]["bundle_size"] == [128, 96, 64.0]  # 50 %: the artist's, not the model's
    lines = rep["panel_lines"]
    assert lines[0] == "tiny: 128x96, 9 frames (1001-1009) at 25 fps" and "50 %" in lines[-1], lines
    ri = rep["reimport"]
    assert ri["error"] is None and ri["scene"] == A and ri["shots"] == sorted([A, B])
    assert ri["median_depth"] == pytest.approx(1.5 * a["median_depth"], rel=1e-3)
    assert ri["camera_animated"] and ri["state"] == "stale"
    assert ri["generate"]["error"] is None and ri["generate"]["rendered_again"]
    assert ri["generate"]["bundle_depth_median"] == pytest.approx(1.5 * a["median_depth"], rel=1e-3)
    rig = rep["rig"]
    assert rig["start_jump"] < 1e-3, rig  # no jump: the preset never bakes the rig into the camera
    assert rig["end_error"] < 1e-2, rig  # rig x dolly x pan, in centimetres
    assert rig["constraints"] == ["Follow Path", "Track To", "RealCam move"] and not rig["camera_transform_keys"]
    assert rig["holder"].startswith("RealCam move")
    assert rig["generate"]["error"] is None
    assert np.allclose(rig["generate"]["bundle_last"], rig["generate"]["expected_last"], atol=1e-4)
    # Saved: every path the add-on keeps is relative to the .blend.
    saved = rep["saved_paths"]
    for name in (A, B):
        for key in ("scene_folder", "preview_folder"):
            assert saved[name][key].startswith("//"), (name, key, saved[name][key])
        assert all(p.startswith("//") for p in saved[name]["takes"] + saved[name]["take_json"])
    assert all(path.startswith("//") for _, _, path in saved["strips"]), saved["strips"]
    assert all(p.startswith("//") for p in saved["strip_json"])
    # Moved elsewhere and reopened: previews, generates, plays its takes.
    mv, moved = rep["moved"], rep["moved_to"]
    assert mv["scene_folder"].startswith(moved) and all(mv["take_videos"]) and all(mv["preview_frames"])
    assert all(p.startswith(moved) for p in mv["take_video_paths"])
    assert mv["edit_frame_std"] > 0.02
    assert mv["preview_error"] is None and mv["preview_folder"].startswith(moved)
    assert mv["generate_error"] is None and mv["new_take"].startswith(moved)
    assert not os.path.exists(tmp_path / "project")
    for key in ("objects", "strips", "constraints", "layout_cam_1050", "camera", "frames", "resolution"):
        assert rep["studio_moved"][key] == rep["studio_before"][key], key
    # Exporting the layout camera from the studio's own scene: the panel there shows how it ended.
    ex = rep["studio_export"]
    assert ex["ok"] is None and any(
        ln.startswith("label: Export: 100 cameras written to ") and ln.endswith("studio.txt") for ln in ex["panel_ok"]
    ), ex
    stopped = " ".join(ln[len("label: ") :] for ln in ex["panel_bad"] if ln.startswith("label: "))
    assert "Export stopped: could not write" in stopped and "pick another file or folder" in stopped, ex


def test_a_take_survives_a_killed_backend_and_blender_closing(addon_zip, tiny_models, tmp_path):
    """The backend killed mid-job and started again; Blender closed mid-job and the .blend reopened."""
    port = free_port()
    command = (
        f"{sys.executable} -m realcam serve --data {tmp_path / 'backend-data'} "
        f"--model-dir tiny={tiny_models['wan22-ti2v']}"
    )
    args = (addon_zip, f"http://127.0.0.1:{port}", command, SAMPLES, REPORT, tmp_path)
    blender_report(tmp_path, "addon_crash.py", *args, "kill")
    rep = blender_report(tmp_path, "addon_crash.py", *args, "reopen")
    k = rep["kill"]
    assert k["error"] is None and k["stage"] == "done", k
    assert k["new_pid"] != k["killed_pid"]  # the add-on started its backend again
    assert any("not answering" in s for s in k["stages_after"]), k["stages_after"]  # the artist sees it
    assert k["strip_jobs"] == [k["job"]] and all(k["videos"]) and k["attempts"] == 2 and not k["job_id_after"]
    c, r = rep["closing"], rep["reopen"]
    assert c["job"] and not c["done_before_quit"]
    assert r["tasks_started"] == 1 and r["error"] is None, r
    assert any("reattaching" in s for s in r["stages"]), r["stages"]
    assert r["strip_jobs"] == [k["job"], c["job"]] and all(r["videos"]) and r["attempts"] == 2, r
    assert not r["job_id_after"] and len(r["takes"]) == 2
