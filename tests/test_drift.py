"""See the drift in real Blender (bpy 4.5, and 4.2/5.0 where set up): a take against its preview in the edit
(difference, blend, side by side, off) and the ghost camera on the artist's track; no backend needed."""

import numpy as np
from helpers import REPORT, SAMPLES, blender_report

from realcam.generate.video import write_mp4


def test_compare_strips_and_ghost_camera(addon_zip, tmp_path, blender_python):
    video = tmp_path / "take.mp4"
    write_mp4(str(video), np.random.default_rng(0).integers(0, 255, (5, 96, 128, 3), np.uint8), 24.0)
    rep = blender_report(tmp_path, "addon_drift.py", addon_zip, SAMPLES, video, REPORT, tmp_path, python=blender_python)
    panel = rep["panel"]  # the buttons under the selected take, each with its mode
    for text, mode in (("Difference", "DIFFERENCE"), ("Blend", "BLEND"), ("Side by side", "SIDE_BY_SIDE")):
        assert f"button: realcam.take_compare {text}" in panel and f"set: realcam.take_compare mode={mode!r}" in panel
    assert "button: realcam.take_ghost Ghost camera" in panel
    diff, blend, side, off = (rep[m] for m in ("DIFFERENCE", "BLEND", "SIDE_BY_SIDE", "OFF"))
    assert diff["error"] is None and diff["inputs"] == ["preview", "take"] and diff["blend"] == "DIFFERENCE"
    assert diff["span"][1] - diff["span"][0] == 5  # the whole take, no more
    assert blend["inputs"] == ["preview", "take"] and blend["fader"] == 0.5
    # one comparison at a time: switching mode replaces the effect strip
    assert sum(k == "compare" for _, k, _ in blend["strips"]) == 1
    assert not any(k == "compare" for _, k, _ in side["strips"])
    assert side["transforms"]["preview"][:2] == [0.5, -32.0] and side["transforms"]["take"][:2] == [0.5, 32.0]
    # Off: the strips exactly as before Compare
    assert off["strips"] == [s for s in diff["strips"] if s[1] != "compare"]
    assert off["transforms"] == diff["transforms"]
    # The ghost is a task: the button returns at once, the camera is read a frame per tick, then keyed.
    gi = rep["ghost_interactive"]
    assert gi["result"] == ["FINISHED"] and not gi["made_at_once"], gi
    assert gi["end"] == "done" and gi["task_error"] is None, gi
    reading = [s[1:] for s in gi["stages"] if s[0] == "reading your camera"]
    # a frame per step of the task, the count visible in the panel meanwhile
    assert reading == [[k, 5] for k in range(1, 6)], gi["stages"]
    assert "4 keyed frames" in gi["message"] and "your move's reach" in gi["message"], gi
    # The panel says which ghost the take has and how it was scaled.
    ghost_panel = "\n".join(rep["panel_ghost"])
    assert "Ghost take one ghost: 4 keyed frames" in ghost_panel, rep["panel_ghost"]
    assert "scaled to your move's reach" in ghost_panel, rep["panel_ghost"]
    # and the task's own line says what came of it, not a bare "done"
    assert any(ln.startswith("label: Ghost camera: take one ghost: 4 keyed frames") for ln in rep["panel_ghost"])
    g = rep["ghost"]
    assert g["count"] == 1, g  # made again: replaced, not doubled
    assert g["error"] is None and g["scaled_by"] == "requested track" and g["in_shot"], g
    assert g["scores"] == [0.01, 0.02, 0.03] and g["lens"][0] == g["lens"][1]
    # keyed at registered frames (0, 1, 3, 4): on the artist's camera there; frame 2 is interpolated
    for k in ("0", "1", "3", "4"):
        assert g["gaps"][k] < 1e-4 and g["angles"][k] < 0.01, (k, g)
    assert g["angles"]["2"] < 1.0, g  # interpolated the short way (quaternion keys)
    # A metric take made before a x2 scale calibration: the ghost follows the shot's metres now.
    cal = rep["calibrated"]
    assert cal["result"] == cal["ghost"] == ["FINISHED"] and cal["depth_scale"] == 2.0, cal
    assert cal["scaled_by"] == "metric" and cal["end_offset"] > 1.5, cal  # the dolly is 0.8 m before, 1.6 m after
    for k in ("0", "1", "3", "4"):
        assert cal["gaps"][k] < 1e-4 and cal["angles"][k] < 0.01, (k, cal)
    assert rep["no_scores"]["error"] and "Measure camera accuracy" in rep["no_scores"]["error"]
    # A deleted take leaves no ghost of itself behind (nor its camera data), and no comparison on its strip.
    gone = rep["delete"]
    assert gone["result"] == ["FINISHED"] and gone["ghosts"] == [] and not gone["ghost_data_left"], gone
    assert not any(k in ("take", "compare") for _, k, _ in gone["strips"]), gone
