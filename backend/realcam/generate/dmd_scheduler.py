"""The few-step DMD sampler FastWan2.2 was distilled for, as a diffusers scheduler.

FastVideo's FastWan2.2-TI2V-5B (DMD-distilled Wan 2.2 TI2V-5B) is sampled by
FastVideo's own `DmdDenoisingStage` (hao-ai-lab/FastVideo,
fastvideo/pipelines/stages/denoising.py), not by the scheduler its repository
names: the published `model_index.json` says `WanDMDPipeline`, a FastVideo class
that diffusers does not have, beside the base model's UniPC scheduler config,
which that stage never uses. What the stage does, per step i of the timestep list
[1000, 757, 522] (`FastWan2_2_TI2V_5B_Config.dmd_denoising_steps`; the
distillation recipe uses the same list without warping):

    sigma_i  = the sigma of FlowMatchEulerDiscreteScheduler(shift=8) whose training
               timestep is nearest to t_i (1.0, 0.7568, 0.5217)
    x0       = x_i - sigma_i * model(x_i, t_i)          (flow prediction -> clean latent)
    x_{i+1}  = (1 - sigma_{i+1}) * x0 + sigma_{i+1} * eps,   eps fresh N(0, I)
    output   = x0 of the last step (no re-noising after it)

The model is told the integer timestep t_i itself. This class does exactly that
behind diffusers' scheduler interface (`set_timesteps`, `step`, `add_noise`,
`sigmas` with a trailing 0, `step_index`), so diffusers' own
`WanImageToVideoPipeline` drives it like any scheduler. The pipeline does not
pass its generator to `step`, so the re-noising noise comes from a generator
set per job (`set_noise_generator`), drawn on the CPU in float32 so a seed gives
the same video on any device. `last_x0` keeps the last clean prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput

FASTWAN_DMD_TIMESTEPS = (1000, 757, 522)
FASTWAN_LOOKUP_SHIFT = 8.0  # the shift of the scheduler DmdDenoisingStage looks sigmas up in


@dataclass
class DmdSchedulerOutput(BaseOutput):
    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


def lookup_grid(shift: float, num_train_timesteps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(training timesteps, sigmas) of a shifted flow-matching schedule, as FlowMatchEulerDiscreteScheduler builds
    them in its constructor: N timesteps from N down to 1, sigma = t / N shifted by s -> shift s / (1 + (shift-1) s)."""
    n = num_train_timesteps
    sigmas = np.linspace(1, n, n, dtype=np.float32)[::-1].copy() / n
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    return sigmas * n, sigmas


class DmdFlowScheduler(SchedulerMixin, ConfigMixin):
    """DMD sampling: predict the clean latent, re-noise it to the next listed timestep with fresh noise."""

    config_name = "scheduler_config.json"
    _compatibles: list = []
    order = 1

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        shift: float = FASTWAN_LOOKUP_SHIFT,
        denoising_timesteps: tuple = FASTWAN_DMD_TIMESTEPS,
    ):
        grid_t, grid_s = lookup_grid(shift, num_train_timesteps)
        self._grid_t = torch.from_numpy(grid_t.astype(np.float64))
        self._grid_s = torch.from_numpy(grid_s.astype(np.float64))
        self.init_noise_sigma = 1.0
        self.generator: torch.Generator | None = None
        self.last_x0: torch.Tensor | None = None
        self.set_timesteps(len(denoising_timesteps))

    def sigma_for(self, timestep: float) -> float:
        """Sigma of the training timestep nearest to `timestep` (the stage's argmin lookup)."""
        return float(self._grid_s[int(torch.argmin((self._grid_t - float(timestep)).abs()))])

    def set_timesteps(self, num_inference_steps: int | None = None, device=None, **_):
        """The first `num_inference_steps` of the distilled timestep list (all of them by default)."""
        listed = list(self.config.denoising_timesteps)
        n = len(listed) if num_inference_steps is None else int(num_inference_steps)
        if not 1 <= n <= len(listed):
            raise ValueError(f"this model was distilled for at most {len(listed)} steps ({listed}); asked for {n}")
        self.num_inference_steps = n
        self.timesteps = torch.tensor(listed[:n], dtype=torch.float32, device=device)
        sigmas = [self.sigma_for(t) for t in listed[:n]] + [0.0]
        self.sigmas = torch.tensor(sigmas, dtype=torch.float32)  # on the CPU, as diffusers' flow schedulers keep them
        self._step_index = None
        self._begin_index = None
        self.last_x0 = None

    @property
    def step_index(self):
        return self._step_index

    @property
    def begin_index(self):
        return self._begin_index

    def set_begin_index(self, begin_index: int = 0):
        self._begin_index = begin_index

    def set_noise_generator(self, generator: torch.Generator | None) -> None:
        """Where the re-noising noise comes from (a CPU generator; None: torch's global one)."""
        self.generator = generator

    def _index_of(self, timestep) -> int:
        t = float(timestep.flatten()[0]) if isinstance(timestep, torch.Tensor) else float(timestep)
        return int(torch.argmin((self.timesteps.cpu() - t).abs()))

    def scale_model_input(self, sample: torch.Tensor, timestep=None) -> torch.Tensor:
        return sample

    def step(self, model_output, timestep, sample, generator=None, return_dict: bool = True):
        if self._step_index is None:
            self._step_index = self._begin_index if self._begin_index is not None else self._index_of(timestep)
        i = self._step_index
        sigma = float(self.sigmas[i])
        # In float64 as the stage does it, whatever the model's dtype.
        x0 = (sample.double() - sigma * model_output.double()).to(torch.float32)
        self.last_x0 = x0
        if i + 1 < self.num_inference_steps:
            nxt = float(self.sigmas[i + 1])
            eps = torch.randn(sample.shape, generator=generator or self.generator, dtype=torch.float32)
            prev = (1.0 - nxt) * x0 + nxt * eps.to(x0.device)
        else:
            prev = x0
        prev = prev.to(sample.dtype)
        self._step_index = i + 1
        if not return_dict:
            return (prev, x0)
        return DmdSchedulerOutput(prev_sample=prev, pred_original_sample=x0)

    def add_noise(self, original_samples, noise, timesteps):
        """Flow-matching noising to the sigma of each timestep (looked up like the stage's add_noise)."""
        ts = timesteps.flatten().tolist() if isinstance(timesteps, torch.Tensor) else [timesteps]
        sigma = torch.tensor([self.sigma_for(t) for t in ts], dtype=original_samples.dtype)
        sigma = sigma.to(original_samples.device).view(-1, *([1] * (original_samples.ndim - 1)))
        return (1.0 - sigma) * original_samples + sigma * noise

    def __len__(self):
        return self.config.num_train_timesteps
