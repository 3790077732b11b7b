"""DynamiCrafter's noise schedule and DDIM sampler, as upstream runs them (lvdm ddpm3d.py and samplers/ddim.py).

- Betas: "linear" in sqrt space from 0.00085 to 0.012 over 1000 steps; the 512 model rescales them to zero
  terminal SNR (alpha_bar(999) = 0, pure noise at the first step).
- Steps: "uniform_trailing": t = 999, 959, ..., 39 for 25 steps. The step after the last goes to
  alpha_bar(0), not to 1 (upstream's alphas_prev).
- DDIM with eta (upstream's default 1.0): sigma_t = eta sqrt((1 - a_prev) / (1 - a) (1 - a / a_prev)),
  x_prev = sqrt(a_prev) x0 + sqrt(max(1 - a_prev - sigma_t^2, 0)) eps + sigma_t n.
- v-prediction (512): x0 = sqrt(a) x - sqrt(1 - a) v, eps = sqrt(a) v + sqrt(1 - a) x.
- Dynamic rescale (512): training scaled the clean latents by s(t) (1 -> 0.7 linearly over t < 400, 0.7
  above), so each step multiplies x0 by s(t_prev) / s(t).

For noise shaping, a step's `sigma` is the noise std of its latents, sqrt(1 - alpha_bar(t)) (finite, 1 at
zero SNR), and its level is t / 1000 of this model's own schedule: upstream shapes by DDPM index
(t >= 900), on the zero-SNR 512 model too.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import SamplingConfig


def betas(cfg: SamplingConfig) -> np.ndarray:
    b = np.linspace(cfg.linear_start**0.5, cfg.linear_end**0.5, cfg.timesteps, dtype=np.float64) ** 2
    if not cfg.zero_snr:
        return b
    root = np.sqrt(np.cumprod(1.0 - b))
    first, last = root[0], root[-1]
    root = (root - last) * first / (first - last)  # shift the last to 0, keep the first
    abar = root**2
    return 1.0 - np.concatenate([abar[:1], abar[1:] / abar[:-1]])


def alphas_cumprod(cfg: SamplingConfig) -> np.ndarray:
    return np.cumprod(1.0 - betas(cfg))


def trailing_timesteps(steps: int, total: int = 1000) -> np.ndarray:
    """Descending: 999, ..., spaced total / steps apart, rounded as upstream does."""
    return (np.round(np.arange(total, 0, -total / steps)).astype(np.int64) - 1)[:steps]


def latent_scales(cfg: SamplingConfig) -> np.ndarray:
    """s(t) of the dynamic rescale for t in 0..timesteps-1 (ones when the model has none)."""
    if not cfg.dynamic_rescale:
        return np.ones(cfg.timesteps)
    ramp = np.linspace(1.0, cfg.base_scale, cfg.turning_step)
    return np.concatenate([ramp, np.full(cfg.timesteps, cfg.base_scale)])[: cfg.timesteps]


class DDIMScheduler:
    """Upstream's DDIM over uniform-trailing steps; also what the engine reads (timesteps, sigmas)."""

    order = 1
    init_noise_sigma = 1.0

    def __init__(self, cfg: SamplingConfig, eta: float = 1.0):
        self.cfg = cfg
        self.eta = eta
        self.abar = alphas_cumprod(cfg)
        self.std = np.sqrt(1.0 - self.abar)  # increasing in t
        self.scales = latent_scales(cfg)
        self.set_timesteps(25)

    def set_timesteps(self, steps: int, device=None) -> None:
        ts = trailing_timesteps(steps, self.cfg.timesteps)
        self.num_inference_steps = steps
        self.timesteps = torch.from_numpy(ts).to(device or "cpu")
        a = self.abar[ts]
        a_prev = np.concatenate([a[1:], self.abar[:1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            var = (1.0 - a_prev) / (1.0 - a) * (1.0 - a / a_prev)
        self._a, self._a_prev = a, a_prev
        self._sigma_eta = self.eta * np.sqrt(np.nan_to_num(var))
        s = self.scales[ts]
        self._rescale = np.concatenate([s[1:], s[-1:]]) / s
        self.sigmas = torch.from_numpy(np.sqrt(1.0 - a))  # the engine's per-step noise std

    # -- noise shaping -----------------------------------------------------
    def level(self, sigma: float) -> float:
        """t / timesteps of the step whose noise std is sigma, on this model's own schedule."""
        t = float(np.interp(sigma, self.std, np.arange(self.cfg.timesteps, dtype=np.float64)))
        if abs(t - round(t)) < 1e-6:
            t = float(round(t))
        return t / self.cfg.timesteps

    @staticmethod
    def noise_to(clean, eps, sigma: float):
        """sqrt(alpha_bar) clean + sqrt(1 - alpha_bar) eps, with sigma = sqrt(1 - alpha_bar) (upstream's q_sample)."""
        return (max(1.0 - sigma * sigma, 0.0) ** 0.5) * clean + sigma * eps

    def add_noise(self, clean, eps, timesteps):
        """diffusers' signature: clean latents noised to DDPM timesteps (a tensor, one per batch item)."""
        t = np.asarray(torch.as_tensor(timesteps).cpu()).reshape(-1)
        a = torch.tensor(self.abar[t], dtype=clean.dtype, device=clean.device).view(-1, *[1] * (clean.ndim - 1))
        return a.sqrt() * clean + (1 - a).sqrt() * eps

    # -- sampling -------------------------------------------------------------
    def eps_and_x0(self, model_output, i: int, sample):
        """The model's output at step i as (predicted noise, predicted clean latents)."""
        a = float(self._a[i])
        if self.cfg.parameterization == "v":
            eps = a**0.5 * model_output + (1.0 - a) ** 0.5 * sample
            x0 = a**0.5 * sample - (1.0 - a) ** 0.5 * model_output
        else:
            eps = model_output
            x0 = (sample - (1.0 - a) ** 0.5 * model_output) / a**0.5
        return eps, x0

    def step(self, model_output, i: int, sample, generator=None, noise=None):
        """x at step i -> (x at step i + 1, predicted x0). noise: an explicit draw (tests), else from generator."""
        eps, x0 = self.eps_and_x0(model_output, i, sample)
        x0 = x0 * float(self._rescale[i])
        a_prev, sigma = float(self._a_prev[i]), float(self._sigma_eta[i])
        prev = a_prev**0.5 * x0 + max(1.0 - a_prev - sigma * sigma, 0.0) ** 0.5 * eps
        if sigma > 0:
            if noise is None:
                noise = torch.randn(sample.shape, generator=generator, dtype=torch.float32)
            prev = prev + sigma * noise.to(device=sample.device, dtype=sample.dtype)
        return prev, x0
