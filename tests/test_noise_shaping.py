"""Scene-constrained noise shaping: the formula, where it applies, and that it steers real pipelines."""

import os

import numpy as np
import pytest
import torch
from helpers import JobPlan, make_bundle, set_settings
from PIL import Image

from realcam.generate.adapters import ADAPTERS, resolve_video_model
from realcam.generate.adapters.svd import SvdAdapter
from realcam.generate.adapters.wan import WanAdapter
from realcam.generate.engine import Engine
from realcam.generate.inputs import PREVIEW_FILL, scene_video
from realcam.generate.noise_level import (
    MAX_LEVEL,
    level_from_edm_sigma,
    level_from_flow_sigma,
    level_from_nsr,
    shaped_steps,
)
from realcam.generate.noise_shaping import NoiseShaper
from realcam.generate.schedules import REPORTED_THRESHOLDS, SHAPED_STEPS
from realcam_core.bundle import SNS_THRESHOLD_MAX, load_bundle
from realcam_core.models import KNOWN_VIDEO_MODELS, SVD_XT, WAN22_TI2V_5B, known_model

# DynamiCrafter's schedule, on which the noise level is defined (noise_level.py).
_REF_BETAS = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
_REF_ABAR = np.cumprod(1 - _REF_BETAS)
_REF_NSR = np.sqrt((1 - _REF_ABAR) / _REF_ABAR)


def nsr_from_level(level: float) -> float:
    """level_from_nsr's inverse, from the reference schedule: the NSR at DDPM index level * 1000, and past the
    last step, log-NSR going on at that step's rate."""
    t = min(max(level, 0.0), MAX_LEVEL) * 1000
    if t > 999:
        return float(_REF_NSR[-1] * np.exp((t - 999) * np.log(_REF_NSR[-1] / _REF_NSR[-2])))
    return float(np.interp(t, np.arange(1000, dtype=np.float64), _REF_NSR))


def test_noise_level_matches_upstream_ddpm_index():
    # Upstream's t = 900 (of 1000) on DynamiCrafter's schedule is level 0.9, by construction.
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    abar = np.cumprod(1 - betas)
    for t in (100, 500, 800, 900, 950, 999):
        nsr = np.sqrt((1 - abar[t]) / abar[t])
        assert level_from_nsr(nsr) == pytest.approx(t / 1000, abs=1e-6)
        assert nsr_from_level(t / 1000) == pytest.approx(nsr, rel=1e-6)
    # Flow matching s and EDM sigma describe the same NSR.
    s = 0.8
    assert level_from_flow_sigma(s) == pytest.approx(level_from_edm_sigma(s / (1 - s)))
    assert 0.88 < level_from_flow_sigma(0.9) < 0.92  # close to s itself near the default threshold


def test_noise_level_goes_on_above_one_in_log_nsr():
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    abar = np.cumprod(1 - betas)
    nsr_end = np.sqrt((1 - abar[-1]) / abar[-1])  # 14.61, t = 999: the reference schedule's last step
    step = np.log(nsr_end / np.sqrt((1 - abar[-2]) / abar[-2]))
    # Continuous at the join, then each 0.001 is the last step's NSR factor again.
    assert level_from_nsr(nsr_end) == pytest.approx(0.999)
    assert level_from_nsr(nsr_end * np.exp(step)) == pytest.approx(1.0)
    assert level_from_nsr(nsr_end * np.exp(101 * step)) == pytest.approx(1.1)
    # Upstream's zero-SNR 512 model at its t = 900 (NSR 18.35) is no longer lumped in with everything above 14.6.
    assert level_from_nsr(18.35) == pytest.approx(1.0365, abs=1e-3)
    nsrs = np.geomspace(0.05, 1e7, 400)  # from t = 0 (NSR 0.029) to pure noise
    levels = [level_from_nsr(x) for x in nsrs]
    assert all(b > a for a, b in zip(levels, levels[1:], strict=False) if b < MAX_LEVEL)  # strictly increasing
    for lv in (0.5, 0.999, 1.0, 1.3, 2.0, 2.9):
        assert level_from_nsr(nsr_from_level(lv)) == pytest.approx(lv, abs=1e-9)
    # Pure noise (s = 1, an infinite NSR) is the top of the scale, a finite number JSON can hold.
    assert level_from_flow_sigma(1.0) == MAX_LEVEL == level_from_nsr(float("inf")) == SNS_THRESHOLD_MAX
    assert level_from_edm_sigma(700.0) == pytest.approx(1.637, abs=1e-3)  # SVD-xt's first step


