"""With noise shaping off, the engine is the stock diffusers pipeline: same seed and latents, same output, bit for bit.

The stock pipelines are loaded and called the way diffusers documents them, from the same tiny model folders the
engine loads. What the engine adds (fps from the bundle, float32 latents and VAE) must not change a float32 run.
"""

import os

import numpy as np
import pytest
import torch
from helpers import make_bundle, set_settings
from PIL import Image

from realcam.generate.engine import Engine
from realcam.generate.job import RunOptions

SEED, STEPS, FPS = 7, 4, 24  # a seed and an fps other than the defaults (0 and SVD's 7), so ignoring them shows


def _stock_wan(folder, image, frames, h, w, guidance, latents):
    from diffusers import AutoencoderKLWan, WanImageToVideoPipeline

    # As the Wan model cards show: the VAE in float32, the rest in the run's dtype (float32 here, on the CPU).
    vae = AutoencoderKLWan.from_pretrained(folder, subfolder="vae", dtype=torch.float32)
    pipe = WanImageToVideoPipeline.from_pretrained(folder, vae=vae, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        image=image,
        prompt="a room",
        height=h,
        width=w,
        num_frames=frames,
        num_inference_steps=STEPS,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(SEED),
        latents=latents,
        output_type="np",
    ).frames[0]


def _stock_svd(folder, image, frames, h, w, guidance, latents, fps=FPS):
    from diffusers import StableVideoDiffusionPipeline

    pipe = StableVideoDiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        image,
        height=h,
        width=w,
        num_frames=frames,
        num_inference_steps=STEPS,
        max_guidance_scale=guidance,
        fps=fps,
        decode_chunk_size=8,
        generator=torch.Generator().manual_seed(SEED),
        latents=latents,
        output_type="np",
    ).frames[0]


def _png_frames(out):
    names = sorted(os.listdir(os.path.join(out, "frames")))
    return np.stack([np.asarray(Image.open(os.path.join(out, "frames", n))) for n in names])


@pytest.mark.parametrize(
    "name, w, h, n, frames, guidance",
    [("wan22-ti2v", 64, 64, 5, 5, 5.0), ("wan21-i2v", 64, 48, 6, 9, 5.0), ("svd", 64, 64, 4, 4, 3.0)],
)
def test_engine_without_shaping_is_the_stock_pipeline(tmp_path, tiny_models, spy, name, w, h, n, frames, guidance):
    folder = tiny_models[name]
    job = str(tmp_path / "job")
    make_bundle(job, n=n, w=w, h=h, model=folder)
    set_settings(job, steps=STEPS, seed=SEED, fps=float(FPS), guidance=guidance, prompt="a room", sns_enabled=False)
    result = Engine().run(job, str(tmp_path / "take"))
    assert result["sns"]["shaped_steps"] == [] and result["generated_frames"] == frames
    engine_call = spy.calls[-1]
    engine_frames = np.asarray(engine_call["output"].frames[0])

    # The latents the engine starts from: unit noise from the seed, in the pipeline's layout (the pipelines scale
    # it by their initial sigma themselves).
    pipe = engine_call["pipe"]
    if name == "svd":
        s = pipe.vae_scale_factor
        shape = (1, frames, pipe.unet.config.in_channels // 2, h // s, w // s)
    else:
        s, t = pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal
        shape = (1, pipe.vae.config.z_dim, (frames - 1) // t + 1, h // s, w // s)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(SEED))
    image = Image.open(os.path.join(job, "reference.png")).convert("RGB")
    stock = _stock_svd if name == "svd" else _stock_wan
    stock_frames = np.asarray(stock(folder, image, frames, h, w, guidance, latents))

    assert engine_frames.dtype == stock_frames.dtype and engine_frames.shape == stock_frames.shape
    assert np.array_equal(engine_frames, stock_frames), float(np.abs(engine_frames - stock_frames).max())
    # And what the engine wrote is that output, trimmed to the bundle's frames and rounded to 8 bits.
    expected = (np.clip(stock_frames[:n], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    assert np.array_equal(_png_frames(str(tmp_path / "take")), expected)
    if name == "svd":
        # The fps conditioning reaches this tiny UNet: SVD's default (7) would give another video, so the equality
        # above shows that the engine passes the bundle's fps.
        default_fps = np.asarray(_stock_svd(folder, image, frames, h, w, guidance, latents, fps=7))
        assert np.abs(default_fps - stock_frames).max() > 1e-3


@pytest.mark.parametrize("name", ["wan22-ti2v", "svd"])
def test_latents_stay_float32_under_a_low_precision_model(tmp_path, tiny_models, spy, name):
    """In bfloat16 the denoiser runs in bfloat16, but the latents the scheduler steps stay float32 (the pipelines
    keep the dtype they are given; SVD's Euler step casts back to the model output's dtype, so the UNet's output is
    cast up) and the VAE runs in float32."""
    job = str(tmp_path / "job")
    make_bundle(job, n=5 if name != "svd" else 4, w=64, h=64, model=tiny_models[name])
    set_settings(job, steps=3, threshold=0.5)
    result = Engine().run(job, str(tmp_path / "take"), RunOptions(dtype="bfloat16"))
    assert result["dtype"] == "bfloat16" and result["sns"]["shaped_steps"]
    call = spy.calls[-1]
    pipe = call["pipe"]
    denoiser = pipe.unet if name == "svd" else pipe.transformer
    assert denoiser.dtype == torch.bfloat16 and pipe.vae.dtype == torch.float32
    assert call["kwargs"]["latents"].dtype == torch.float32
    assert [s["before"].dtype for s in call["steps"]] == [torch.float32] * 3
    assert [s["after"].dtype for s in call["steps"]] == [torch.float32] * 3
