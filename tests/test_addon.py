"""The add-on in real Blender (bpy 4.5, and 4.2 and 5.0 where set up), installed from its built zip, against a real
backend on loopback: the backend runs from this Python, each Blender from its own environment."""

import json
import os
import sys
import time

import numpy as np
import pytest
from helpers import REPORT, SAMPLES, Server, blender_report, free_port, probe_mp4

from realcam_core.models import DEFAULT_VIDEO_MODEL, KNOWN_VIDEO_MODELS
from realcam_core.re10k import read_re10k


def test_zip_is_a_valid_extension(addon_zip):
    import zipfile

    names = zipfile.ZipFile(addon_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "realcam_core/bundle/types.py" in names
    assert not any("__pycache__" in n for n in names)


def test_import_preset_preview_generate_and_re10k(addon_zip, tiny_models, tmp_path, blender_python):
    with Server(tmp_path / "data", tiny_models) as srv:
        rep = blender_report(
            tmp_path, "addon_flow.py", addon_zip, srv.url, "tiny", SAMPLES, REPORT, tmp_path, python=blender_python
        )
    assert rep["deprecations"] == []  # nothing the add-on calls is on its way out of Blender
    imp = rep["import"]
    assert imp["error"] is None and imp["resolution"] == [128, 96] and imp["fps"] == 24.0
    assert imp["frames"] == [1, 9] and imp["mesh_vertices"] == 128 * 96
    # The sample's true median depth, and its 24 mm lens after cropping 832x480 to the 4:3 frame.
    assert 4.5 < imp["median_depth"] < 7.0
    assert imp["lens"] == pytest.approx(24.0 * (832 / 480) / (128 / 96), rel=1e-4)
    # The unmoved camera reproduces the photo.
    assert rep["psnr"] >= 30.0, rep["psnr"]
    assert rep["covered_fraction"] > 0.9
    assert "does not move" in rep["still_generate"]["error"]
    assert rep["preset_moved"][1] > 1.0  # dolly in along +Y
    assert rep["generate1"]["error"] is None and rep["generate2"]["error"] is None
    # 5.x shows the workspace's sequencer scene (none in a new file): the add-on points it at the scene.
    assert rep["sequencer_scene"] == (rep["edit"] if rep["blender"] >= [5, 0, 0] else None)
    movies = [s for s in rep["strips"] if s["type"] == "MOVIE"]
    images = [s for s in rep["strips"] if s["type"] == "IMAGE"]
    assert len(movies) == 2 and len(images) >= 1
    assert sorted(s["name"].rsplit(" ", 1)[0] for s in movies) == ["room tiny s3", "room tiny s4"]
    assert len({s["channel"] for s in rep["strips"]}) == len(rep["strips"])  # each on its own channel
    for s in movies:
        assert s["start"] == 1 and s["duration"] == 9
        settings = json.loads(s["realcam"])
        assert settings["model"] == "tiny" and settings["frames"] == [1, 9] and settings["steps"] == 2
        assert settings["camera_condition"] is (settings["seed"] == 3)
        assert settings["evaluate"] is False and settings["seed"] == int(s["name"].split(" s")[1].split()[0])
        count, fps, size = probe_mp4(os.path.join(settings["take"], "video.mp4"))
        assert (count, size) == (9, (128, 96)) and fps == pytest.approx(24.0)
    a, b = read_re10k(rep["re10k"]["first"]), read_re10k(rep["re10k"]["second"])
    assert len(a.frames) == len(b.frames) == 9
    for fa, fb in zip(a.frames, b.frames, strict=True):
        assert np.allclose(fa.w2c, fb.w2c, atol=1e-5)
        assert np.allclose([fa.fx, fa.fy, fa.cx, fa.cy], [fb.fx, fb.fy, fb.cx, fb.cy], atol=1e-6)
    assert not np.allclose(a.frames[-1].w2c, a.frames[0].w2c)
    # A parent moving 1 m along Blender +X (the reference camera's OpenCV +x) and a lens going to twice its
    # length both show in the track read from Blender.
    c = read_re10k(rep["re10k"]["rigged"])
    shift = c.frames[-1].c2w()[:3, 3] - b.frames[-1].c2w()[:3, 3]
    assert np.allclose(shift, [1.0, 0.0, 0.0], atol=1e-4), shift
    assert np.allclose(c.frames[0].c2w(), b.frames[0].c2w(), atol=1e-6)
    assert c.frames[-1].fx == pytest.approx(2 * c.frames[0].fx, rel=1e-5)
    assert (tmp_path / "flow.blend").exists()


def test_an_artists_session_from_the_default_startup_file(addon_zip, tiny_models, tmp_path, blender_python):
    """Default startup file, interactive (timer) path, undo, isolation, F12, panel -> bundle -> result -> strip."""
    with Server(tmp_path / "data", tiny_models) as srv:
        rep = blender_report(
            tmp_path,
            "addon_artist.py",
            addon_zip,
            srv.url,
            SAMPLES,
            REPORT,
            tmp_path,
            free_port(),
            python=blender_python,
        )
    assert rep["deprecations"] == []
    assert rep["startup"] == ["Camera", "Cube", "Light"]
    # The panel as Blender's editors lay one out: sub-panels of the main one in the order of the work, registered
    # in this Blender; the rarely used ones start closed.
    assert rep["sub_panels"] == [
        ["Shot", "REALCAM_PT_main", False, True],
        ["Scene fixes", "REALCAM_PT_main", True, True],
        ["Camera move", "REALCAM_PT_main", False, True],
        ["Generate", "REALCAM_PT_main", False, True],
        ["Takes", "REALCAM_PT_main", False, True],
        ["Drift", "REALCAM_PT_main", True, True],
    ], rep["sub_panels"]
    btn = rep["import_button"]  # the panel's import options, handed to the button that opens the file browser
    assert btn == {
        "width": 128,
        "height": 96,
        "frames": 9,
        "focal_px": btn["focal_px"],
        "depth_model": "",
        "depth_map": btn["depth_map"],
    }
    assert btn["focal_px"] > 0 and btn["depth_map"].endswith("room_depth.png"), btn
    assert "label: Backend not checked yet" in rep["import_panel"] and "label: Models: " not in rep["import_panel"]
    imp = rep["import"]
    assert imp["error"] is None and imp["returned_while_running"], imp  # the GUI path: the timer built the shot
    shot = rep["shot"]
    assert shot["is_shot"] and shot["frames"] == [1, 9] and shot["resolution"] == [128, 96] and shot["edit"]
    assert shot["lens"] == pytest.approx(24.0 * (832 / 480) / (128 / 96), rel=1e-4)  # the panel's focal reached it
    assert "Cube" not in shot["objects"] and len(shot["objects"]) == 2  # the photo's mesh and camera, nothing else
    # The artist's scene is as it was: settings, camera, objects, no strips.
    src = rep["source_after"]
    assert {k: src[k] for k in rep["source_before"]} == rep["source_before"]
    assert src["objects"] == ["Camera", "Cube", "Light"] and src["strips"] == 0
    # The cube at the camera's position is not in the preview (it was: 7.8 dB).
    assert rep["psnr"] >= 30.0 and rep["covered"] > 0.9, (rep["psnr"], rep["covered"])
    assert rep["state_after_preview"] == "current"
    assert "label: Preview up to date" in rep["panel_after_preview"], rep["panel_after_preview"]
    assert "label: Preview out of date: Generate renders it again" in rep["panel_after_preset"]
    # A second preview replaces the first strip, on the same channel.
    assert len(rep["preview_strips"]) == 1, rep["preview_strips"]
    assert rep["preview1"]["error"] is None and rep["preview2"]["error"] is None
    assert rep["preset"] == ["FINISHED"]
    # Backend and model: nothing asked yet; nothing answering (the built-in models); the backend's models and device.
    be = rep["backend"]
    # Not checked with Test connection, but the import asked the backend for the tiny model's limits: the panel
    # says it answers (issue 25: it said "not checked yet" after work went through it).
    assert any(ln.startswith("label: Backend ") and "answers at" in ln for ln in be["panel_unchecked"]), be
    assert "button: realcam.backend_status Start" in be["panel_unchecked"]
    assert "button: realcam.backend_status Test connection" in be["panel_unchecked"]
    assert be["down"]["error"] is None and be["down"]["stage"] == "done", be["down"]  # a result, not a failure
    assert any(line.startswith("label: Backend does not answer") for line in be["panel_down"]), be["panel_down"]
    assert "label: Models: built-in list (no backend answered yet)" in be["panel_down"]
    builtin = [m.alias for m in KNOWN_VIDEO_MODELS]  # the catalogue's order, default first
    assert builtin[0] == DEFAULT_VIDEO_MODEL
    assert be["items_down"] == builtin + ["tiny"]  # the shot's own model stays selectable
    assert be["up"]["error"] is None and be["items_up"][: len(builtin)] == builtin and "tiny" in be["items_up"]
    assert be["device_info"]["device"] == "cpu"
    up = be["panel_up"]
    assert any(line.startswith("label: Backend ") and "answers at" in line for line in up), up
    assert any(line.startswith("label: on CPU (") for line in up), up
    assert be["model_after_choice"] == "wan2.2-ti2v-5b"  # dropdown -> the shot's model
    for line in (
        "sizes 1280x704 or 704x1280",
        "121 frames at once (5.0 s) at 24 fps, counts 4k+1",
        "licence: Apache-2.0",
    ):
        assert f"label: {line}" in up, (line, up)
    assert "label: Models: offered by the backend" in up
    assert "label: 0 = wan2.2-ti2v-5b's defaults: 50 steps, guidance 5" in up
    assert rep["model_before_generate"] == "tiny"
    # Prompt and seeds: a text of the file holds the multi-line prompt; Next and Random change the seed.
    assert rep["prompt_text_initial"] == "a quiet room"
    assert "label: the light moves slowly over the floor" in rep["panel_settings"]
    assert (
        "button: realcam.seed Random" in rep["panel_settings"] and "button: realcam.seed Next" in rep["panel_settings"]
    )
    assert rep["seed_next"] == 6 and rep["seed_random"] != 6 and 0 <= rep["seed_random"] < 2**31
    # Every panel setting reaches the bundle, the result and the strip.
    assert rep["generate1"]["error"] is None and rep["generate1"]["returned_while_running"], rep["generate1"]
    t1, panel = rep["take1"], rep["panel"]
    man, res, strip = t1["manifest"], t1["result"], t1["strip"]
    for key in ("model", "prompt", "negative_prompt", "seed", "steps", "guidance", "evaluate", "camera_condition"):
        assert man[key] == panel[key] and strip[key] == panel[key], key
    assert man["sns"] == strip["sns"] == {"enabled": panel["sns_enabled"], "threshold": panel["sns_threshold"]}
    for key in ("prompt", "negative_prompt", "seed", "steps", "guidance"):
        assert res[key] == panel[key], key
    assert res["sns"]["enabled"] is True and res["sns"]["threshold"] == 0.75
    assert res["camera_condition"]["requested"] is False  # the panel's "Camera condition", off
    assert res["camera_accuracy"] and strip["camera_accuracy"] == res["camera_accuracy"]  # measured: asked for
    assert strip["frames"] == [1, 9] and not t1["job_id_after"]
    assert t1["name"].startswith("room tiny s5 ") and "video.mp4" in t1["files"] and "bundle" in t1["files"]
    assert "bundle.zip" not in t1["files"]
    # F12: the shot renders the photo's scene, not the take; the edit renders the take.
    f12 = rep["f12"]
    assert f12["shot_strips"] == 0 and f12["source_strips"] == 0
    assert f12["shot_vs_photo"] > 0.8 and f12["shot_vs_photo"] > f12["shot_vs_take"] + 0.3, f12
    assert f12["edit_vs_take"] > 0.9 and f12["edit_vs_take"] > f12["edit_vs_photo"] + 0.3, f12
    # Undo: generate, preset, second preview, first preview, import: one step each.
    u = rep["undo"]
    assert u[0]["shot"] and u[0]["takes"] == 0 and u[0]["movie_strips"] == 0 and u[0]["camera_animated"], u[0]
    assert u[1]["shot"] and not u[1]["camera_animated"] and u[1]["preview_strips"] == 1, u[1]
    assert u[2]["shot"] and u[2]["preview_strips"] == 1, u[2]
    assert u[3]["shot"] and u[3]["preview_strips"] == 0, u[3]
    assert not u[4]["shot"] and u[4]["window_scene"] == "Scene", u[4]
    assert rep["redo"]["takes"] == 1 and rep["redo"]["movie_strips"] == 1
    assert rep["redo"]["window_scene"] == shot["name"]
    d = rep["undo_during_job"]
    assert d["error"] is None and d["stage"] == "done" and not d["job_id_after"], d
    assert len(d["takes"]) == 2 and len(d["movie_strips"]) == 2 and len(set(d["movie_strips"])) == 2
    a, b = rep["same_second_names"]
    assert a != b and a.startswith("room tiny s6 ") and b.startswith("room tiny s6 ") and b.endswith(")")
    c = rep["cancelled"]
    assert c["stage"] == "cancelled" and c["error"] is None and not c["take_folder_exists"], c
    assert c["strips_same"] and not c["job_id_after"] and c["backend_job"] == 404, c
    f = rep["failed_import"]
    assert f["error"] and f["left_nothing"], f
    # Camera moves: a small dolly's preview covers the frame (no warning); dolly 1 m over frames 1-5, pan 10
    # degrees over the shot and crane 0.5 m over 0.25 s (6 frames) combine into ordinary keys; the panel shows
    # their extent; a 6 m truck's last frame sees little of the photo's scene and the panel warns.
    small = rep["small_dolly"]
    assert small["coverage"] > 0.9 and small["extent"]["net_m"] == pytest.approx(0.5, abs=1e-3), small
    assert not any("sees only" in line for line in small["panel"]), small["panel"]
    assert any("Last frame sees" in line for line in small["panel"]), small["panel"]
    comb = rep["combined"]
    pose = {int(f): np.array(m) for f, m in comb["poses"].items()}
    start = np.array(comb["start"])
    forward, up = -start[:3, 2], np.array([0.0, 0.0, 1.0])
    assert np.allclose(pose[1], start, atol=1e-5)
    assert np.allclose(pose[9][:3, 3] - start[:3, 3], forward * 1.0 + up * 0.5, atol=1e-4), pose[9]
    assert np.allclose(pose[7][:3, 3], pose[9][:3, 3], atol=1e-5)  # dolly and crane done by frame 7: held
    d59 = pose[9][:3, 3] - pose[5][:3, 3]
    assert np.allclose(d59[:2], 0.0, atol=1e-5) and d59[2] > 0.01  # dolly done at 5, the crane still rising
    assert comb["keys"] == [1.0, 5.0, 7.0, 9.0]
    ext = comb["extent"]
    assert ext["net_m"] == pytest.approx(np.hypot(1.0, 0.5), abs=1e-3) and ext["path_m"] >= ext["net_m"] - 1e-9
    assert ext["net_turn_deg"] == pytest.approx(10.0, abs=1e-3) and ext["turn_deg"] == pytest.approx(10.0, abs=1e-3)
    assert any("path" in line and "m (net 1.12 m)" in line and "10.0°" in line for line in comb["panel"]), comb
    big = rep["large_truck"]
    assert big["error"] is None and big["coverage"] < 0.6 and big["extent"]["net_m"] == pytest.approx(6.0, abs=1e-3)
    assert any("sees only" in line for line in big["panel"]), big["panel"]
    e = rep["depth_edge"]
    assert e["default"] == pytest.approx(5.0) and e["faces"][1] > e["faces"][0] > e["faces"][2], e
    assert len(set(e["verts"])) == 1 and e["same_object"] and e["colours"] and e["state"] == "stale", e
    assert len(e["meshes"]) == 1, e["meshes"]  # the replaced mesh is gone
    fs = rep["first_save"]
    assert all(p.startswith("//realcam/") for p in fs["stored"] + fs["strips"]), fs
    assert all(p.startswith(fs["project"]) for p in fs["resolved"]) and all(fs["exist"]) and all(fs["videos"])
    # Takes: listed with model, seed, time and scores; settings load back; the folder opens; delete asks first and
    # then removes that take's strip and folder only.
    tk = rep["takes"]
    first, second = tk["names"]
    assert any(line.startswith("label: Takes (2)") for line in tk["panel"]), tk["panel"]
    head, ran, scores, prompt = tk["summary"]
    assert head.startswith("tiny, seed 5, 20") and prompt == "prompt: a quiet room ..."
    assert ran == "2 steps, guidance 3.5"  # how it ran, from its result.json
    acc = rep["take1"]["strip"]["camera_accuracy"]  # noise from the tiny model: COLMAP may find no camera in it
    expect = f"camera accuracy not measured: {acc['error']}" if "error" in acc else f"RotErr {acc['RotErr']:.3f}"
    assert scores.startswith(expect), (scores, acc)
    assert f"label: {head}" in tk["panel"] and "button: realcam.take_delete Delete" in tk["panel"]
    assert tk["load"] == ["FINISHED"]
    assert tk["loaded"] == panel
    assert tk["open"] == ["FINISHED"] and tk["opened"] == tk["folder"]
    res, err = tk["unconfirmed"]
    assert res == ["CANCELLED"] and "removes its files once the file is closed" in err, tk["unconfirmed"]
    assert tk["after_unconfirmed"] == {"takes": 2, "folder": True}, tk  # not confirmed: nothing deleted
    assert tk["delete"] == ["FINISHED"]
    after, before = tk["after"], tk["before"]
    assert after["takes"] == [second] and after["folders"] == [False, True] and after["scene_folder"]
    assert after["strips"] == [n for n in before["strips"] if n != first]


def test_photo_inputs_exr_exif_and_refusals(addon_zip, tmp_path, blender_python):
    """EXR colour, EXIF orientation and focal, width without height, 8-bit depth, unique folders; no backend."""
    import OpenEXR
    from PIL import ExifTags, Image

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    photo = np.asarray(Image.open(os.path.join(SAMPLES, "room.jpg")).convert("RGB"))
    s = photo.astype(np.float32) / 255.0
    linear = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4).astype(np.float32)
    scan = {"type": OpenEXR.scanlineimage, "compression": OpenEXR.ZIP_COMPRESSION}
    channels = {c: np.ascontiguousarray(linear[..., i]) for i, c in enumerate("RGB")}
    OpenEXR.File(scan, channels).write(str(inputs / "room_linear.exr"))
    turned = Image.fromarray(np.ascontiguousarray(np.rot90(photo, 1)))  # shown upright with orientation 6
    e = turned.getexif()
    e[ExifTags.Base.Orientation] = 6
    turned.save(inputs / "room_rot6.jpg", quality=97, exif=e)
    e = Image.new("RGB", (1, 1)).getexif()
    e.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.FocalLengthIn35mmFilm] = 28
    Image.fromarray(photo).save(inputs / "room_exif28.jpg", quality=97, exif=e)
    Image.fromarray(np.full((480, 832), 40, np.uint8)).save(inputs / "depth8.png")
    rep = blender_report(
        tmp_path, "addon_inputs.py", addon_zip, SAMPLES, inputs, REPORT, tmp_path, python=blender_python
    )
    jpeg = np.load(tmp_path / "jpeg.npy")
    for key in ("jpeg", "exr", "rot6"):
        assert rep[key]["error"] is None, rep[key]
    # The EXR comes out as the JPEG does (read raw, its linear values made it far too dark).
    exr = np.load(tmp_path / "exr.npy")
    assert abs(float(exr.mean()) - float(jpeg.mean())) < 2 / 255, (exr.mean(), jpeg.mean())
    assert float(np.abs(exr - jpeg).mean()) < 2 / 255
    # The EXIF-turned photo is imported upright: the same picture as the sample.
    rot = np.load(tmp_path / "rot6.npy")
    mse = float(((rot - jpeg) ** 2).mean())
    assert 10 * np.log10(1.0 / mse) > 30, mse
    assert rep["rot6"]["intrinsics"]["exif_orientation"] == 6
    # No focal given: the EXIF 35 mm equivalent, on the photo's diagonal, as the backend reads it.
    K = rep["exif28"]["intrinsics"]
    w, h = photo.shape[1], photo.shape[0]
    scale = max(128 / w, 96 / h)
    expected = 28 * (w * w + h * h) ** 0.5 / (36**2 + 24**2) ** 0.5 * scale
    assert K["focal_source"] == "exif" and K["fx"] == pytest.approx(expected, rel=1e-6)
    assert "needs both width and height" in rep["width_only"]["error"]
    assert "16-bit grayscale" in rep["depth8"]["error"] and "8-bit" in rep["depth8"]["error"]
    assert rep["refusals_left_nothing"]
    folders = rep["three_folders"]
    assert len(set(folders)) == 3 and all(os.path.isdir(f) for f in folders)
    assert rep["same_name"] == ["room-20250101-000000", "room-20250101-000000-2", "room-20250101-000000-3"]


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


