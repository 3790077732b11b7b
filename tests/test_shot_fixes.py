"""Scene fixes after import in real Blender: scale calibration and the photo's focal, property -> mesh/camera -> bundle.

The Blender side (tests/blender_scripts/shot_fixes.py) writes the job bundle with the add-on's own writer at each
step; here the bundles are read back and compared."""

import numpy as np
import pytest
from helpers import REPORT, SAMPLES, blender_report
from helpers import project_blender as project

from realcam_core.bundle import load_bundle
from realcam_core.camera import Intrinsics

S = 1.25
PIXEL, W = (40, 30), 128


@pytest.fixture(scope="module")
def rep(addon_zip, tmp_path_factory, blender_python):
    tmp = tmp_path_factory.mktemp("fixes")
    return blender_report(tmp, "shot_fixes.py", addon_zip, SAMPLES, REPORT, tmp, python=blender_python)


def _dist(a, b=(0.0, 0.0, 0.0)):
    return float(np.linalg.norm(np.subtract(a, b)))


def _bundle(entry):
    b = load_bundle(entry["folder"])
    depth = np.load(f"{entry['folder']}/depth.npy")
    return b, depth


def test_bad_input_is_refused_with_what_to_do_and_nothing_changes(rep):
    bad = rep["bad"]
    for case, entry in bad.items():
        assert entry["result"] == ["CANCELLED"] and entry["error"], case
    assert "not a RealCam shot" in bad["not_a_shot"]["error"]
    assert "set points A and B first" in bad["no_points"]["error"]
    assert "not on the photo's mesh" in bad["cursor_off_mesh"]["error"]
    assert "Shift+right-click" in bad["cursor_off_mesh"]["error"]
    assert "same point" in bad["same_point"]["error"]
    assert "real distance 0" in bad["zero_distance"]["error"]
    assert "not a positive number" in bad["zero_factor"]["error"]
    assert "focal length 0 px is not a length" in bad["zero_focal"]["error"]
    assert (
        "below Blender's 1 mm" in bad["lens_under_1mm"]["error"] and "at least 4 px" in bad["lens_under_1mm"]["error"]
    )
    assert "scene folder" in bad["folder_moved"]["error"] and "missing" in bad["folder_moved"]["error"]
    assert "scene folder" in bad["folder_moved_focal"]["error"]
    assert "no photo mesh" in bad["no_mesh"]["error"]
    before, after = rep["before"], rep["after_bad"]
    for key in ("vertex", "depth_scale", "photo_focal_px", "median_depth", "clip", "cam_last", "lens"):
        assert after[key] == before[key], key
    assert before["preview"] == after["preview"] == "current"
    assert "Scale: as imported" in "\n".join(before["panel"])


def test_scale_from_two_points_rescales_mesh_camera_and_bundle(rep):
    assert rep["apply_scale"]["result"] == ["FINISHED"], rep["apply_scale"]
    assert any("A to B measures" in line for line in rep["measured_panel"])
    before, after = rep["before"], rep["after_scale"]
    # The known pixel's vertex: S times as far from the photo camera, on the same ray.
    assert _dist(after["vertex"]) == pytest.approx(S * _dist(before["vertex"]), rel=1e-5)
    np.testing.assert_allclose(after["vertex"], np.multiply(before["vertex"], S), rtol=1e-5)
    assert after["faces"] == before["faces"] and after["meshes"] == before["meshes"]  # rebuilt, nothing left over
    # The camera's keyed move: same start, S times as far at the end.
    np.testing.assert_allclose(after["cam_first"], before["cam_first"], atol=1e-6)
    assert _dist(after["cam_last"], after["cam_first"]) == pytest.approx(
        S * _dist(before["cam_last"], before["cam_first"]), rel=1e-5
    )
    assert after["depth_scale"] == pytest.approx(S)
    assert after["median_depth"] == pytest.approx(S * before["median_depth"], rel=1e-6)
    np.testing.assert_allclose(after["clip"], np.multiply(before["clip"], S), rtol=1e-6)
    assert rep["measured_after"] == pytest.approx(rep["measured"] * S, rel=1e-5)  # A-B now the real distance
    assert after["preview"] == "stale"
    assert after["fix_note"] == ""  # a camera keyed on itself: everything was reached
    panel = "\n".join(after["panel"])
    assert "Scale ×1.25 from calibration" in panel
    # The bundle: depth x S, translations x S, rotations and intrinsics unchanged; the scene folder untouched.
    b0, d0 = _bundle(rep["bundle_before"])
    b1, d1 = _bundle(rep["bundle_scaled"])
    np.testing.assert_allclose(d1, d0 * S, rtol=1e-6)
    np.testing.assert_allclose(b1.c2ws[:, :3, 3], b0.c2ws[:, :3, 3] * S, atol=1e-6)
    np.testing.assert_allclose(b1.c2ws[:, :3, :3], b0.c2ws[:, :3, :3], atol=1e-6)
    assert _dist(b0.c2ws[-1, :3, 3]) > 0.5  # the dolly really moved
    assert rep["scene_folder_after"] == rep["scene_folder_files"]


