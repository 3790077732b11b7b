"""DynamiCrafter modules against upstream's own code on tiny configurations (float64).

The fixtures are frozen by scripts/parity/dynamicrafter_fixtures.py from ZGCTroy/CamI2V's lvdm modules (and
open_clip 2.22 + kornia for the OpenCLIP towers); both sides fill each weight from its upstream name
(realcam.testing.parity_weights). Tolerances, relative to the output's largest value: 1e-9 for the UNet,
resampler, VAE and text tower (float64, only the order of operations differs); 1e-7 for the image tower
(upstream's CLIP mean/std are float32 constants); 1e-6 for the sampler, whose schedule coefficients
upstream keeps in float32.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from helpers import default_dtype, read_npz

from realcam.generate.dynamicrafter.clip import (
    encode_image,
    encode_text,
    load_text_tower,
    load_vision_tower,
    preprocess_image,
)
from realcam.generate.dynamicrafter.config import CLIPConfig, ResamplerConfig, SamplingConfig, UNetConfig, VAEConfig
from realcam.generate.dynamicrafter.pipeline import rescale_guidance
from realcam.generate.dynamicrafter.resampler import Resampler
from realcam.generate.dynamicrafter.schedule import DDIMScheduler
from realcam.generate.dynamicrafter.unet import UNet3D
from realcam.generate.dynamicrafter.vae import build_vae, convert_vae_state
from realcam.testing.parity_weights import deterministic_state, fill

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "dynamicrafter")
D = torch.float64


def load(name):
    return read_npz(os.path.join(FIXTURES, f"{name}.npz"))


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def layout(keys):
    return {k.split("|")[0]: tuple(int(n) for n in k.split("|")[1].split(",") if n) for k in keys}


def assert_close(actual, expected, rel):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = max(np.abs(expected).max(), 1e-12)
    err = np.abs(actual - expected).max() / scale
    assert err < rel, f"max error {err:.3g} of the output's scale (tolerance {rel:g})"


TINY_UNET = dict(
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(1, 2),
    head_channels=16,
    context_dim=32,
    init_attn_heads=8,
)


@pytest.mark.parametrize(
    "name,learnable", [("unet_256", True), pytest.param("unet_512", False, marks=pytest.mark.slow)]
)
def test_unet_forward_matches_upstream(name, learnable):
    f = load(name)
    unet = UNet3D(UNetConfig(**TINY_UNET, image_cross_attention_learnable=learnable)).to(D).eval()
    ours = {k: tuple(v.shape) for k, v in unet.state_dict().items()}
    assert ours == layout(f["keys"])  # the same parameter names and shapes as upstream's state dict
    fill(unet, "model.diffusion_model.")
    with torch.no_grad():
        y = unet(t(f["x"]), t(f["t"]), t(f["context"]), t(f["fs"]))
    assert_close(y, f["y"], 1e-9)


def test_resampler_matches_upstream():
    f = load("resampler")
    cfg = ResamplerConfig(
        dim=32, depth=2, dim_head=8, heads=4, num_queries=4, embedding_dim=24, output_dim=32, ff_mult=2, video_length=3
    )
    r = Resampler(cfg).to(D).eval()
    assert {k: tuple(v.shape) for k, v in r.state_dict().items()} == layout(f["keys"])
    fill(r, "image_proj_model.")
    with torch.no_grad():
        assert_close(r(t(f["x"])), f["y"], 1e-9)


def fake_model_output(x, step_t, context_mean):
    # The same fixed "denoiser" as the fixture script's: it differs between the guidance passes.
    return torch.tanh(1.3 * x + context_mean) + 0.0005 * step_t


@pytest.mark.parametrize(
    "name,sampling",
    [
        ("ddim_eps", SamplingConfig()),
        ("ddim_v_zero_snr", SamplingConfig(parameterization="v", zero_snr=True, dynamic_rescale=True, base_scale=0.7)),
    ],
)
def test_ddim_with_guidance_rescale_and_noise_shaping_matches_upstream(name, sampling):
    """25 steps with injected noise, guidance 7.5 rescaled by 0.7, and upstream's shaping at t >= 900."""
    f = load(name)
    sched = DDIMScheduler(sampling, eta=1.0)
    sched.set_timesteps(25)
    assert sched.timesteps.tolist() == f["timesteps"].tolist()
    x, mask, scene = t(f["x_t"]), t(f["mask"]), t(f["scene"])
    q_noise = iter(t(f["q_noises"]))
    for i, step_t in enumerate(sched.timesteps.tolist()):
        if sched.level(float(sched.sigmas[i])) >= 0.9:  # the engine's rule for this family
            noised = sched.noise_to(scene, next(q_noise), float(sched.sigmas[i]))
            x = noised * mask + (1 - mask) * x
        cond, uncond = fake_model_output(x, step_t, 0.3), fake_model_output(x, step_t, -0.2)
        out = rescale_guidance(uncond + 7.5 * (cond - uncond), cond, 0.7)
        x, _ = sched.step(out, i, x, noise=t(f["noises"][i]))
        assert_close(x, f["steps"][i], 1e-6)
    assert next(q_noise, None) is None  # exactly upstream's three shaped steps


def test_vae_as_diffusers_autoencoderkl_matches_upstream():
    f = load("vae")
    cfg = VAEConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1)
    named = deterministic_state((f"first_stage_model.{k}", s) for k, s in layout(f["keys"]).items())
    state = {k[len("first_stage_model.") :]: v for k, v in named.items()}
    vae = build_vae(cfg).to(D)
    missing, unexpected = vae.load_state_dict(convert_vae_state(state, cfg), strict=False)
    assert not missing and not unexpected
    vae = vae.eval()
    with torch.no_grad():
        assert_close(vae.encode(t(f["x"])).latent_dist.mode(), f["mean"], 1e-9)
        assert_close(vae.decode(t(f["z"])).sample, f["dec"], 1e-9)


TINY_CLIP = CLIPConfig(
    text_width=32,
    text_layers=3,
    text_heads=2,
    vocab_size=100,
    vision_width=32,
    vision_layers=2,
    vision_heads=2,
    embed_dim=16,
)


def test_openclip_text_tower_through_transformers_matches_upstream():
    f = load("clip")
    named = deterministic_state((f"cond_stage_model.model.{k}", s) for k, s in layout(f["text_keys"]).items())
    state = {k[len("cond_stage_model.model.") :]: v for k, v in named.items()}
    with default_dtype(D):  # models built in float64, so float64 weights load without rounding
        model = load_text_tower(state, TINY_CLIP)
    with torch.no_grad():
        assert_close(encode_text(model, t(f["ids"])), f["text"], 1e-9)


def test_openclip_image_tower_and_preprocessing_match_upstream():
    f = load("clip")
    named = deterministic_state((f"embedder.model.visual.{k}", s) for k, s in layout(f["vision_keys"]).items())
    state = {k[len("embedder.model.visual.") :]: v for k, v in named.items()}
    with default_dtype(D):  # models built in float64, so float64 weights load without rounding
        model = load_vision_tower(state, TINY_CLIP)
    image = t(f["image"])
    # 1e-7 here: upstream keeps CLIP's mean and std as float32 constants (kornia's resize itself matches exactly).
    assert_close(preprocess_image(image)[:, :, ::8, ::8], f["preprocessed"], 1e-7)
    with torch.no_grad():
        assert_close(encode_image(model, image), f["tokens"], 1e-7)