def test_refusals_are_clear_and_lose_nothing(addon_zip, tiny_models, tmp_path, blender_python):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text(json.dumps({"_class_name": "WanImageToVideoPipeline"}))
    with Server(
        tmp_path / "data",
        tiny_models,
        "--model-dir",
        f"broken={broken}",
        "--depth-model-dir",
        f"tiny-depth={tiny_models['depth-anything']}",
    ) as srv:
        rep = blender_report(
            tmp_path,
            "addon_errors.py",
            addon_zip,
            srv.url,
            SAMPLES,
            REPORT,
            tmp_path,
            free_port(),
            python=blender_python,
        )
    assert rep["backend_import"]["error"] is None
    assert {"image.png", "depth.npy", "intrinsics.json"} <= set(rep["backend_import"]["folder_files"])
    assert rep["first_take"]["error"] is None
    e = rep["errors"]
    expect = {
        "no_camera": "no active camera",
        "ortho": "orthographic",
        "pano": "panoramic",
        "still": "does not move",
        "open_loop": "Close the loop",
        "unreachable": "no backend answers at http://127.0.0.1:",
        "incompatible": "install matching versions",
        "job_failed": "the backend could not make the video",
        "photo_refused": "the backend refused the photo",
    }
    for key, words in expect.items():
        assert e[key]["result"] == ["CANCELLED"], (key, e[key])
        assert words in (e[key]["error"] or ""), (key, e[key])
    before, after = rep["before"], rep["after"]
    assert after["strips"] == before["strips"]  # the earlier take and preview are still there
    assert (after["frames"], after["camera"]) == (before["frames"], before["camera"])
    assert after["take_folders"] == before["take_folders"]  # failed takes leave no folder
    assert set(before["objects"]) <= set(after["objects"])  # nothing removed