# The schedulers the published diffusers repositories ship (Wan: diffusers' convert_wan_to_diffusers.py, flow_shift
# 5.0 for TI2V and 3.0 for the 2.1 I2V models; SVD-xt: its scheduler_config.json): alias -> (class, configuration).
_WAN = {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "num_train_timesteps": 1000}
SVD_SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "sigma_max": 700.0,
    "sigma_min": 0.002,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "use_karras_sigmas": True,
}
PUBLISHED_SCHEDULERS = {
    "wan2.2-ti2v-5b": ("UniPCMultistepScheduler", {**_WAN, "flow_shift": 5.0}),
    "wan2.2-fun-5b-camera": ("UniPCMultistepScheduler", {**_WAN, "flow_shift": 5.0}),  # TI2V-5B's scheduler
    "wan2.1-i2v-14b-480p": ("UniPCMultistepScheduler", {**_WAN, "flow_shift": 3.0}),
    "wan2.1-i2v-14b-720p": ("UniPCMultistepScheduler", {**_WAN, "flow_shift": 3.0}),
    "wan2.1-flf2v-14b-720p": ("UniPCMultistepScheduler", {**_WAN, "flow_shift": 16.0}),
    "svd-xt": ("EulerDiscreteScheduler", SVD_SCHEDULER),
    "fastwan2.2-ti2v-draft": ("DmdFlowScheduler", {}),  # its defaults are FastVideo's (dmd_scheduler.py)
}
# DynamiCrafter and its camera models: upstream's DDIM (dynamicrafter/schedule.py, checked against upstream's
# sampler by the parity tests), per variant.
for _alias, _variant in (
    ("dynamicrafter-256", "256"),
    ("dynamicrafter-512", "512"),
    ("motionctrl-256", "256"),
    ("cameractrl-256", "256"),
    ("cami2v-256", "256"),
    ("cami2v-512", "512"),
    ("realcam-i2v-256", "256"),
    ("realcam-i2v-512", "512"),
):
    PUBLISHED_SCHEDULERS[_alias] = ("DynamiCrafterDDIM", {"variant": _variant})


def published_levels(alias: str) -> list[float]:
    """Noise levels of a known model's default steps under its published scheduler, as the engine computes them."""
    import diffusers

    cls_name, config = PUBLISHED_SCHEDULERS[alias]
    _, spec, adapter = resolve_video_model(alias)
    if cls_name == "DynamiCrafterDDIM":
        from realcam.generate.dynamicrafter.config import VARIANTS
        from realcam.generate.dynamicrafter.schedule import DDIMScheduler

        scheduler = DDIMScheduler(VARIANTS[config["variant"]].sampling)
    else:
        from realcam.generate import dmd_scheduler

        scheduler = (getattr(diffusers, cls_name, None) or getattr(dmd_scheduler, cls_name)).from_config(config)
    scheduler.set_timesteps(spec.default_steps)
    return [adapter.noise_level(float(s)) for s in scheduler.sigmas[: spec.default_steps]]


def shaped_counts(levels, thresholds=REPORTED_THRESHOLDS, rule=shaped_steps) -> tuple[int, ...]:
    """Steps shaped at each threshold, by a rule (default: level at or above it; adapters may have their own)."""
    return tuple(len(rule(levels, t)) for t in thresholds)


def published_counts(alias: str) -> tuple[int, ...]:
    """shaped_counts of a known model's default steps under its published scheduler and its adapter's rule."""
    return shaped_counts(published_levels(alias), rule=resolve_video_model(alias)[2].shaped_steps)


