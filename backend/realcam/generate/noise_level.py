"""One noise level for every scheduler, so an SNS threshold means the same thing on every model.

Upstream (RealCam-I2V on DynamiCrafter) shapes the steps whose DDPM timestep
index is >= 900 of 1000 ("t > 0.9"). Other models count noise differently: flow
matching mixes z = (1 - s) x + s n, EDM adds z = x + sigma n. All of them have a
noise-to-signal ratio (NSR: noise std over signal scale):

    DDPM   nsr = sqrt((1 - abar) / abar)
    flow   nsr = s / (1 - s)
    EDM    nsr = sigma

The noise level of a step is the DDPM index, divided by 1000, at which
DynamiCrafter's own schedule (scaled-linear betas 0.00085 -> 0.012, 1000
steps) has that NSR. So level 0.9 is exactly upstream's t = 900 whatever the
model, and a threshold of 0.8 is upstream's 800 (their CogVideoX port).
Level 0.9 is NSR 8.35: flow-matching s = 0.893, EDM sigma = 8.35.

Past the schedule's last step (t = 999, NSR 14.61) the scale goes on in
log-NSR at the rate of that last step: each further 0.001 multiplies the NSR
by 1.0061 (+0.1 is x1.83, +1.0 is x430). Flow and EDM models start far noisier
than DynamiCrafter ever is (Wan's first step has NSR ~1e6, SVD-xt's 700), so
their early steps read above 1: thresholds above 1 shape fewer of them, e.g.
upstream's zero-SNR 512 model's t = 900 (NSR 18.35) is level 1.037. Levels are
capped at MAX_LEVEL (NSR 2.7e6, in practice pure noise).
"""

from __future__ import annotations

import numpy as np

_T = 1000
_BETAS = np.linspace(0.00085**0.5, 0.012**0.5, _T, dtype=np.float64) ** 2
_ABAR = np.cumprod(1.0 - _BETAS)
_NSR = np.sqrt((1.0 - _ABAR) / _ABAR)  # increasing with t
_LOG_RATE = float(np.log(_NSR[-1] / _NSR[-2]))  # ln NSR per DDPM step at the schedule's end
MAX_LEVEL = 3.0


def level_from_nsr(nsr: float) -> float:
    """Model-independent noise level in [0, MAX_LEVEL] of a noise-to-signal ratio."""
    if not nsr > 0:
        return 0.0
    if not np.isfinite(nsr):
        return MAX_LEVEL
    if nsr > _NSR[-1]:
        t = (_T - 1) + np.log(nsr / _NSR[-1]) / _LOG_RATE
        return float(min(t / _T, MAX_LEVEL))
    return float(np.interp(nsr, _NSR, np.arange(_T, dtype=np.float64)) / _T)


def level_from_flow_sigma(s: float) -> float:
    if s >= 1.0:
        return MAX_LEVEL
    return level_from_nsr(s / (1.0 - s))


def level_from_edm_sigma(sigma: float) -> float:
    return level_from_nsr(sigma)


def shaped_steps(levels, threshold: float) -> list[int]:
    """The steps noise shaping acts on: those whose level is at or above the threshold."""
    return [i for i, lv in enumerate(levels) if lv >= threshold]
