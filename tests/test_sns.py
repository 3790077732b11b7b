"""Scene-constrained noise shaping: the formula, where it applies, and that it steers real pipelines."""

import numpy as np
import pytest
import torch
from helpers import make_bundle
from PIL import Image

from realcam.generate.adapters import ADAPTERS, resolve_video_model
from realcam.generate.adapters.svd import SvdAdapter
from realcam.generate.adapters.wan import WanAdapter
from realcam.generate.noise_level import level_from_edm_sigma, level_from_flow_sigma, level_from_nsr, nsr_from_level
from realcam.generate.noise_shaping import NoiseShaper
from realcam_core.models import SVD_XT, WAN22_TI2V_5B


def test_noise_level_matches_upstream_ddpm_index():
    # Upstream's t = 900 (of 1000) on DynamiCrafter's schedule is level 0.9, by construction.
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    abar = np.cumprod(1 - betas)
    for t in (100, 500, 800, 900, 950):
        nsr = np.sqrt((1 - abar[t]) / abar[t])
        assert level_from_nsr(nsr) == pytest.approx(t / 1000, abs=1e-6)
        assert nsr_from_level(t / 1000) == pytest.approx(nsr, rel=1e-6)
    # Flow matching s and EDM sigma describe the same NSR.
    s = 0.8
    assert level_from_flow_sigma(s) == pytest.approx(level_from_edm_sigma(s / (1 - s)))
    assert level_from_flow_sigma(1.0) == 1.0 and level_from_edm_sigma(700.0) == 1.0
    assert 0.88 < level_from_flow_sigma(0.9) < 0.92  # close to s itself near the default threshold


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


FAMILY_TINY_MODEL = {"wan": "wan22-ti2v", "svd": "svd", "wan-fun-camera": "wan22-fun-camera"}  # one per family


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
    image, job = Image.new("RGB", (w, h), (120, 90, 60)), _Job(h, w, frames)
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
    pipe.scheduler.set_timesteps(5)
    clean, eps = torch.randn(shape), torch.randn(shape)
    for i in (0, 2, 4):
        sigma = float(pipe.scheduler.sigmas[i])
        ours = adapter.noise(clean, eps, sigma)
        theirs = pipe.scheduler.add_noise(clean, eps, pipe.scheduler.timesteps[i : i + 1])
        assert torch.allclose(ours, theirs, atol=1e-5), (family, i)
    levels = [adapter.noise_level(float(s)) for s in pipe.scheduler.sigmas[:5]]
    assert levels == sorted(levels, reverse=True) and 0.0 <= levels[-1] <= levels[0] <= 1.0


class _Job:
    """The plan fields adapters read for their call arguments."""

    def __init__(self, h, w, frames):
        self.height, self.width, self.model_frames = h, w, frames
        self.steps, self.guidance, self.prompt, self.negative_prompt = 1, 1.0, "a room", ""
        self.camera_condition = True


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


def _run_pipeline(folder, shaped: bool, threshold: float, capture):
    """A real tiny pipeline with the shaper in its step-end callback; returns final latents."""
    from diffusers import DiffusionPipeline

    _, spec, adapter = resolve_video_model(folder)
    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    frames, h, w, steps = 9, 64, 64, 10
    rng = np.random.default_rng(0)
    preview = torch.from_numpy(rng.uniform(-1, 1, (frames, 3, h, w)).astype(np.float32))
    pipe.scheduler.set_timesteps(steps)
    sigmas = [float(s) for s in pipe.scheduler.sigmas[:steps]]
    with torch.inference_mode():
        clean = adapter.encode_preview(pipe, preview, None).float()
    mask = adapter.latent_mask(pipe, np.ones((frames, h, w), bool), 0.9)
    shaper = NoiseShaper(adapter, clean, mask, sigmas, threshold, 0, enabled=shaped)
    shape = adapter.latent_shape(pipe, frames, h, w)
    scale = adapter.initial_noise_scale(pipe)
    start = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * scale
    start = shaper.shape(start, 0) / scale
    adapter.prepare_scheduler(pipe, shaper.shaped_steps)
    written = {}

    def cb(p, i, t, kw):
        if i - 1 in written and hasattr(p.scheduler, "last_sample"):
            capture.append((i, written[i - 1], p.scheduler.last_sample.clone()))
        out = shaper.after_step(i, kw["latents"])
        written[i] = out.clone()
        return {"latents": out}

    args = {
        "image": Image.new("RGB", (w, h), (120, 90, 60)),
        "height": h,
        "width": w,
        "num_frames": frames,
        "num_inference_steps": steps,
        "latents": start,
        "output_type": "latent",
        "callback_on_step_end": cb,
        "generator": torch.Generator().manual_seed(0),
    }
    if spec.family == "wan":
        args.update(prompt="a room", guidance_scale=1.0)
    with torch.inference_mode():
        latents = pipe(**args).frames
    adapter.restore_scheduler(pipe)
    return latents, clean, mask, shaper


@pytest.mark.parametrize("name", ["wan22-ti2v", "wan21-i2v", "svd"])
def test_shaping_pulls_the_result_toward_the_preview(tiny_video_models, name):
    folder = tiny_video_models[name]
    capture = []
    on, clean, mask, shaper = _run_pipeline(folder, True, 0.1, capture)
    off, *_ = _run_pipeline(folder, False, 0.1, [])
    assert len(shaper.shaped_steps) >= 3
    m = mask.expand(on.shape)
    d_on = (on - clean)[m].pow(2).mean()
    d_off = (off - clean)[m].pow(2).mean()
    assert d_on < 0.5 * d_off, (float(d_on), float(d_off))
    if name.startswith("wan"):
        # UniPC keeps its own copy of the sample: our replaced latents must be what it stepped from.
        shaped_after = [(i, w, last) for i, w, last in capture if i in shaper.shaped_steps]
        assert shaped_after
        for _i, written, last in shaped_after:
            assert torch.allclose(last[m], written[m], atol=1e-5)


def test_unipc_trap_is_real_without_the_fix(tiny_video_models, monkeypatch):
    """Without disabling the corrector, UniPC silently rebuilds the sample we replaced."""
    monkeypatch.setattr(WanAdapter, "prepare_scheduler", lambda self, pipe, steps: None)
    capture = []
    _, _, mask, shaper = _run_pipeline(tiny_video_models["wan21-i2v"], True, 0.3, capture)
    diffs = [float((last - w).abs().max()) for i, w, last in capture if i in shaper.shaped_steps]
    assert diffs and max(diffs) > 1e-3


@pytest.fixture(scope="session")
def tiny_video_models(tiny_models):
    return tiny_models


def test_bundle_fixture_still_valid(tmp_path):
    make_bundle(tmp_path)