@pytest.mark.parametrize("alias", [m.alias for m in KNOWN_VIDEO_MODELS])
def test_listed_shaped_steps_are_the_published_schedulers(alias):
    """`realcam models` lists, per threshold, the steps the engine shapes under each model's published scheduler."""
    assert published_counts(alias) == SHAPED_STEPS[alias][1]
    assert SHAPED_STEPS[alias][0] == known_model(alias).spec.default_steps
    assert REPORTED_THRESHOLDS[0] == 0.9 and max(REPORTED_THRESHOLDS) > 1.0


def make_shaper(adapter, shape, mask, sigmas, threshold=0.9, seed=3):
    clean = torch.randn(shape, generator=torch.Generator().manual_seed(11))
    return NoiseShaper(adapter, clean, mask, sigmas, threshold, seed)


@pytest.mark.parametrize("adapter, alpha", [(WanAdapter(WAN22_TI2V_5B), lambda s: 1 - s), (SvdAdapter(SVD_XT), None)])
def test_replacement_formula_exact_at_shaped_step_and_nothing_elsewhere(adapter, alpha):
    if isinstance(adapter, WanAdapter):
        shape, sigmas = (1, 4, 3, 5, 6), [1.0, 0.95, 0.92, 0.5, 0.1]
        mask = torch.zeros(1, 1, 3, 5, 6, dtype=torch.bool)
        mask[..., 1:, 1:4, 2:5] = True
    else:
        shape, sigmas = (1, 3, 4, 5, 6), [700.0, 30.0, 9.5, 1.0, 0.1]
        mask = torch.zeros(1, 3, 1, 5, 6, dtype=torch.bool)
        mask[:, 1:, :, 1:4, 2:5] = True
    shaper = make_shaper(adapter, shape, mask, sigmas)
    assert shaper.shaped_steps == [0, 1, 2]
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(5))

    # The noise the shaper will draw for its first two shaped steps.
    gen = torch.Generator("cpu").manual_seed((3 + 0x5EED) % 2**63)
    eps1 = torch.randn(shape, generator=gen)
    eps2 = torch.randn(shape, generator=gen)

    out = shaper.after_step(0, latents)  # latents now at step 1's level
    s = sigmas[1]
    a = alpha(s) if alpha else 1.0
    expected = torch.where(mask.expand(shape), a * shaper.clean + s * eps1, latents)
    assert torch.allclose(out, expected, atol=1e-6)
    # Outside the mask, and every reference-frame latent, untouched bit for bit.
    outside = ~mask.expand(shape)
    assert torch.equal(out[outside], latents[outside])
    ref = out[:, :, 0] if isinstance(adapter, WanAdapter) else out[:, 0]
    ref_in = latents[:, :, 0] if isinstance(adapter, WanAdapter) else latents[:, 0]
    assert torch.equal(ref, ref_in)

    # Fresh noise at the next shaped step: not the same draw again.
    out2 = shaper.after_step(1, latents)
    s2 = sigmas[2]
    a2 = alpha(s2) if alpha else 1.0
    assert torch.allclose(out2, torch.where(mask.expand(shape), a2 * shaper.clean + s2 * eps2, latents), atol=1e-6)
    assert not torch.allclose((out2 - a2 * shaper.clean)[mask.expand(shape)] / s2, eps1[mask.expand(shape)])

    # Unshaped steps (level below the threshold) pass latents through.
    assert shaper.after_step(2, latents) is latents
    assert shaper.after_step(4, latents) is latents  # past the last step
    assert [s.step for s in shaper.log] == [1, 2]


def test_disabled_shaper_changes_nothing():
    adapter = WanAdapter(WAN22_TI2V_5B)
    mask = torch.ones(1, 1, 2, 2, 2, dtype=torch.bool)
    shaper = NoiseShaper(adapter, torch.zeros(1, 2, 2, 2, 2), mask, [1.0, 0.95], 0.9, 0, enabled=False)
    z = torch.randn(1, 2, 2, 2, 2)
    assert shaper.shaped_steps == [] and shaper.shape(z, 0) is z and shaper.after_step(0, z) is z


FAMILY_TINY_MODEL = {  # one per family
    "wan": "wan22-ti2v",
    "svd": "svd",
    "wan-fun-camera": "wan22-fun-camera",
    "dynamicrafter": "dynamicrafter-512",
    "wan-dmd": "fastwan22-draft",
}


