"""FastWan2.2-TI2V-5B (FastVideo, DMD-distilled Wan 2.2 TI2V-5B): the draft model, 3 steps, no guidance.

The weights are Wan 2.2 TI2V-5B's architecture in the diffusers layout
(transformer, 48-channel VAE, UMT5, tokenizer), so diffusers' TI2V pipeline
runs it (latent frame 0 is the photo, its tokens at timestep 0) with the
sampler it was distilled for (dmd_scheduler.py) in place of the scheduler its
repository lists. Everything about latents and masks is WanAdapter's.

Noise shaping on a few-step re-noising sampler
----------------------------------------------
The DMD sampler does not walk down the noise levels: each call jumps from its
sigma_i to a clean prediction x0_i, and the next step starts from x0_i re-noised
with fresh noise, x_{i+1} = (1 - s_{i+1}) x0_i + s_{i+1} eps. So

1. all that call i decides for the levels (s_{i+1}, s_i] reaches the rest of
   the sampling through x0_i alone, the noise being fresh;
2. shaping the re-noised latent of step i + 1 with the SNS formula,
   m ((1 - s) z_preview + s eps') + (1 - m) x_{i+1}, is exactly re-noising the
   clean prediction with the preview pasted in, x0' = m z_preview + (1 - m) x0_i,
   with the preview's noise inside the mask: preview on the re-noised latent and
   on the predicted clean latent are one and the same operation here;
3. step 0 is pure noise (s = 1): shaped, (1 - 1) z_preview + eps is noise again,
   so the preview cannot enter there; and after the last call nothing denoises
   any more: pasting the preview into the final x0 would copy its pixels (hole
   borders, point-render texture) into the video, which SNS never does.

Upstream (RealCam-I2V) shapes the noise levels at or above the threshold (0.9:
t >= 900), where layout is decided. Here call 0 decides every level from s_1 up
(0.68 to 3 on the model-independent scale, noise_level.py: the whole of
upstream's shaped range), and by (1) the only way the preview can take part in
that decision is through what call 0 hands on, i.e. by (2) shaping step 1. Hence
the rule: step k >= 1 is shaped when the levels decided by call k - 1 reach the
threshold, level(s_{k-1}) >= threshold; step 0 never (by 3), the final
prediction never. With the published sigmas 1.0, 0.757, 0.522 (levels 3.0, 0.68,
0.38): the default 0.9 shapes step 1 (the preview at weight 0.24, NSR 3.1),
thresholds up to 0.68 shape steps 1 and 2. tests/test_draft.py checks each of
these on a tiny model in the published layout.
"""

from __future__ import annotations

import json
import os

from ...errors import UserError
from ..dmd_scheduler import DmdFlowScheduler
from .wan import WanAdapter

RENOISE_SEED_OFFSET = 0xD3D  # the re-noising stream is its own, apart from the starting noise and SNS noise


def is_ti2v_dmd_folder(folder: str) -> bool:
    """Whether a local WanDMDPipeline folder holds a TI2V-5B (48-channel) model, not a text-only FastWan 2.1."""
    try:
        with open(os.path.join(folder, "transformer", "config.json"), encoding="utf-8") as fh:
            return json.load(fh).get("in_channels") == 48
    except (OSError, ValueError):
        return False


class WanDmdAdapter(WanAdapter):
    family = "wan-dmd"
    # Its 3 steps each start from fresh noise: there is nothing a step cache could reuse.
    step_cache_unsupported = "a 3-step re-noising (DMD) sampler: each step starts from fresh noise, nothing to reuse"

    def load(self, model_id, device, dtype, offload, vae_tiling):
        import torch
        from diffusers import AutoencoderKLWan, WanImageToVideoPipeline

        # Its model_index names FastVideo's WanDMDPipeline and the base model's UniPC scheduler: the parts are
        # loaded into diffusers' TI2V pipeline with the sampler the model was distilled for.
        vae = AutoencoderKLWan.from_pretrained(model_id, subfolder="vae", dtype=torch.float32)
        pipe = WanImageToVideoPipeline.from_pretrained(
            model_id,
            vae=vae,
            scheduler=DmdFlowScheduler(),
            image_encoder=None,
            image_processor=None,
            transformer_2=None,
            boundary_ratio=None,
            expand_timesteps=True,
            dtype=dtype,
        )
        if pipe.transformer.config.in_channels != 48:
            raise UserError(f"{model_id}: not a TI2V-5B DMD model (its transformer takes 48 latent channels)")
        if vae_tiling:
            pipe.vae.enable_tiling()
        return pipe

    def shaped_steps(self, levels, threshold):
        """Step k >= 1 when call k - 1 decided levels reaching the threshold (module docstring)."""
        return [k for k in range(1, len(levels)) if levels[k - 1] >= threshold]

    def prepare_conditions(self, pipe, image, job, cameras) -> bool:
        import torch

        pipe.scheduler.set_noise_generator(torch.Generator("cpu").manual_seed((job.seed + RENOISE_SEED_OFFSET) % 2**63))
        return False

    def clear_conditions(self, pipe) -> None:
        pipe.scheduler.set_noise_generator(None)
