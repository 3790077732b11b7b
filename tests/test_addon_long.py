"""Long shots, loops and transitions through the add-on in real Blender, from its default startup file, against a
real backend whose tiny model makes 17 frames at once."""

import json
import os

import numpy as np
import pytest
from helpers import REPORT, SAMPLES, Server, blender_report, probe_mp4


@pytest.mark.slow
def test_a_long_shot_a_loop_and_a_transition_from_the_default_startup_file(addon_zip, tiny_models, tmp_path):
    from PIL import Image

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.open(os.path.join(SAMPLES, "room.jpg")).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
        inputs / "room_flip.png"
    )
    depth = np.asarray(Image.open(os.path.join(SAMPLES, "room_depth.png")), np.float32) / 1000.0
    np.save(inputs / "room_flip_depth.npy", depth[:, ::-1].copy())
    srv = Server(tmp_path / "data", tiny_models, "--window-frames", "17")
    try:
        rep = blender_report(
            tmp_path, "addon_long.py", addon_zip, srv.url, SAMPLES, inputs, REPORT, tmp_path, timeout=3000
        )
    finally:
        srv.stop()
    assert rep["startup"] == ["Camera", "Cube", "Light"] and rep["deprecations"] == []
    assert rep["backend"]["error"] is None

    # A 240-frame shot: the panel says how it is made before Generate; one take, one strip, frame-exact at 24 fps.
    assert rep["long_import"] == {"frames": [1001, 1240], "fps": 24}
    panel = rep["long_panel"]
    assert any("long shot: 20 windows of 17 frames" in line for line in panel), panel
    long = rep["long"]
    assert long["error"] is None, long
    takes = [s for s in long["strips"] if s["kind"] == "take"]
    assert len(takes) == 1 and (takes[0]["start"], takes[0]["duration"], takes[0]["type"]) == (1001, 240, "MOVIE")
    folder = takes[0]["settings"]["take"]
    folder = folder if os.path.isabs(folder) else os.path.join(tmp_path, folder.lstrip("/"))
    count, fps, size = probe_mp4(os.path.join(folder, "video.mp4"))
    assert (count, size) == (240, (64, 64)) and fps == pytest.approx(24.0)
    result = json.loads(open(os.path.join(folder, "result.json")).read())
    w = result["windows"]
    assert (
        w["count"] == 20 and w["list"][0]["scene_frames"] == [1001, 1017] and w["list"][-1]["scene_frames"][1] == 1240
    )
    assert result["scene_frames"] == list(range(1001, 1241)) and len(w["seams"]) == 19

    # A loop: refused while the path is open, then closed by the add-on (last camera = first), made, held at its end.
    assert "Close the loop" in (rep["loop_open"]["error"] or ""), rep["loop_open"]
    assert rep["close_loop"]["error"] is None
    cams = rep["loop_cameras"]
    assert np.allclose(cams["first"], cams["last"], atol=1e-5)
    assert not np.allclose(cams["first"], cams["middle"], atol=1e-3)  # it still moves in between
    loop = rep["loop"]
    assert loop["error"] is None, loop
    take = [s for s in loop["strips"] if s["kind"] == "take"][0]
    assert take["settings"]["loop"] is True and take["duration"] == 33
    assert any("takes no last frame" in line for line in rep["loop_panel_open"]), rep["loop_panel_open"]

    # A transition from the loop shot to the long shot: both photos in its world, its camera keyed from one photo
    # to the other, refused while the second photo's placement and the camera's end disagree, and placed between
    # the two shots in the edit (the long shot's strips follow it).
    made = rep["transition_made"]
    assert made["error"] is None and made["frames"] == [1034, 1058], made
    assert len(made["instances"]) == 2  # the two photo collections, instanced
    moved = {s["kind"]: s["start"] for s in made["long_strips_after_make"]}
    assert moved["take"] == 1059  # the long shot now follows the transition
    assert "press Key the ends" in (rep["transition_stale"]["error"] or ""), rep["transition_stale"]
    assert rep["transition_ends"]["error"] is None
    assert np.allclose(rep["transition_end_camera"], rep["transition_b_photo"], atol=1e-4)
    t = rep["transition"]
    assert t["error"] is None, t
    take = [s for s in t["strips"] if s["kind"] == "take"][0]
    assert (take["start"], take["duration"]) == (1034, 25)
    assert take["settings"]["transition"] == {"from": rep["loop_name"], "to": rep["long_name"]}
    tfolder = take["settings"]["take"]
    tfolder = tfolder if os.path.isabs(tfolder) else os.path.join(tmp_path, tfolder.lstrip("/"))
    tres = json.loads(open(os.path.join(tfolder, "result.json")).read())
    assert tres["end"]["kind"] == "transition" and tres["end"]["how"] == "held" and tres["windows"]["count"] == 2
    psnr = rep["transition_preview_psnr"]  # both meshes rendered: each end shows its own photo
    assert psnr["first_vs_from"] > psnr["first_vs_to"] and psnr["last_vs_to"] > psnr["last_vs_from"], psnr
    loop_end = max(s["start"] + s["duration"] - 1 for s in rep["loop_strips_after_transition"])
    long_start = min(s["start"] for s in rep["long_strips_after_transition"])
    assert loop_end < take["start"] and take["start"] + take["duration"] == long_start  # A | transition | B