def test_every_adapter_family_has_a_contract_case():
    assert set(FAMILY_TINY_MODEL) == set(ADAPTERS)


@pytest.mark.parametrize("family", sorted(FAMILY_TINY_MODEL))
def test_adapter_contract_against_its_real_pipeline(tiny_video_models, family):
    """What every adapter promises the engine, checked against the diffusers pipeline it wraps."""
    folder = tiny_video_models[FAMILY_TINY_MODEL[family]]
    _, spec, adapter = resolve_video_model(folder)
    assert adapter.family == family
    pipe = adapter.load(folder, "cpu", torch.float32, "none", False)
    pipe.set_progress_bar_config(disable=True)
    frames, h, w = spec.frame_count_for(6), 64, 64

    # Latent layout: the shape the pipeline itself denoises.
    image, job = Image.new("RGB", (w, h), (120, 90, 60)), JobPlan(height=h, width=w, model_frames=frames, steps=1)
    args = adapter.call_arguments(image, job)
    cameras = (np.tile([[64.0, 64.0, 32.0, 32.0]], (frames, 1)), np.tile(np.eye(4), (frames, 1, 1)))
    assert adapter.prepare_conditions(pipe, image, job, cameras) is adapter.has_camera_condition
    with torch.inference_mode():
        own = pipe(**{**args, "num_inference_steps": 1}, output_type="latent").frames
    adapter.clear_conditions(pipe)
    shape = adapter.latent_shape(pipe, frames, h, w)
    assert tuple(own.shape) == shape

    # Preview latents come out in that layout.
    video = torch.rand(frames, 3, h, w) * 2 - 1
    with torch.inference_mode():
        assert tuple(adapter.encode_preview(pipe, video, None).shape) == shape

    # Masks broadcast onto it; reference frames are never shaped, covered cells elsewhere are.
    m = adapter.latent_mask(pipe, np.ones((frames, h, w), bool), 0.9)
    full = m.expand(shape)
    time_axis = 2 if family.startswith("wan") else 1
    for f in adapter.reference_latent_frames():
        assert not full.select(time_axis, f).any()
    others = [f for f in range(shape[time_axis]) if f not in adapter.reference_latent_frames()]
    assert full.index_select(time_axis, torch.tensor(others)).all()

    # Noising a clean latent: exactly what the pipeline's own scheduler does at that step.
    n = min(5, spec.max_steps)  # a few-step model's scheduler takes no more than its own steps
    pipe.scheduler.set_timesteps(n)
    clean, eps = torch.randn(shape), torch.randn(shape)
    for i in sorted({0, n // 2, n - 1}):
        sigma = float(pipe.scheduler.sigmas[i])
        ours = adapter.noise(clean, eps, sigma)
        t = pipe.scheduler.timesteps[i : i + 1]
        if hasattr(pipe.scheduler, "add_noise"):
            theirs = pipe.scheduler.add_noise(clean, eps, t)
        else:  # FlowMatchEuler (the Fun camera model's default sampler) calls it scale_noise
            theirs = pipe.scheduler.scale_noise(clean, t, eps)
        assert torch.allclose(ours, theirs, atol=1e-5), (family, i)
    levels = [adapter.noise_level(float(s)) for s in pipe.scheduler.sigmas[:n]]
    assert levels == sorted(levels, reverse=True) and 0.0 <= levels[-1] <= levels[0] <= MAX_LEVEL


def test_latent_masks_follow_coverage(tiny_video_models):
    from diffusers import DiffusionPipeline

    mask = np.ones((9, 64, 64), bool)
    mask[:, :, 32:] = False  # right half uncovered
    mask[5] = False  # one frame uncovered entirely
    _, _, wan = resolve_video_model(tiny_video_models["wan22-ti2v"])
    pipe = DiffusionPipeline.from_pretrained(tiny_video_models["wan22-ti2v"])
    m = wan.latent_mask(pipe, mask, 0.9)
    # 16x spatial, 4x temporal: latent frames hold pixel frames [0], [1-4], [5-8].
    assert m.shape == (1, 1, 3, 4, 4)
    assert m[0, 0, 1, :, :2].all() and not m[0, 0, 1, :, 2:].any()
    assert not m[0, 0, 2].any()  # mean coverage 0.75 < 0.9
    _, _, svd = resolve_video_model(tiny_video_models["svd"])
    pipe = DiffusionPipeline.from_pretrained(tiny_video_models["svd"])
    m = svd.latent_mask(pipe, mask, 0.9)
    assert m.shape == (1, 9, 1, 16, 16)  # this tiny VAE is 4x; per-frame
    assert not m[0, 5].any()
    assert m[0, 1, 0, :, :7].all() and not m[0, 1, 0, :, 8:].any()


# -- through the engine itself -------------------------------------------------------------------------------
SHAPED_FAMILIES = ["wan22-ti2v", "wan21-i2v", "svd"]


def run_engine(folder, tiny_models, name, spy, steps=8, **settings):
    """The engine on a small dolly bundle (holes at the right) with one of the tiny models; (result, spy record)."""
    if not os.path.isdir(folder):
        make_bundle(folder, n=5, w=64, h=64, model=tiny_models[name])
    set_settings(folder, steps=steps, guidance=1.0, **settings)  # guidance 1: one denoiser call per step
    out = os.path.join(os.path.dirname(folder), f"take-{len(spy.calls)}")
    result = Engine().run(folder, out)
    return result, spy.calls[-1]


def latent_channels(latents, family):
    return latents.shape[2] if family == "svd" else latents.shape[1]


@pytest.mark.parametrize("name", SHAPED_FAMILIES)
def test_each_shaping_uses_the_sigma_its_latents_are_at(tmp_path, tiny_models, spy, name):
    """Step k is shaped in step k - 1's callback, whose latents are already at sigmas[k]: the sigma used is the
    one the scheduler holds there and the one the denoiser is then told; nothing else is touched."""
    steps = 8
    result, call = run_engine(str(tmp_path / "job"), tiny_models, name, spy, steps=steps, threshold=0.5)
    sched = call["pipe"].scheduler
    shaped = result["sns"]["shaped"]
    ks = [s["step"] for s in shaped]
    assert ks == result["sns"]["shaped_steps"] and 3 <= len(ks) < steps and ks[0] == 0
    assert len(call["timesteps"]) == steps and len(call["steps"]) == steps
    for s in shaped:
        k = s["step"]
        assert s["sigma"] == float(sched.sigmas[k])
        assert call["timesteps"][k] == pytest.approx(float(sched.timesteps[k]))  # what the denoiser saw next
        if k >= 1:
            cb = call["steps"][k - 1]
            assert cb["step_index"] == k and cb["sigma_now"] == s["sigma"]
            changed = int((cb["after"] != cb["before"]).sum())
            assert changed == s["cells"] * latent_channels(cb["after"], name)
    for cb in call["steps"]:
        if cb["i"] + 1 not in ks:
            assert torch.equal(cb["after"], cb["before"])  # unshaped steps pass through untouched


@pytest.mark.parametrize("name", SHAPED_FAMILIES)
def test_shaping_pulls_the_result_toward_the_preview(tmp_path, tiny_models, spy, name):
    folder = str(tmp_path / "job")
    _, on = run_engine(folder, tiny_models, name, spy, steps=10, threshold=0.1)
    _, off = run_engine(folder, tiny_models, name, spy, steps=10, sns_enabled=False)
    pipe = on["pipe"]
    _, spec, adapter = resolve_video_model(tiny_models[name])
    bundle = load_bundle(folder)
    video, pixel_mask = scene_video(folder, bundle, spec.frame_count_for(len(bundle.frames)))
    with torch.inference_mode():
        clean = adapter.encode_preview(pipe, video, None).float()
    final_on, final_off = on["steps"][-1]["after"], off["steps"][-1]["after"]
    m = adapter.latent_mask(pipe, pixel_mask, 0.9).expand(final_on.shape)
    assert m.any() and not m.all()
    d_on = (final_on - clean)[m].pow(2).mean()
    d_off = (final_off - clean)[m].pow(2).mean()
    assert d_on < 0.5 * d_off, (float(d_on), float(d_off))


def _unipc_history(tmp_path, tiny_models, spy):
    result, call = run_engine(str(tmp_path / "job"), tiny_models, "wan21-i2v", spy, steps=10, threshold=0.6)
    ks = [k for k in result["sns"]["shaped_steps"] if k >= 2]
    assert len(ks) >= 2 and max(result["sns"]["shaped_steps"]) < 9
    steps = call["steps"]
    corrected = [float((steps[k]["last_sample"] - steps[k - 1]["after"]).abs().max()) for k in ks]
    orders = {k: steps[k]["order"] for k in range(10)}
    return ks, corrected, orders


def test_unipc_steps_from_the_replaced_latents_with_first_order(tmp_path, tiny_models, spy):
    """UniPC keeps the sample we replaced (corrector off) and steps from it alone (first order)."""
    ks, corrected, orders = _unipc_history(tmp_path, tiny_models, spy)
    assert max(corrected) < 1e-5
    assert all(orders[k] == 1 for k in ks)
    assert 2 in [orders[k] for k in range(10) if k not in ks]  # second order elsewhere: the check can fail


def test_unipc_traps_are_real_without_the_fixes(tmp_path, tiny_models, spy, monkeypatch):
    """Without switching the corrector off it rebuilds the replaced sample; without resetting the order the
    predictor mixes the model output of the latents before the replacement into the step after it."""
    monkeypatch.setattr(WanAdapter, "prepare_scheduler", lambda self, pipe, steps: None)
    monkeypatch.setattr(WanAdapter, "latents_replaced", lambda self, pipe: None)
    ks, corrected, orders = _unipc_history(tmp_path, tiny_models, spy)
    assert max(corrected) > 1e-3
    assert any(orders[k] == 2 for k in ks)


def test_the_scene_video_starts_with_the_photo(tmp_path, tiny_models, spy, monkeypatch):
    """What the engine encodes for shaping starts with the reference photo, not preview frame 0 with its holes; the
    causal Wan VAE reads frame 0 as context for the next latent frame, so it matters beyond frame 0."""
    folder = str(tmp_path / "job")
    make_bundle(folder, n=5, w=64, h=64, model=tiny_models["wan22-ti2v"])
    rgba = np.asarray(Image.open(os.path.join(folder, "preview/0000.png"))).copy()
    rgba[20:44, 20:44, 3] = 0  # a hole in preview frame 0
    Image.fromarray(rgba).save(os.path.join(folder, "preview/0000.png"))
    encoded = []
    original = WanAdapter.encode_preview

    def watched(self, pipe, video, generator):
        encoded.append(video.clone())
        return original(self, pipe, video, generator)

    monkeypatch.setattr(WanAdapter, "encode_preview", watched)
    run_engine(folder, tiny_models, "wan22-ti2v", spy, steps=2, threshold=0.5)
    assert len(encoded) == 1
    video = encoded[0]
    photo = np.array(Image.open(os.path.join(folder, "reference.png")).convert("RGB"))
    assert torch.equal(video[0], torch.from_numpy(photo).permute(2, 0, 1).float() / 127.5 - 1.0)
    previews, _ = scene_video(folder, load_bundle(folder), 5)
    assert torch.equal(video[1:], previews[1:])  # the other frames are the previews

    # Why it matters: the latent frame after the photo's changes with what pixel frame 0 holds.
    pipe = spy.calls[-1]["pipe"]
    _, _, adapter = resolve_video_model(tiny_models["wan22-ti2v"])
    holed = video.clone()
    holed[0, :, 20:44, 20:44] = PREVIEW_FILL / 127.5 - 1.0  # what was encoded before
    with torch.inference_mode():
        z_photo, z_holed = original(adapter, pipe, video, None), original(adapter, pipe, holed, None)
    assert (z_photo[:, :, 1] - z_holed[:, :, 1]).abs().max() > 1e-3


@pytest.fixture(scope="session")
def tiny_video_models(tiny_models):
    return tiny_models
