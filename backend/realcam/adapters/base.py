"""What the engine needs to know about an image-to-video model family.

One adapter per diffusers pipeline family. An adapter knows the family's
limits (sizes, frame-count rule, fps), how to load it, how preview frames become
latents laid out and scaled exactly like the pipeline's own, which latent
frames hold the reference image, and how the pipeline's scheduler noises a
clean latent. Noise shaping itself (sns.py) is model-independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelSpec:
    """Limits of one model (a family's variant)."""

    name: str
    family: str
    native_sizes: tuple  # ((w, h), ...), first is the default
    size_multiple: int  # both sides must be multiples of this
    max_pixels: int
    max_frames: int
    temporal_factor: int  # pixel frames per latent frame (1 = per-frame VAE); counts are t*k+1
    native_fps: float
    default_steps: int
    default_guidance: float
    licence: str
    max_steps: int = 1000  # Wan's UniPC repeats integer timesteps past ~200 steps and fails

    def frame_count_for(self, n: int) -> int:
        """Smallest frame count the model can make that covers n frames."""
        t = self.temporal_factor
        if t <= 1:
            return max(n, 2)
        k = max(1, -(-(n - 1) // t))
        return t * k + 1

    def problems(self, width: int, height: int, frames: int, steps: int | None = None) -> list[str]:
        sizes = " or ".join(f"{w}x{h}" for w, h in self.native_sizes)
        allowed = (
            f"{self.name} makes videos of {sizes} (any size with sides multiple of {self.size_multiple} "
            f"and at most {self.max_pixels} pixels works, less well)"
        )
        out = []
        if width % self.size_multiple or height % self.size_multiple or width * height > self.max_pixels:
            out.append(f"{width}x{height} is not a size this model can make: {allowed}")
        if self.frame_count_for(frames) > self.max_frames:
            out.append(
                f"{frames} frames is longer than {self.name} can generate at once (at most {self.max_frames} "
                f"frames, {self.max_frames / self.native_fps:.1f} s at its native {self.native_fps:g} fps); "
                "shorten the frame range or split the shot"
            )
        if steps is not None and steps > self.max_steps:
            out.append(f"{steps} steps is more than {self.name} supports ({self.max_steps})")
        return out


class VideoAdapter:
    """Base of the family adapters; the methods below are what the engine calls."""

    family = ""
    spec: ModelSpec

    def __init__(self, spec: ModelSpec):
        self.spec = spec

    # -- loading --------------------------------------------------------------
    def load(self, model_id: str, device: str, dtype, offload: str, vae_tiling: bool):
        raise NotImplementedError

    # -- latents --------------------------------------------------------------
    def latent_shape(self, pipe, frames: int, height: int, width: int) -> tuple:
        raise NotImplementedError

    def encode_preview(self, pipe, video, generator):
        """Preview video (F, 3, H, W) in [-1, 1] -> clean latents in the pipeline's layout and scale."""
        raise NotImplementedError

    def latent_mask(self, pipe, mask: np.ndarray, threshold: float):
        """(F, H, W) bool pixel mask -> bool tensor broadcastable to the latents, reference frames off."""
        raise NotImplementedError

    def reference_latent_frames(self) -> list[int]:
        return [0]

    # -- noise ----------------------------------------------------------------
    def noise(self, clean, eps, sigma: float):
        """A clean latent noised to the scheduler's sigma."""
        raise NotImplementedError

    def noise_level(self, sigma: float) -> float:
        """Model-independent noise level (noise_level.py) of a scheduler sigma."""
        raise NotImplementedError

    def initial_noise_scale(self, pipe) -> float:
        """Std of the pipeline's starting latents; it multiplies latents passed in by this."""
        return 1.0

    def prepare_scheduler(self, pipe, shaped_steps: list[int]) -> None:
        """Make the scheduler keep latents replaced between steps (default: nothing to do)."""

    def restore_scheduler(self, pipe) -> None:
        pass

    # -- running --------------------------------------------------------------
    def call_arguments(self, image, job) -> dict:
        raise NotImplementedError
