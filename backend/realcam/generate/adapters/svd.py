"""Stable Video Diffusion img2vid(-xt): EDM / Euler (v-prediction, Karras sigmas), per-frame VAE.

Latents are (B, F, 4, H/8, W/8) scaled by the VAE's scaling_factor; noised as
z + sigma n. The image enters as a CLIP embedding plus a VAE latent
concatenated on channels; frame 0 of the video is the reference.

Precision: the VAE always runs in float32 (the pipeline itself upcasts an
fp16 VAE, as its config's force_upcast asks, but only to encode the photo);
the latents stay in float32 too and the UNet alone runs in the job's dtype
(its input cast down, its output up). Otherwise the Euler step, which casts
its result to the model output's dtype, rounds the latents to bf16 at every
step, as it does when the pipeline draws its own latents.
"""

from __future__ import annotations

import numpy as np

from realcam_core.masks import latent_mask

from ..noise_level import level_from_edm_sigma
from .base import VideoAdapter


class SvdAdapter(VideoAdapter):
    family = "svd"

    def load(self, model_id, device, dtype, offload, vae_tiling):
        import torch
        from diffusers import AutoencoderKLTemporalDecoder, StableVideoDiffusionPipeline

        vae = AutoencoderKLTemporalDecoder.from_pretrained(model_id, subfolder="vae", dtype=torch.float32)
        pipe = StableVideoDiffusionPipeline.from_pretrained(model_id, vae=vae, dtype=dtype)
        if pipe.unet.dtype != torch.float32:
            _float32_latents_around(pipe.unet)
        return pipe

    def latent_shape(self, pipe, frames, height, width):
        s = pipe.vae_scale_factor
        return (1, frames, pipe.unet.config.in_channels // 2, height // s, width // s)

    def encode_preview(self, pipe, video, generator, chunk: int = 8):
        import torch

        vae = pipe.vae
        device = pipe._execution_device
        out = []
        for i in range(0, video.shape[0], chunk):
            x = video[i : i + chunk].to(device=device, dtype=vae.dtype)
            out.append(vae.encode(x).latent_dist.mode() * vae.config.scaling_factor)
        return torch.cat(out)[None]  # (1, F, 4, h, w)

    def latent_mask(self, pipe, mask, threshold):
        import torch

        m = latent_mask(mask, pipe.vae_scale_factor, 1, threshold)
        m[self.reference_latent_frames()] = False
        return torch.from_numpy(np.ascontiguousarray(m))[None, :, None]  # (1, F, 1, h, w)

    def noise(self, clean, eps, sigma):
        return clean + sigma * eps

    def noise_level(self, sigma):
        return level_from_edm_sigma(sigma)

    def initial_noise_scale(self, pipe):
        return float(pipe.scheduler.init_noise_sigma)

    def call_arguments(self, image, job):
        return {
            "image": image,
            "height": job.height,
            "width": job.width,
            "num_frames": job.model_frames,
            "num_inference_steps": job.steps,
            "min_guidance_scale": 1.0,
            "max_guidance_scale": job.guidance,
            "fps": job.fps,  # the frame rate the video plays at, which SVD is conditioned on (default 7)
            "decode_chunk_size": 8,
        }


def _float32_latents_around(unet) -> None:
    """Let float32 latents through a lower-precision UNet: its input cast to its dtype, its output to float32."""
    import torch

    def cast_in(module, args, kwargs):
        if args:
            return (args[0].to(module.dtype), *args[1:]), kwargs
        return args, {**kwargs, "sample": kwargs["sample"].to(module.dtype)}

    def cast_out(module, args, kwargs, out):
        if isinstance(out, tuple):
            return (out[0].to(torch.float32), *out[1:])
        out.sample = out.sample.to(torch.float32)
        return out

    unet.register_forward_pre_hook(cast_in, with_kwargs=True)
    unet.register_forward_hook(cast_out, with_kwargs=True)