@pytest.mark.every_blender
def test_one_undo_takes_the_scale_back(rep):
    before, undone, redone, after = rep["before"], rep["undone"], rep["redone"], rep["after_scale"]
    for key in ("vertex", "depth_scale", "median_depth", "clip", "cam_last"):
        np.testing.assert_allclose(undone[key], before[key], rtol=1e-6, err_msg=key)
        np.testing.assert_allclose(redone[key], after[key], rtol=1e-6, err_msg=key)


def test_new_focal_reprojects_mesh_sets_lens_and_bundle(rep):
    assert rep["apply_focal"]["result"] == ["FINISHED"], rep["apply_focal"]
    scaled, after = rep["after_scale"], rep["after_focal"]
    K_old, K_new = Intrinsics(**rep["imported_K"]), Intrinsics(**rep["focal_K"])
    assert K_new.fx == pytest.approx(rep["f_new"]) and K_new.fy == pytest.approx(K_old.fy * 1.2)
    # The known pixel's vertex keeps its depth and lands where the new focal projects its pixel centre.
    assert after["vertex"][1] == pytest.approx(scaled["vertex"][1], rel=1e-6)
    u, v = project([after["vertex"]], K_new)[0]
    assert (u, v) == pytest.approx((PIXEL[0] + 0.5, PIXEL[1] + 0.5), abs=1e-3)
    # The lens: the new focal's, and the zoom's keys scaled with it (same zoom factor).
    assert after["lens"] == pytest.approx(rep["focal_lens_expected"], rel=1e-5)
    assert after["lens"] == pytest.approx(scaled["lens"] * 1.2, rel=1e-5)
    lens = [k[1] for k in rep["lens_keys"]]
    assert lens[0] == pytest.approx(rep["focal_lens_expected"], rel=1e-5) and lens[-1] == pytest.approx(
        lens[0] * 1.2, rel=1e-5
    )
    assert after["preview"] == "stale"
    assert f"Focal {rep['f_new']:.1f} px" in "\n".join(after["panel"])
    # The bundle's first frame is the new focal, and the first-frame check passes.
    entry = rep["bundle_focal"]
    assert entry["first_frame"] is None, entry["first_frame"]
    b, _ = _bundle(entry)
    assert b.frames[0].intrinsics.fx == pytest.approx(rep["f_new"], rel=1e-5)
    # Undone, the shot's intrinsics and the lens go back together: the check still passes.
    undone = rep["focal_undone"]
    assert undone["K"]["fx"] == pytest.approx(rep["f_old"]) and undone["first_frame"] is None