def test_preview_gives_back_every_render_setting(addon_zip, tmp_path, blender_python):
    """Video, multilayer EXR, 32-bit EXR, 16-bit PNG, Cycles JPEG outputs: the preview swaps them and puts them back."""
    rep = blender_report(tmp_path, "preview_settings.py", addon_zip, REPORT, python=blender_python)
    refused = rep.pop("refused")
    assert "NO_SUCH_MODE" in refused["error"] and refused["not_restored"] == {}, refused
    for case, entry in rep.items():
        assert entry["error"] is None, (case, entry["error"])
        assert entry["applied"][1:] == ["PNG", "RGBA", "8"], (case, entry["applied"])
        assert entry["not_restored"] == {}, (case, entry["not_restored"])


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


def test_embedded_backend_starts_is_reused_and_stops(addon_zip, tiny_models, tmp_path, blender_python):
    port = free_port()
    command = (
        f"{sys.executable} -m realcam serve --data {tmp_path / 'embedded-data'} "
        f"--model-dir tiny={tiny_models['wan22-ti2v']}"
    )
    rep = blender_report(
        tmp_path,
        "addon_embedded.py",
        addon_zip,
        f"http://127.0.0.1:{port}",
        command,
        SAMPLES,
        REPORT,
        tmp_path,
        python=blender_python,
    )
    assert rep["import"]["error"] is None and rep["import"]["backend_started"] is False  # a depth map needs none
    st = rep["start"]
    assert st["result"] == ["FINISHED"] and st["error"] is None and st["state"] == "ok", st
    assert st["device"] == "cpu" and "tiny" in st["models"] and st["pid"] is not None
    assert any(line.startswith("label: on CPU (") for line in st["panel"]), st["panel"]
    assert rep["generate1"] is None and rep["generate2"] is None
    pid1, pid2 = rep["pids"]
    assert pid1 == st["pid"]  # the backend Start started is the one generate uses
    assert pid1 is not None and pid1 == pid2  # started once, reused
    deadline = time.time() + 15
    while time.time() < deadline and os.path.exists(f"/proc/{pid1}"):
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid1}"), "the backend outlived Blender"
