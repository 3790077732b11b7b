"""The add-on in real Blender (bpy 4.5), installed from its built zip, against a real backend on loopback."""

import json
import os
import sys
import time

import numpy as np
import pytest
from helpers import SAMPLES, Server, free_port, run_blender_script

from realcam.generate.video import probe_mp4
from realcam_core.re10k import read_re10k


def test_zip_is_a_valid_extension(addon_zip):
    import zipfile

    names = zipfile.ZipFile(addon_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "realcam_core/bundle/schema.py" in names
    assert not any("__pycache__" in n for n in names)


def test_import_preset_preview_generate_and_re10k(addon_zip, tiny_models, tmp_path):
    srv = Server(tmp_path / "data", tiny_models)
    try:
        run_blender_script(
            "addon_flow.py",
            addon_zip,
            srv.url,
            "tiny",
            SAMPLES,
            tmp_path / "report.json",
            tmp_path,
            user_dir=tmp_path / "blender-user",
        )
    finally:
        srv.stop()
    rep = json.loads((tmp_path / "report.json").read_text())
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
    movies = [s for s in rep["strips"] if s["type"] == "MOVIE"]
    images = [s for s in rep["strips"] if s["type"] == "IMAGE"]
    assert len(movies) == 2 and len(images) >= 1
    assert sorted(s["name"].rsplit(" ", 1)[0] for s in movies) == ["room tiny s3", "room tiny s4"]
    assert len({s["channel"] for s in rep["strips"]}) == len(rep["strips"])  # each on its own channel
    for s in movies:
        assert s["start"] == 1 and s["duration"] == 9
        settings = json.loads(s["realcam"])
        assert settings["model"] == "tiny" and settings["frames"] == [1, 9] and settings["steps"] == 2
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


def test_refusals_are_clear_and_lose_nothing(addon_zip, tiny_models, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text(json.dumps({"_class_name": "WanImageToVideoPipeline"}))
    srv = Server(
        tmp_path / "data",
        tiny_models,
        "--model-dir",
        f"broken={broken}",
        "--depth-model-dir",
        f"tiny-depth={tiny_models['depth-anything']}",
    )
    try:
        run_blender_script(
            "addon_errors.py",
            addon_zip,
            srv.url,
            SAMPLES,
            tmp_path / "report.json",
            tmp_path,
            free_port(),
            user_dir=tmp_path / "blender-user",
        )
    finally:
        srv.stop()
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["backend_import"]["error"] is None
    assert {"image.png", "depth.npy", "intrinsics.json"} <= set(rep["backend_import"]["folder_files"])
    assert rep["first_take"]["error"] is None
    e = rep["errors"]
    expect = {
        "no_camera": "no active camera",
        "ortho": "orthographic",
        "pano": "panoramic",
        "still": "does not move",
        "too_long": "200 frames is longer than",
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
    assert set(before["objects"]) <= set(after["objects"])  # nothing removed


def test_embedded_backend_starts_is_reused_and_stops(addon_zip, tiny_models, tmp_path):
    port = free_port()
    command = (
        f"{sys.executable} -m realcam serve --data {tmp_path / 'embedded-data'} "
        f"--model-dir tiny={tiny_models['wan22-ti2v']}"
    )
    run_blender_script(
        "addon_embedded.py",
        addon_zip,
        f"http://127.0.0.1:{port}",
        command,
        SAMPLES,
        tmp_path / "report.json",
        tmp_path,
        user_dir=tmp_path / "blender-user",
    )
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["import"]["error"] is None and rep["import"]["backend_started"] is False  # a depth map needs none
    assert rep["generate1"] is None and rep["generate2"] is None
    pid1, pid2 = rep["pids"]
    assert pid1 is not None and pid1 == pid2  # started once, reused
    deadline = time.time() + 15
    while time.time() < deadline and os.path.exists(f"/proc/{pid1}"):
        time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid1}"), "the backend outlived Blender"
