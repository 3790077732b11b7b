"""What an artist trips over in the preview and the edit (issue 25, items 3, 4, 6, 7 and a deleted shot), in real
Blender from the default startup file (bpy 4.5, and 4.2 and 5.0 where set up): the preview leaves the camera's lens
effects out, Compare shows exactly the chosen take, an undone Delete brings the take's files back, a shot plays at
its own rate in the edit, a deleted shot takes its strips with it."""

import json

import numpy as np
import pytest
from helpers import SAMPLES, Server, probe_mp4, run_blender_script


def test_the_preview_leaves_lens_and_look_effects_out(addon_zip, tmp_path, blender_python):
    run_blender_script(
        "preview_trips.py",
        addon_zip,
        SAMPLES,
        tmp_path / "report.json",
        tmp_path,
        user_dir=tmp_path / "blender-user",
        python=blender_python,
    )
    rep = json.loads((tmp_path / "report.json").read_text())
    print(json.dumps({k: v for k, v in rep.items() if not k.startswith("panel")}, indent=1))
    assert rep["deprecations"] == []
    clean = rep["clean"]
    assert clean["error"] is None and clean["psnr"] >= 30.0 and clean["covered"] > 0.9, clean
    # Depth of field (f/1.2 and f/0.5 at 1 m), and then every effect at once: the same preview, pixel for pixel.
    for case in ("dof_f1.2", "dof_f0.5", "all_effects"):
        got = rep[case]
        assert got["error"] is None, (case, got)
        assert got["psnr"] == pytest.approx(clean["psnr"], abs=0.01), (case, got, clean)
        assert got["covered"] == clean["covered"], (case, got, clean)
        assert got["max_diff_to_clean"] == 0.0, (case, got)
    # Each preview is up to date once made: the effects switched off and given back are no edit of the shot.
    assert rep["states"] == ["current"] * 6, rep["states"]
    # The artist's look is back as it was: camera, render, colour management, world (and no world left over).
    assert rep["look_after"] == rep["look_before"], (rep["look_before"], rep["look_after"])
    assert rep["look_before"]["world_volume_linked"] and rep["look_before"]["world"] == "Foggy"
    assert rep["look_before"]["shadows"] is True  # the artist's shadows: off for the preview only, given back
    # The panel says what the preview leaves out, and that renders keep it.
    lines = [ln for ln in rep["panel_effects_on"] if ln.startswith("label: ")]
    said = " ".join(ln[len("label: ") :] for ln in lines)
    assert "The preview leaves out" in said and "your renders keep" in said, lines
    for effect in ("depth of field", "motion blur", "burn-in stamp", "Freestyle", "render region", "world volume"):
        assert effect in said, (effect, lines)
    # Workbench: its depth of field, cavity, outline and shadows stay out too.
    wb, wb_clean = rep["workbench_effects"], rep["workbench_clean"]
    assert wb_clean["error"] is None and wb["error"] is None and wb_clean["psnr"] >= 30.0, wb_clean
    assert wb["max_diff_to_clean"] == 0.0 and wb["covered"] == wb_clean["covered"], (wb, wb_clean)


def _frame_index(decoded, img):
    """Which decoded video frame a rendered edit frame shows (mean absolute difference, the nearest)."""
    d = [float(np.abs(f.astype(np.float32) / 255.0 - img[..., :3]).mean()) for f in decoded]
    return int(np.argmin(d)), sorted(d)[:2]


