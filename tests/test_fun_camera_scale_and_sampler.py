"""The Fun camera model: its translation enters at an explicit, recorded scale, and it samples with upstream's
FlowMatchEuler (shift 5) by default, UniPC on request."""

import numpy as np
import pytest
import torch
from helpers import JobPlan, make_bundle, set_settings
from PIL import Image

from realcam.errors import UserError
from realcam.generate.adapters import resolve_video_model
from realcam.generate.adapters.wan_fun_camera import FLOW_EULER, UNIPC, select_sampler
from realcam.generate.camera_control import control_of
from realcam_core.bundle import BundleError, Settings, load_bundle


@pytest.fixture(scope="module")
def fun(tiny_models):
    _, _, adapter = resolve_video_model(tiny_models["wan22-fun-camera"])
    pipe = adapter.load(tiny_models["wan22-fun-camera"], "cpu", torch.float32, "none", False)
    return adapter, pipe


def _cameras(n=5, dolly=0.8):
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, 2, 3] = np.linspace(0, dolly, n)
    return np.tile([[64.0, 64.0, 32.0, 32.0]], (n, 1)), c2w


def test_the_default_sampler_is_videox_funs_flow_euler_with_shift_5(fun):
    from diffusers import FlowMatchEulerDiscreteScheduler

    adapter, pipe = fun
    assert isinstance(pipe.scheduler, FlowMatchEulerDiscreteScheduler) and pipe.scheduler.config.shift == 5.0
    # VideoX-Fun's config/wan2.2/wan_civitai_5b.yaml scheduler_kwargs, as its 5B camera example passes them.
    yaml = dict(num_train_timesteps=1000, shift=5.0, use_dynamic_shifting=False, base_shift=0.5, max_shift=1.15)
    assert {k: pipe.scheduler.config[k] for k in yaml} == yaml
    pipe.scheduler.set_timesteps(50, mu=1)  # as VideoX-Fun's pipeline calls it
    assert len(pipe.scheduler.timesteps) == 50 and float(pipe.scheduler.sigmas[-2]) == pytest.approx(0.0244, abs=1e-4)
    adapter.prepare_job(pipe, JobPlan(sampler="unipc"))
    assert type(pipe.scheduler).__name__ == "UniPCMultistepScheduler" and adapter.sampler == UNIPC
    adapter.prepare_job(pipe, JobPlan())
    assert isinstance(pipe.scheduler, FlowMatchEulerDiscreteScheduler) and adapter.sampler == FLOW_EULER
    with pytest.raises(UserError, match="not one of"):
        select_sampler(pipe, "ddim")


def test_euler_takes_replaced_latents_as_they_are():
    """No multistep memory: a step from replaced latents is exactly the Euler step from them (why no workaround)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from realcam.generate.adapters.wan_fun_camera import FLOW_EULER_CONFIG

    sched = FlowMatchEulerDiscreteScheduler(**FLOW_EULER_CONFIG)
    sched.set_timesteps(4)
    x, v = torch.randn(1, 3, 2, 2), torch.randn(1, 3, 2, 2)
    sched.step(v, sched.timesteps[0], x)
    replaced = torch.randn_like(x)
    out = sched.step(v, sched.timesteps[1], replaced).prev_sample
    assert torch.allclose(out, replaced + (sched.sigmas[2] - sched.sigmas[1]) * v, atol=1e-6)


def test_translation_is_scaled_by_the_photos_near_depth_and_recorded(fun):
    adapter, pipe = fun
    image = Image.new("RGB", (64, 64), (120, 90, 60))
    K, c2w = _cameras()
    depth = np.full((64, 64), 2.0)
    adapter.prepare_conditions(pipe, image, JobPlan(depth_m=depth), (K, c2w))
    track = control_of(pipe.transformer).track
    assert np.allclose(track.c2w[:, 2, 3], c2w[:, 2, 3] / 2.0)  # 0.8 m towards a scene 2 m away = 0.4 units
    rec = adapter.camera_record
    assert rec["scale"]["units_per_metre"] == 0.5 and rec["scale"]["source"] == "photo depth"
    assert rec["reach_units"] == pytest.approx(0.4) and rec["intrinsics"] == "bundle"

    adapter.prepare_conditions(pipe, image, JobPlan(depth_m=depth, camera_scale=3.0), (K, c2w))
    assert np.allclose(control_of(pipe.transformer).track.c2w[:, 2, 3], 3.0 * c2w[:, 2, 3])
    assert adapter.camera_record["scale"]["source"] == "setting"

    adapter.prepare_conditions(pipe, image, JobPlan(), (K, c2w))  # a plan without depth: metres enter as units
    assert np.allclose(control_of(pipe.transformer).track.c2w, c2w)
    assert adapter.camera_record["scale"]["source"] == "no depth (assumed)"
    adapter.clear_conditions(pipe)


def test_the_settings_carry_scale_and_sampler_and_refuse_bad_ones(tmp_path):
    make_bundle(tmp_path / "b", n=3, w=64, h=64)
    set_settings(tmp_path / "b", camera_scale=0.5, sampler="unipc")
    s = load_bundle(tmp_path / "b").settings
    assert (s.camera_scale, s.sampler) == (0.5, "unipc")
    assert s.to_dict()["camera_scale"] == 0.5 and s.to_dict()["sampler"] == "unipc"
    assert "camera_scale" not in Settings("m").to_dict()  # unset: manifests stay as older backends read them
    set_settings(tmp_path / "b", camera_scale=0, sampler="ddim")
    with pytest.raises(BundleError) as e:
        load_bundle(tmp_path / "b")
    assert "settings.camera_scale" in str(e.value) and "settings.sampler" in str(e.value)
