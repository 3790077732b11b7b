"""Scene-constrained noise shaping (RealCam-I2V), over any adapter's pipeline.

At every sampling step whose noise level (noise_level.py) is at or above the
threshold, before the denoiser sees the latents, the latents of covered,
non-edge preview pixels are replaced by the preview's own latents noised to
that step's level with fresh noise:

    z_t <- m * (alpha_t z_preview + sigma_t eps) + (1 - m) * z_t

Which steps those are is the adapter's rule (VideoAdapter.shaped_steps; a
few-step re-noising sampler has its own, adapters/wan_dmd.py).
Step 0 is shaped in the starting latents handed to the pipeline; step k >= 1
in the step-end callback of step k - 1, whose latents are already at step k's
noise level (diffusers calls it after scheduler.step). The reference latent
frames are off in the mask, so they are never touched.

Held cells (`keep`, optional): latent cells replaced the same way at every
step, whatever its noise level (RePaint-style inpainting along time). A window
of a long shot holds the latent frames it shares with the window before to that
window's frames, and a take that must end on an image (a loop, a transition, on
a model without a last-frame input) holds its last latent frame to that image;
`clean` then holds those frames' latents, and after the last step the held
cells are set to them exactly. The log lists the noise-shaping steps only;
`held_steps` says where held cells were replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ShapedStep:
    step: int
    sigma: float
    level: float
    cells: int  # latent cells replaced (per channel)


@dataclass
class NoiseShaper:
    adapter: object
    clean: object  # preview latents, pipeline layout and scale
    mask: object  # bool tensor broadcastable to the latents
    sigmas: list  # scheduler sigma of each step (len >= steps)
    threshold: float
    seed: int
    enabled: bool = True
    log: list = field(default_factory=list)
    keep: object = None  # bool tensor broadcastable to the latents: cells held to `clean` at every step

    def __post_init__(self):
        import torch

        self.steps = len(self.sigmas)
        self.levels = [self.adapter.noise_level(float(s)) for s in self.sigmas]
        self.sns_steps = self.adapter.shaped_steps(self.levels, self.threshold) if self.enabled else []
        self.held_steps = list(range(self.steps)) if self.keep is not None and bool(self.keep.any()) else []
        # Every step whose latents are replaced (the engine keeps the scheduler from undoing it on each).
        self.shaped_steps = sorted(set(self.sns_steps) | set(self.held_steps))
        # Its own generator: the shaping noise never shifts the pipeline's noise stream.
        self._gen = torch.Generator("cpu").manual_seed((self.seed + 0x5EED) % 2**63)

    def shape(self, latents, step: int):
        """Latents at `step`'s noise level, shaped if it is a shaped step."""
        import torch

        if step not in self.shaped_steps:
            return latents
        sigma = float(self.sigmas[step])
        eps = torch.randn(self.clean.shape, generator=self._gen, dtype=torch.float32)
        eps = eps.to(device=latents.device, dtype=latents.dtype)
        clean = self.clean.to(device=latents.device, dtype=latents.dtype)
        mask = None
        if step in self.sns_steps:
            mask = self.mask.to(latents.device)
            self.log.append(ShapedStep(step, sigma, self.levels[step], int(mask.sum())))
        if step in self.held_steps:
            keep = self.keep.to(latents.device)
            mask = keep if mask is None else (mask | keep)
        noised = self.adapter.noise(clean, eps, sigma)
        return torch.where(mask, noised, latents)

    def after_step(self, step_done: int, latents):
        """For the step-end callback of `step_done`: shape for the next step."""
        nxt = step_done + 1
        if nxt < self.steps:
            return self.shape(latents, nxt)
        if self.held_steps:
            # After the last step the held cells are their clean latents (noise level 0), as inpainting ends: the
            # carried frames decode as the frames they were encoded from, not as one denoising step from them.
            import torch

            keep = self.keep.to(latents.device)
            return torch.where(keep, self.clean.to(device=latents.device, dtype=latents.dtype), latents)
        return latents
