"""Wan image-to-video (2.1 I2V 480p/720p, 2.2 TI2V-5B): flow matching, causal video VAE.

Latents are (B, C, F', H/s, W/s) with F' = (F - 1) / 4 + 1, normalised per
channel by the VAE's latents_mean / latents_std. Wan 2.1 concatenates the image
condition on channels; Wan 2.2 TI2V-5B (expand_timesteps) overwrites latent
frame 0 with the image. Either way latent frame 0 belongs to the reference.

Traps of the default UniPC scheduler, both measured in the tests:
- its corrector rebuilds the sample from its own copy of the previous one,
  silently undoing latents replaced between steps, so the corrector is
  switched off for the steps that follow a shaped one;
- its second-order predictor combines the model output of the previous step
  (made from the latents before they were replaced) with the current one, so
  the step right after a replacement is forced to first order.
The first step of a job is first order anyway (the scheduler warms up).
"""

from __future__ import annotations

import numpy as np

from realcam_core.masks import latent_mask

from ..noise_level import level_from_flow_sigma
from .base import VideoAdapter


class WanAdapter(VideoAdapter):
    family = "wan"

    def load(self, model_id, device, dtype, offload, vae_tiling):
        import torch
        from diffusers import AutoencoderKLWan, WanImageToVideoPipeline

        # The Wan VAE is meant to run in float32 (bf16 shows banding); the rest in dtype.
        vae = AutoencoderKLWan.from_pretrained(model_id, subfolder="vae", dtype=torch.float32)
        pipe = WanImageToVideoPipeline.from_pretrained(model_id, vae=vae, dtype=dtype)
        if getattr(pipe, "image_encoder", None) is not None:
            pipe.image_encoder.to(torch.float32)
        if vae_tiling:
            pipe.vae.enable_tiling()
        return pipe

    def latent_shape(self, pipe, frames, height, width):
        s = pipe.vae_scale_factor_spatial
        t = pipe.vae_scale_factor_temporal
        return (1, pipe.vae.config.z_dim, (frames - 1) // t + 1, height // s, width // s)

    def encode_preview(self, pipe, video, generator):
        import torch
        from diffusers.pipelines.wan.pipeline_wan_i2v import retrieve_latents

        vae = pipe.vae
        device = pipe._execution_device
        x = video.permute(1, 0, 2, 3)[None].to(device=device, dtype=vae.dtype)  # (1, 3, F, H, W)
        z = retrieve_latents(vae.encode(x), sample_mode="argmax")
        mean = torch.tensor(vae.config.latents_mean, device=z.device, dtype=z.dtype).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std, device=z.device, dtype=z.dtype).view(1, -1, 1, 1, 1)
        return (z - mean) / std

    def latent_mask(self, pipe, mask, threshold):
        import torch

        m = latent_mask(mask, pipe.vae_scale_factor_spatial, pipe.vae_scale_factor_temporal, threshold)
        m[self.reference_latent_frames()] = False
        return torch.from_numpy(np.ascontiguousarray(m))[None, None]  # (1, 1, F', h, w)

    def noise(self, clean, eps, sigma):
        return (1.0 - sigma) * clean + sigma * eps

    def noise_level(self, sigma):
        return level_from_flow_sigma(sigma)

    def prepare_scheduler(self, pipe, shaped_steps):
        sched = pipe.scheduler
        if hasattr(sched, "disable_corrector"):
            self._saved_corrector = list(sched.disable_corrector)
            # The corrector of step k looks back at step k - 1's sample.
            sched.disable_corrector = sorted(set(self._saved_corrector) | {k - 1 for k in shaped_steps if k >= 1})

    def restore_scheduler(self, pipe):
        if hasattr(self, "_saved_corrector"):
            pipe.scheduler.disable_corrector = self._saved_corrector
            del self._saved_corrector

    def latents_replaced(self, pipe):
        sched = pipe.scheduler
        if hasattr(sched, "lower_order_nums"):
            # UniPC's order is min(solver_order, lower_order_nums + 1): 0 makes the next step first order,
            # so it uses only the model output of the replaced latents. The count grows again from there.
            sched.lower_order_nums = 0

    def call_arguments(self, image, job):
        return {
            "image": image,
            "prompt": job.prompt,
            "negative_prompt": job.negative_prompt or None,
            "height": job.height,
            "width": job.width,
            "num_frames": job.model_frames,
            "num_inference_steps": job.steps,
            "guidance_scale": job.guidance,
        }
