"""What the engine needs to know about an image-to-video model family.

One adapter per diffusers pipeline family. An adapter knows the family's
limits (sizes, frame-count rule, fps), how to load it, how preview frames become
latents laid out and scaled exactly like the pipeline's own, which latent
frames hold the reference image, and how the pipeline's scheduler noises a
clean latent. Noise shaping itself (noise_shaping.py) is model-independent.
"""

from __future__ import annotations

import numpy as np

from realcam_core.models import ModelSpec

from .. import noise_level


class VideoAdapter:
    """Base of the family adapters; the methods below are what the engine calls."""

    family = ""
    has_camera_condition = False  # the model itself is told the camera (beside noise shaping)
    step_cache_unsupported: str | None = None  # why a step cache cannot help this model's sampler, if it cannot
    spec: ModelSpec

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.camera_record: dict = {}  # what the camera entered as (scale, convention, intrinsics), for result.json

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

    def shaped_steps(self, levels: list[float], threshold: float) -> list[int]:
        """The steps noise shaping acts on, from each step's noise level: those at or above the threshold."""
        return noise_level.shaped_steps(levels, threshold)

    def initial_noise_scale(self, pipe) -> float:
        """Std of the pipeline's starting latents; it multiplies latents passed in by this."""
        return 1.0

    def prepare_scheduler(self, pipe, shaped_steps: list[int]) -> None:
        """Make the scheduler keep latents replaced between steps (default: nothing to do)."""

    def restore_scheduler(self, pipe) -> None:
        pass

    def latents_replaced(self, pipe) -> None:
        """Called after noise shaping replaced the latents for the next step (default: nothing to do)."""

    # -- running --------------------------------------------------------------
    def prepare_job(self, pipe, job) -> None:
        """Per job, before the engine reads the schedule (e.g. the sampler a job asks for); default: nothing."""

    def call_arguments(self, image, job) -> dict:
        raise NotImplementedError

    def prepare_conditions(self, pipe, image, job, cameras) -> bool:
        """Set up the job's conditions that are not call arguments; returns whether the camera one is used.

        cameras: per generated frame (F, 4) fx, fy, cx, cy in pixels and (F, 4, 4) c2w relative to frame 0."""
        return False

    def clear_conditions(self, pipe) -> None:
        pass