def test_save_and_reopen_keeps_scale_and_focal(rep):
    re, after = rep["reopened"], rep["after_focal"]
    panel = "\n".join(re["panel"])
    assert "Scale ×1.25 from calibration" in panel
    assert f"imported {rep['f_old']:.1f} px" in panel
    np.testing.assert_allclose(re["vertex"], after["vertex"], rtol=1e-6)
    assert re["depth_scale"] == pytest.approx(S)
    assert rep["reopened_K"]["fx"] == pytest.approx(rep["f_new"])
    entry = rep["bundle_reopened"]
    assert entry["first_frame"] is None, entry["first_frame"]
    b0, d0 = _bundle(rep["bundle_before"])
    _, d = _bundle(entry)
    np.testing.assert_allclose(d, d0 * S, rtol=1e-6)
    assert rep["startup"] == ["Camera", "Cube", "Light"]
    assert rep["deprecations"] == []


def test_a_rigged_camera_is_scaled_where_it_can_be_and_the_rest_is_named(rep):
    rig = rep["rig"]
    assert rig["preset"]["result"] == rig["apply"]["result"] == ["FINISHED"], rig
    assert rig["holder"].startswith("RealCam move")
    np.testing.assert_allclose(rig["offset_after"], np.multiply(rig["offset_before"], 2.0), rtol=1e-5)
    assert _dist(rig["offset_before"]) > 0.05
    assert "Not rescaled" in rig["note"] and "constraint 'Track To'" in rig["note"]
    assert "Crane" not in rig["note"]  # a parent that stands still needs no scaling: it is not named
    assert any("Not rescaled" in line for line in rig["panel"])
    assert rig["apply_moving_crane"]["result"] == ["FINISHED"]
    assert "parent 'Crane'" in rig["note_moving_crane"]  # a moving one is
    assert rig["depth_scale"] == pytest.approx(2.0 * S)


def test_reimporting_the_photo_keeps_the_zoom_and_the_first_frame(rep):
    ri = rep["reimport"]
    assert ri["result"] == ["FINISHED"] and ri["error"] is None, ri
    assert ri["K"]["fx"] == pytest.approx(0.8 * rep["f_old"], rel=1e-4)  # the new import's focal, not the applied one
    before, after = ri["keys_before"], ri["keys_after"]
    assert len(after) == len(before) == 2
    # The zoom starts at the new photo's lens and keeps its factor: the first frame is the photo again.
    assert after[0] == pytest.approx(ri["photo_lens"], rel=1e-5)
    assert after[-1] / after[0] == pytest.approx(before[-1] / before[0], rel=1e-5)
    assert ri["first_frame"] is None, ri["first_frame"]
    # Points A and B were picked on the old mesh: they are asked for again, not used on the new one.
    assert ri["points_before"] == [True, True] and ri["points_after"] == [False, False]
    assert any("then set A and B" in line for line in ri["panel"])
    assert ri["field"] == pytest.approx(ri["K"]["fx"], rel=1e-6)  # the focal field shows the new photo's focal


def test_focal_field_starts_at_the_photo_and_imported_goes_back_to_it(rep):
    imported = rep["imported_K"]["fx"]
    assert rep["focal_field_at_import"] == pytest.approx(imported, rel=1e-6)
    rv = rep["revert"]
    assert any("Imported" in line and "realcam.apply_focal" in line for line in rv["panel_before"]), rv
    assert rv["apply"]["result"] == ["FINISHED"], rv
    assert rv["state"]["photo_focal_px"] == 0.0 and rv["K"]["fx"] == pytest.approx(imported, rel=1e-9)
    assert rv["field"] == pytest.approx(imported, rel=1e-6)  # a float property: single precision
    # the mesh is back where the import put it (at the calibrated scale): the pixel's vertex as before the focal
    np.testing.assert_allclose(rv["state"]["vertex"], rep["after_scale"]["vertex"], rtol=1e-5, atol=1e-6)
    assert not any("realcam.apply_focal Imported" in line for line in rv["panel_after"])  # nothing to go back to
    assert rv["undone"]["photo_focal_px"] == pytest.approx(rep["f_new"], rel=1e-6)  # one undo step
