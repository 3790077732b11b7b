"""The add-on's model choice in real Blender from the default startup file, against a real backend serving tiny models
under catalogue names: fitting the shot (size, 16 frames, MotionCtrl's lens, one undo step), the model lines,
camera scale, sampler, speed and Draft from the panel to bundle, result.json and the take."""

import json

import pytest
from helpers import SAMPLES, Server, free_port, run_blender_script

from realcam_core.camera_scale import CONVENTIONS
from realcam_core.models import DRAFT_VIDEO_MODEL, FASTWAN22_TI2V_5B


def said(lines) -> str:
    """What the panel's labels say, as one text (the panel wraps long lines over several labels)."""
    return " ".join(line[len("label: ") :] for line in lines if line.startswith("label: "))


def test_picking_models_fits_the_shot_and_every_setting_reaches_the_take(addon_zip, tiny_models, tmp_path):
    # The tiny MotionCtrl under its catalogue name where `realcam tiny-models` writes one (the backend wired the
    # camera into DynamiCrafter); else MotionCtrl's fit and checks run on the built-in spec and the take is made
    # with a tiny plain DynamiCrafter under another name.
    wired = "motionctrl-256" in tiny_models
    mc_take = "motionctrl-256" if wired else "tiny-dc"
    folders = {
        mc_take: tiny_models["motionctrl-256" if wired else "dynamicrafter-256"],
        DRAFT_VIDEO_MODEL: tiny_models["fastwan22-draft"],
        "wan2.2-fun-5b-camera": tiny_models["wan22-fun-camera"],
    }
    extra = [a for name, folder in folders.items() for a in ("--model-dir", f"{name}={folder}")]
    srv = Server(tmp_path / "data", tiny_models, *extra)
    try:
        run_blender_script(
            "addon_models.py",
            addon_zip,
            srv.url,
            SAMPLES,
            tmp_path / "report.json",
            mc_take,
            user_dir=tmp_path / "blender-user",
            timeout=1500,
        )
    finally:
        srv.stop()
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["deprecations"] == [] and rep["startup"] == ["Camera", "Cube", "Light"]
    assert rep["import"]["error"] is None
    assert rep["imported"]["size"] == [128, 96] and rep["imported"]["frames"] == [1, 8]

    # What the panel says of a DynamiCrafter camera model before anything runs, and of the shot that is not its.
    text = said(rep["lines_realcam"])
    for part in (
        "sizes 256x256",
        "always 16 frames (2.0 s) at 8 fps (a shorter shot is made that long and trimmed)",
        "download about 11.",
        "needs: DynamiCrafter 256x256 base weights (Doubiiu/DynamiCrafter); OpenCLIP ViT-H-14 tokenizer",
        "128x96 is not a size this model can make",
        CONVENTIONS["realcam-i2v"].panel_note,
        "Camera scale: the model's default, 1 per metre (trained on metric moves; upstream's app uses 0.5)",
    ):
        assert part in text, (part, text)
    assert "button: realcam.choose_model Fit shot to realcam-i2v-256" in rep["lines_realcam"]
    cat = rep["catalogue"]
    assert cat["realcam-i2v-256"].startswith("~11.") and "256x256, 16 frames, needs " in cat["realcam-i2v-256"]
    assert cat["wan2.2-ti2v-5b"] == "1280x704/704x1280, <= 121 frames"

    # The backend runs a folder under MotionCtrl's name: its limits are what the add-on fits the shot to (the
    # published model's 16 frames; a tiny test model may state fewer).
    assert rep["backend"]["error"] is None
    F = rep["mc_spec"]["frames"]
    assert rep["mc_spec"]["sizes"] == [[256, 256]] and F in (8, 16) and rep["items"].count("motionctrl-256") == 1

    # Picking MotionCtrl: 256x256, its frames, the photo again at that size, the lens MotionCtrl assumes.
    fit = rep["fit_mc"]
    assert fit["error"] is None and fit["message"].startswith(f"motionctrl-256: 256x256, {F} frames (1-{F}) at 24 fps")
    assert "imported again at 256x256" in fit["message"]
    mc = rep["after_mc"]
    assert mc["model"] == "motionctrl-256" and mc["size"] == [256, 256] and mc["frames"] == [1, F]
    assert mc["vertices"] == 256 * 256
    # Upstream's assumed lens: the 832x480 photo resized to cover 256x256 (443x256), 90 deg across: 221.5 px.
    assert rep["assumed_fx"] == pytest.approx(221.5) and mc["fx"] == pytest.approx(221.5, rel=1e-4)
    assert rep["photo_size"] == [0, 0]
    text = said(rep["lines_mc"])
    assert "Lens: the shot sees the photo at 221.5 px, the lens motionctrl-256 assumes" in text, text
    assert CONVENTIONS["motionctrl"].panel_note in text and f"motionctrl-256: 256x256, {F} frames (1-{F})" in text
    assert not any("Fit shot to" in line for line in rep["lines_mc"])
    assert rep["undo_mc"] == rep["imported"] and rep["redo_mc"] == mc  # one undo step, and back

    # Longer than the model makes at once: the panel says it is made in windows; nothing to fit.
    assert f"windows of {F} frames, each starting from the last 4 frames" in said(rep["lines_long"]), rep["lines_long"]
    assert not any("Fit shot to" in line for line in rep["lines_long"])
    # Another lens: refused with the way back; picking the model again sets it, without a re-import.
    assert rep["after_focal_changed"]["fx"] == pytest.approx(221.5 * 0.8, rel=1e-4)
    err = rep["generate_wrong_lens"]["error"]
    assert "motionctrl-256 is not told the lens" in err and "221.5 px" in err, err
    assert rep["fit_lens"]["error"] is None and "imported again" not in rep["fit_lens"]["message"]
    assert rep["after_fit_lens"]["fx"] == pytest.approx(221.5, rel=1e-4)
    assert rep["after_fit_lens"]["size"] == [256, 256] and rep["after_fit_lens"]["vertices"] == 256 * 256

    # The MotionCtrl take: the bundle's K is the assumed lens at every frame; scale and speed reach bundle and result.
    assert rep["generate_mc"]["error"] is None, rep["generate_mc"]
    t = rep["take_mc"]
    assert t["fx"] == pytest.approx([221.5] * F, rel=1e-4) and t["source"]["photo_size"] == [832, 480]
    assert t["source"]["photo"] == "room.jpg"  # its name, for the server's queue page; never its path
    s = t["settings"]
    assert s["model"] == mc_take and "sampler" not in s  # no sampler choice on this model: none sent
    # The camera scale reaches a model told the camera at a scale, and no other.
    assert s.get("camera_scale") == (0.5 if wired else None)
    assert s["speed"] == {"step_cache": "first-block", "cache_threshold": 0.1, "compile": False}
    res = t["result"]
    assert res["frames"] == res["generated_frames"] == F and (res["width"], res["height"]) == (256, 256)
    assert res["speed"]["step_cache"]["requested"] == "first-block" and res["speed"]["step_cache"]["threshold"] == 0.1
    assert t["strip"]["result"]["speed"] == res["speed"] and t["strip"].get("camera_scale") == s.get("camera_scale")
    assert t["summary"][1] == "1 step, guidance 7.5"
    if wired:  # the backend records how the camera entered: the panel's scale, MotionCtrl's assumed lens
        scale = res["camera_condition"]["scale"]
        assert scale["units_per_metre"] == 0.5 and scale["source"] == "setting"
        line = "camera scale 0.5 per metre (setting), lens assumed (upstream-90deg)"
        assert line in t["summary"], t["summary"]
    assert any(line.startswith("speed: step cache first-block at 0.1") for line in t["summary"]), t["summary"]

    # Draft: the draft model ran (its own 3 steps, guidance fixed), the shot kept its model, Load settings too.
    assert rep["generate_draft"]["error"] is None, rep["generate_draft"]
    d = rep["take_draft"]
    assert d["settings"]["model"] == DRAFT_VIDEO_MODEL and d["settings"]["steps"] is None
    assert d["settings"]["guidance"] is None
    assert d["result"]["model_name"] == FASTWAN22_TI2V_5B.name and d["result"]["steps"] == 3
    assert d["strip"]["draft"] is True and d["strip"]["shot_model"] == mc_take
    assert d["summary"][0].startswith(f"{DRAFT_VIDEO_MODEL} (draft), seed 7")
    cache = d["result"]["speed"]["step_cache"]
    assert cache["used"] is False and "not used: " + cache["reason"] in "\n".join(d["summary"])
    assert rep["model_after_draft"] == mc_take and rep["model_after_load_draft"] == mc_take
    assert rep["steps_guidance_after_load_draft"] == [1, 0.0]  # the draft's own 3 and 1 are not the shot's

    # The Fun camera model: its sampler and camera scale in the panel, the bundle and (wired) the result.
    assert "Camera scale 2 per metre (your setting; the model's default: " in said(rep["lines_fun"])
    assert rep["generate_fun"]["error"] is None, rep["generate_fun"]
    f = rep["take_fun"]
    assert f["settings"]["sampler"] == "unipc" and f["settings"]["camera_scale"] == 2.0
    assert f["result"].get("sampler", "unipc") == "unipc"  # recorded where the backend passes the sampler on
    fun_scale = f["result"]["camera_condition"].get("scale")
    if fun_scale is not None:
        assert fun_scale["units_per_metre"] == 2.0 and "camera scale 2 per metre (setting)" in f["summary"]
    else:
        assert "camera scale 2 per metre asked for (the backend did not say what it used)" in f["summary"]
    assert any(line == "sampler unipc" for line in f["summary"]), f["summary"]

    # Load settings puts back what made the MotionCtrl take, the defaults it ran with included.
    assert rep["loaded"] == {
        "model": mc_take,
        "camera_scale": 0.5 if wired else 0.0,
        "sampler": "DEFAULT",
        "step_cache": "first-block",
        "cache_threshold": 0.1,
        "compile": False,
        "steps": 1,
    }
    lines = rep["lines_draft_model"]
    assert f"label: Steps and guidance: fixed by {DRAFT_VIDEO_MODEL} (3 steps, guidance 1)" in lines, lines
    assert "distilled: 3 steps, guidance fixed at 1" in said(lines)
    assert not any(line.startswith("button: realcam.generate Draft") for line in lines)
    assert "set: realcam.generate draft=True" in rep["lines_after_mc"]