def test_compare_delete_undo_frame_rate_and_deleted_shots_in_the_edit(addon_zip, tiny_models, tmp_path, blender_python):
    srv = Server(tmp_path / "data", tiny_models)
    try:
        run_blender_script(
            "edit_trips.py",
            addon_zip,
            srv.url,
            SAMPLES,
            tmp_path / "report.json",
            tmp_path,
            user_dir=tmp_path / "blender-user",
            python=blender_python,
        )
    finally:
        srv.stop()
    rep = json.loads((tmp_path / "report.json").read_text())
    print(json.dumps({k: rep[k] for k in ("a", "compare", "delete_take", "trash")}, indent=1))
    assert rep["deprecations"] == []
    assert rep["startup"] == ["Camera", "Cube", "Light"]

    # Item 3: Compare shows exactly the chosen take and the preview, with another take above or below it.
    for case, got in rep["compare"].items():
        if case == "off":
            continue
        assert got["error"] is None and got["result"] == ["FINISHED"], (case, got)
        assert got["chosen"] < 0.02 and got["chosen"] * 4 < got["other"], (case, got)
        if case.startswith("SIDE_BY_SIDE"):
            assert got["preview_left"] < 0.02 and got["bands_max"] == 0.0, (case, got)
    assert rep["compare"]["off"]["same"], rep["compare"]["off"]  # Off: every strip exactly as before

    # Item 6: undo brings the take back with its folder, and it plays; redo deletes it again.
    d = rep["delete_take"]
    everything = {"in_list": True, "strip": True, "folder": True}
    assert d["before"] == everything
    assert d["deleted"]["result"] == ["FINISHED"] and d["deleted"] | {"result": 0, "error": 0} == {
        "result": 0,
        "error": 0,
        "in_list": False,
        "strip": False,
        "folder": False,
    }, d["deleted"]
    undone = d["undone"]
    assert {k: undone[k] for k in everything} == everything, undone
    assert undone["plays"] < 0.01, undone  # the edit shows the take's frame again
    assert not any("files deleted" in " ".join(row) for row in undone["rows"]), undone["rows"]
    assert d["redone"] == {"in_list": False, "strip": False, "folder": False}, d["redone"]
    assert d["undone_again"] == everything, d["undone_again"]

    # Item 7: the 25 fps shot plays at 25 fps in an edit of its rate, frame for frame; the 24 fps shot keeps its own.
    b = rep["b"]
    assert b["shot_fps"] == 25.0 and b["edit_fps"] == 25.0, b
    assert b["edit"] != b["a_edit"] and len(b["edits"]) == 2, b
    assert rep["a"]["edit_fps"] == 24.0
    st = b["strip"]
    assert st["start"] == b["shot_start"] and st["duration"] == 9 and st["fps"] == pytest.approx(25.0), st
    assert st["offset"] == [0, 0] and not st["retimed"], st
    count, fps, _ = probe_mp4(b["video"])
    assert count == 9 and fps == pytest.approx(25.0)
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(b["video"])
    meta = next(reader)
    w, h = meta["size"]
    decoded = [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]
    from PIL import Image

    for k, path in enumerate(b["rendered"]):
        img = np.asarray(Image.open(path).convert("RGBA"), np.float32) / 255.0
        index, nearest = _frame_index(decoded, img)
        assert index == k, (k, index, nearest)  # edit frame start + k shows the take's frame k
    said = " ".join(ln[len("label: ") :] for ln in b["panel_b"] if ln.startswith("label: "))
    assert "plays at 25 fps" in said, b["panel_b"]
    assert f"button: realcam.show_shot Edit: {b['edit']}" in b["panel_b"], b["panel_b"]
    assert f"button: realcam.show_shot Edit: {b['a_edit']}" in b["panel_a"], b["panel_a"]
    go = b["go_to_edit"]  # the Edit button: the window and, in 5.x, the Sequencer show the shot's edit
    assert go["result"] == ["FINISHED"] and go["window_scene"] == b["edit"], go
    assert go["sequencer_scene"] == (b["edit"] if go["blender"] >= [5, 0, 0] else None), go

    # A deleted shot: the panel's Delete shot removes its strips (one undo brings the shot, strips and files back);
    # Blender's own Delete Scene leaves them, and the edit's panel names them and removes them.
    g = rep["deleted_shot"]
    assert len(g["before"]) == 2, g  # its preview and its take
    dl = g["delete"]
    assert dl["error"] is None and not dl["shot"] and dl["strips"] == [] and dl["folders"] == [False, False], dl
    assert g["undone"] == {"shot": True, "strips": g["before"], "folders": [True, True]}, g["undone"]
    bd = g["blender_delete"]
    assert not bd["shot"] and bd["strips"] == g["before"], bd
    assert "of a shot that is gone" in " ".join(bd["panel"]), bd["panel"]
    assert "button: realcam.edit_remove_orphans Remove them" in bd["panel"], bd["panel"]
    rm = g["removed"]
    assert rm["error"] is None and rm["strips"] == [] and "that is gone" not in " ".join(rm["panel"]), rm
    assert g["removed_undone"]["strips"] == g["before"]

    # A take whose folder was deleted outside Blender says so in the list and in its details.
    missing = rep["missing"]
    assert "files deleted" in " ".join(missing["rows"][0]), missing["rows"]
    assert not any("files deleted" in " ".join(row) for row in missing["rows"][1:]), missing["rows"]
    assert "Its folder is gone" in " ".join(missing["panel"]), missing["panel"]

    # The trash holds a deleted take's files until the file is closed (another opened): then they are gone.
    tr = rep["trash"]
    assert tr["delete"][1] is None and len(tr["before_new_file"]) == 1, tr
    assert tr["after_new_file"] == ["not-ours"] and not tr["take_folder"], tr  # a crash's day-old leftovers go too
