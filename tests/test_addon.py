"""The add-on in real Blender (bpy 4.5, and 4.2 and 5.0 where set up), installed from its built zip, against a real
backend on loopback: the backend runs from this Python, each Blender from its own environment."""

import json
import os
import sys
import time

import numpy as np
import pytest
from helpers import REPORT, SAMPLES, Server, blender_report, free_port, probe_mp4

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