@pytest.mark.every_blender
def test_each_pick_is_one_undo_step_in_every_blender(addon_zip, tmp_path, blender_python):
    """No backend: the photo's own depth map; the 1280x704 pick re-imports at the default model's full size."""
    run_blender_script(
        "addon_model_fit.py",
        addon_zip,
        SAMPLES,
        tmp_path / "report.json",
        free_port(),
        user_dir=tmp_path / "blender-user",
        python=blender_python,
    )
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["import"] is None and rep["deprecations"] == []
    assert all(p["error"] is None for p in rep["picks"]), rep["picks"]
    start, dc, mc, back, wan = rep["states"]
    assert start["size"] == [128, 96] and start["frames"] == [1, 30] and start["vertices"] == 128 * 96
    # RealCam-I2V: 256x256, the shot's 30 frames kept (made in windows of 16), the photo's own lens at the new size.
    assert dc["model"] == "realcam-i2v-256" and dc["size"] == [256, 256] and dc["frames"] == [1, 30]
    assert dc["vertices"] == 256 * 256 and dc["fx"] == pytest.approx(start["fx"] * 256 / 96, rel=1e-4)
    assert "30 frames made as 3 windows of 16" in rep["picks"][0]["message"], rep["picks"][0]["message"]
    # MotionCtrl: same size, no re-import, its assumed lens through the focal fix; the imported lens is kept.
    assert (
        mc["size"] == [256, 256] and mc["vertices"] == 256 * 256 and "imported again" not in rep["picks"][1]["message"]
    )
    assert mc["fx"] == pytest.approx(221.5, rel=1e-4) and mc["imported_fx"] == dc["imported_fx"]
    assert "Lens: the shot sees the photo at 221.5 px, the lens motionctrl-256 assumes" in " ".join(
        line[len("label: ") :] for line in rep["panel_mc"] if line.startswith("label: ")
    )
    # Back to a model told the lens: the photo's own focal again (the one MotionCtrl assumed was not the artist's).
    assert (
        back["fx"] == pytest.approx(dc["fx"], rel=1e-4)
        and "focal back to the photo's own" in rep["picks"][2]["message"]
    )
    # The default model: its native 1280x704 for the photo's aspect; the 30 frames, kept.
    assert wan["size"] == [1280, 704] and wan["frames"] == [1, 30] and wan["vertices"] == 1280 * 704
    # Each pick one undo step, in reverse.
    assert rep["undone"] == [back, mc, dc, start]
