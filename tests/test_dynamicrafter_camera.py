"""The paper's table, live: DynamiCrafter, MotionCtrl, CameraCtrl, CamI2V and RealCam-I2V from their published
layouts (tiny random weights), each told the camera at the scale and in the convention it was trained on.

End to end through the CLI (result.json names the model, the shaped steps, the camera condition and its scale),
in-process through the engine (camera on/off, the scale setting, both guidance passes), and the loader's
strictness on camera files (a layout mismatch names the keys)."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest
import torch
from helpers import make_bundle, run_cli, set_settings
from safetensors.torch import load_file, save_file

from realcam.errors import UserError
from realcam.generate.adapters import resolve_video_model
from realcam.generate.engine import Engine

TABLE = ["dynamicrafter-256", "motionctrl-256", "cameractrl-256", "cami2v-256", "realcam-i2v-256"]
CAMERA = {"dynamicrafter-256": "", "motionctrl-256": "motionctrl", "cameractrl-256": "cameractrl"}
CAMERA |= {"cami2v-256": "cami2v", "realcam-i2v-256": "realcam-i2v"}
FAST = "realcam-i2v-256"  # the paper's own model stays in the quick set


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors on a shared 2-core machine: a second intra-op thread only waits (see the CLI test)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def frames_of(folder):
    from PIL import Image

    names = sorted(os.listdir(os.path.join(folder, "frames")))
    return np.stack([np.asarray(Image.open(os.path.join(folder, "frames", n))) for n in names])


def job(tmp_path, folder, name="job", w=64, h=64, **settings):
    make_bundle(tmp_path / name, n=7, w=w, h=h, model=folder)
    set_settings(tmp_path / name, steps=settings.pop("steps", 2), **settings)
    return tmp_path / name


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n == FAST else [pytest.mark.slow]) for n in TABLE])
def test_each_row_of_the_papers_table_runs_end_to_end_from_the_cli(name, tiny_models, tmp_path):
    folder = tiny_models[name]
    bundle = job(tmp_path, folder)
    t = time.perf_counter()
    # One intra-op thread: on a shared 2-core machine a second one waits on the other helpers' processes at every
    # tiny op (measured: denoising 8x slower with two); the product's own thread count is not the point here.
    r = run_cli("generate", bundle, "--out", tmp_path / "take", env_extra={"OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "take/result.json").read_text())
    print(f"{name}: {wall:.1f} s end to end, {res['timings']['total_s']:.1f} s in the engine")
    camera = CAMERA[name]
    assert res["model"] == folder and res["model_name"].endswith("(local)") == bool(camera)
    assert res["generated_frames"] == 8 and res["frames"] == 7 and res["steps"] == 2
    assert res["sns"]["shaped_steps"] == [0]  # 2 trailing steps: t = 999, 499; only 999 >= 900
    cc = res["camera_condition"]
    assert cc["requested"] and cc["model_has_it"] == cc["used"] == bool(camera)
    assert len(os.listdir(tmp_path / "take/frames")) == 7
    if not camera:
        assert set(cc) == {"requested", "model_has_it", "used"}
        return
    assert "camera condition on" in r.stdout
    assert cc["model"] == camera and cc["scale"]["family"] == camera
    if camera == "realcam-i2v":  # trained on metric moves: metres enter as they are
        assert cc["scale"]["units_per_metre"] == 1.0 and cc["scale"]["source"] == "trained metric"
        assert cc["scale"]["upstream_inference_scale"] == 0.5  # upstream's app slider, recorded
        assert cc["reach_units"] == pytest.approx(0.6)  # make_bundle's dolly: 0.1 m per frame, 7 frames
    else:  # RealEstate10K units: the photo's near depth (3 m in make_bundle's depth map) is one unit
        assert cc["scale"]["source"] == "photo depth" and cc["scale"]["near_depth_m"] == pytest.approx(3.0)
        assert cc["reach_units"] == pytest.approx(0.2)
    if camera == "motionctrl":  # told no lens: upstream's 90 degrees, beside the bundle's
        assert cc["intrinsics"] == "upstream-90deg" and cc["intrinsics_used"] == [32.0, 32.0, 32.0, 32.0]
        assert cc["bundle_matches_assumed_lens"] is True
    else:
        assert cc["intrinsics"] == "bundle" and cc["intrinsics_used"] == [32.0, 32.0, 32.0, 32.0]
    if camera in ("cami2v", "realcam-i2v"):
        assert cc["epipolar_strides"] == [8, 16]


@pytest.mark.slow
def test_the_512_model_has_no_epipolar_mask_at_its_finest_level(tiny_models, tmp_path):
    """RealCam-I2V 512 (v-prediction, zero SNR): masks at the coarser strides only, full attention at /8."""
    bundle = job(tmp_path, tiny_models["realcam-i2v-512"], w=128, h=64)
    res = Engine().run(bundle, tmp_path / "take")
    cc = res["camera_condition"]
    assert cc["used"] and cc["epipolar_strides"] == [16] and cc["scale"]["source"] == "trained metric"
    assert res["sns"]["shaped_steps"] == [0] and res["model_name"] == "RealCam-I2V 512 (local)"


@pytest.mark.slow
def test_the_camera_steers_the_video_and_the_setting_turns_it_off_or_scales_it(tiny_models, tmp_path):
    engine = Engine()
    bundle = job(tmp_path, tiny_models["cameractrl-256"], sns_enabled=False)
    on = engine.run(bundle, tmp_path / "on")
    assert on["camera_condition"]["used"] and on["camera_condition"]["scale"]["units_per_metre"] == pytest.approx(1 / 3)
    set_settings(bundle, camera_condition=False)
    off = engine.run(bundle, tmp_path / "off")
    assert off["camera_condition"] == {"requested": False, "model_has_it": True, "used": False}
    assert not np.array_equal(frames_of(tmp_path / "on"), frames_of(tmp_path / "off"))
    set_settings(bundle, camera_condition=True, camera_scale=1.5)
    scaled = engine.run(bundle, tmp_path / "scaled")
    s = scaled["camera_condition"]["scale"]
    assert s["source"] == "setting" and s["units_per_metre"] == 1.5
    assert scaled["camera_condition"]["reach_units"] == pytest.approx(0.9)
    assert not np.array_equal(frames_of(tmp_path / "scaled"), frames_of(tmp_path / "on"))
    os.remove(os.path.join(bundle, "depth.npy"))  # without a depth map: metres taken as units, and said so
    data = json.loads((bundle / "manifest.json").read_text())
    data["depth"], data["settings"]["camera_scale"] = None, None
    (bundle / "manifest.json").write_text(json.dumps(data))
    bare = engine.run(bundle, tmp_path / "bare")
    assert bare["camera_condition"]["scale"]["source"] == "no depth (assumed)"


def test_both_guidance_passes_and_every_camera_block_get_the_camera(tiny_models, monkeypatch):
    from PIL import Image

    from realcam.generate.dynamicrafter.camera import DynamiCrafterCameraHook
    from realcam.generate.dynamicrafter.camera.config import camera_blocks

    model_id, spec, adapter = resolve_video_model(tiny_models["realcam-i2v-256"])
    pipe = adapter.load(model_id, "cpu", torch.float32, "none", False)
    K = np.tile([32.0, 32.0, 32.0, 32.0], (8, 1))
    c2w = np.tile(np.eye(4), (8, 1, 1))
    c2w[:, 0, 3] = np.linspace(0, 0.5, 8)
    assert pipe.prepare_camera(K, c2w, 64, 64, seed=1)
    calls = []
    original = DynamiCrafterCameraHook.attn1
    monkeypatch.setattr(
        DynamiCrafterCameraHook,
        "attn1",
        lambda self, b, n, s: calls.append((s.part, s.index)) or original(self, b, n, s),
    )
    pipe(Image.new("RGB", (64, 64), (90, 120, 60)), height=64, width=64, num_frames=8, num_inference_steps=2,
         guidance_scale=7.5, output_type="latent")  # fmt: skip
    blocks = camera_blocks("cami2v", pipe.config.unet)
    with_camera = [c for c in calls if c[0] != "init"]
    assert len(with_camera) == 2 * 2 * len(blocks)  # 2 steps x (conditional, unconditional) x every block
    pipe.clear_camera()


def test_motionctrl_loads_its_retrained_temporal_attention_over_the_base(tiny_models):
    folder = tiny_models["motionctrl-256"]
    cam = load_file(os.path.join(folder, "256_motionctrl_50k.safetensors"))
    attn2 = [k for k in cam if ".attn2." in k]
    assert any(k.startswith("model.diffusion_model.init_attn.0.") for k in attn2)  # init_attn's block too
    model_id, _, adapter = resolve_video_model(folder)
    pipe = adapter.load(model_id, "cpu", torch.float32, "none", False)
    unet = pipe.unet.state_dict()
    for k in attn2:
        assert torch.equal(unet[k[len("model.diffusion_model.") :]], cam[k]), k
    assert pipe.checkpoint_facts["replaces_base_weights"] == len(attn2)
    assert not pipe.camera.has_weights and "camera" not in pipe.modules  # no pose encoder: nothing outside the UNet


def test_a_camera_file_that_does_not_fit_fails_naming_keys(tiny_models, tmp_path):
    src = tiny_models["cami2v-256"]
    folder = tmp_path / "broken"
    shutil.copytree(src, folder)
    path = folder / "256_cami2v_50k.safetensors"
    state = load_file(str(path))
    gone = "model.diffusion_model.middle_block.2.transformer_blocks.0.pluker_projection.weight"
    state.pop(gone)
    state["model.diffusion_model.input_blocks.1.2.transformer_blocks.0.stray.weight"] = torch.zeros(2)
    save_file(state, str(path))
    model_id, _, adapter = resolve_video_model(str(folder))
    with pytest.raises(UserError) as e:
        adapter.load(model_id, "cpu", torch.float32, "none", False)
    assert "stray.weight" in str(e.value)  # neither DynamiCrafter's nor the camera's
    state.pop("model.diffusion_model.input_blocks.1.2.transformer_blocks.0.stray.weight")
    save_file(state, str(path))
    with pytest.raises(UserError, match=r"1 missing .*middle_block\.2\.transformer_blocks\.0\.pluker_projection"):
        adapter.load(model_id, "cpu", torch.float32, "none", False)
    # A CameraCtrl folder holding a CamI2V file: the camera parts are another model's.
    other = tmp_path / "other"
    shutil.copytree(tiny_models["cameractrl-256"], other)
    os.remove(other / "256_cameractrl_50k.safetensors")
    shutil.copy(os.path.join(src, "256_cami2v_50k.safetensors"), other / "256_cameractrl_50k.safetensors")
    model_id, _, adapter = resolve_video_model(str(other))
    with pytest.raises(UserError, match=r"do not fit a cameractrl model: .*missing .*cc_projection"):
        adapter.load(model_id, "cpu", torch.float32, "none", False)


def test_motionctrls_assumed_lens_is_reckoned_on_the_photo_as_it_was_fitted():
    """Upstream's 90 degrees is across the long side of the photo resized to cover the output, before the crop: a
    2:1 photo made at 64x64 is assumed at fx = 64, not 32; the bundle's source.photo_size says which photo."""
    from types import SimpleNamespace

    from realcam.generate.adapters.dynamicrafter import model_camera
    from realcam.generate.job import _photo_size

    cameras = (np.tile([64.0, 64.0, 32.0, 32.0], (3, 1)), np.tile(np.eye(4), (3, 1, 1)))
    job_ = SimpleNamespace(width=64, height=64, depth_m=None, camera_scale=None, photo_size=(128, 64))
    k, _, record = model_camera("motionctrl", job_, cameras)
    assert record["intrinsics_used"] == [64.0, 64.0, 32.0, 32.0] and record["bundle_matches_assumed_lens"] is True
    job_.photo_size = None  # no photo size: the photo is taken to be at the output's aspect
    assert model_camera("motionctrl", job_, cameras)[2]["bundle_matches_assumed_lens"] is False
    # The source is free-form: only two positive whole numbers count.
    assert _photo_size({"photo_size": [832, 480]}) == (832, 480)
    for bad in ([0, 480], [832.5, 480], ["832", 480], [True, 480], [832], None, "832x480", [10**9, 480]):
        assert _photo_size({"photo_size": bad}) is None
    assert _photo_size(None) is None
