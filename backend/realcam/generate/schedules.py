"""How many sampling steps noise shaping acts on, per known model and threshold, before any weights are downloaded.

The schedulers below are the ones the published diffusers repositories ship
(Wan: diffusers' convert_wan_to_diffusers.py, flow_shift 5.0 for TI2V and 3.0
for the 2.1 I2V models; SVD-xt: its scheduler_config.json), or for the DMD
draft the sampler it was distilled for (dmd_scheduler.py). SHAPED_STEPS is
what `realcam models` lists (kept as data so the listing needs no torch); the
tests recompute it from these schedulers with the engine's own noise levels,
and check that the engine shapes those steps on tiny models built with the
same scheduler configurations.
"""

from __future__ import annotations

from .noise_level import shaped_steps

_WAN = {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "num_train_timesteps": 1000}
SVD_SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "sigma_max": 700.0,
    "sigma_min": 0.002,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "use_karras_sigmas": True,
}
# alias -> (scheduler class, its configuration)
PUBLISHED_SCHEDULERS = {
    "wan2.2-ti2v-5b": ("UniPCMultistepScheduler", {**_WAN, "flow_shift": 5.0}),
    "wan2.2-fun-5b-camera": ("UniPCMultistepScheduler", {**_WAN, "flow_shift": 5.0}),  # TI2V-5B's scheduler
    "wan2.1-i2v-14b-480p": ("UniPCMultistepScheduler", {**_WAN, "flow_shift": 3.0}),
    "wan2.1-i2v-14b-720p": ("UniPCMultistepScheduler", {**_WAN, "flow_shift": 3.0}),
    "svd-xt": ("EulerDiscreteScheduler", SVD_SCHEDULER),
    "fastwan2.2-ti2v-draft": ("DmdFlowScheduler", {}),  # its defaults are FastVideo's (dmd_scheduler.py)
}
# Thresholds `realcam models` reports: the default, the top of the reference DDPM range, and above it.
REPORTED_THRESHOLDS = (0.9, 1.0, 1.1, 1.2, 1.3, 1.5, 2.0)
# alias -> (default steps, steps shaped at each of REPORTED_THRESHOLDS); checked against the schedulers by the tests.
_WAN22 = (50, (19, 13, 8, 5, 3, 1, 1))
_WAN21 = (50, (14, 9, 6, 3, 2, 1, 1))
SHAPED_STEPS = {
    "wan2.2-ti2v-5b": _WAN22,
    "wan2.2-fun-5b-camera": _WAN22,
    "wan2.1-i2v-14b-480p": _WAN21,
    "wan2.1-i2v-14b-720p": _WAN21,
    "svd-xt": (25, (14, 13, 11, 10, 8, 4, 0)),
    # Step 1 only at every listed threshold: the levels are 3.0, 0.68, 0.38 (adapters/wan_dmd.py has the rule).
    "fastwan2.2-ti2v-draft": (3, (1, 1, 1, 1, 1, 1, 1)),
}


def step_levels(scheduler, adapter, steps: int) -> list[float]:
    """Noise level (noise_level.py) of each of `steps` sampling steps, as the engine computes them."""
    scheduler.set_timesteps(steps)
    return [adapter.noise_level(float(s)) for s in scheduler.sigmas[:steps]]


def published_levels(alias: str, steps: int | None = None) -> list[float]:
    """Noise levels of a known model's steps (default count) under its published scheduler (imports diffusers)."""
    import diffusers

    from . import dmd_scheduler
    from .adapters import resolve_video_model

    cls_name, config = PUBLISHED_SCHEDULERS[alias]
    _, spec, adapter = resolve_video_model(alias)
    cls = getattr(diffusers, cls_name, None) or getattr(dmd_scheduler, cls_name)
    return step_levels(cls.from_config(config), adapter, steps or spec.default_steps)


def shaped_counts(levels, thresholds=REPORTED_THRESHOLDS, rule=shaped_steps) -> tuple[int, ...]:
    """Steps shaped at each threshold, by a rule (default: level at or above it; adapters may have their own)."""
    return tuple(len(rule(levels, t)) for t in thresholds)


def published_counts(alias: str) -> tuple[int, ...]:
    """shaped_counts of a known model's default steps under its published scheduler and its adapter's rule."""
    from .adapters import resolve_video_model

    return shaped_counts(published_levels(alias), rule=resolve_video_model(alias)[2].shaped_steps)


def shaping_summary(alias: str) -> dict | None:
    """{"steps": N, "shaped": {"0.9": k, ...}} for a known model, from SHAPED_STEPS; None for others."""
    if alias not in SHAPED_STEPS:
        return None
    steps, counts = SHAPED_STEPS[alias]
    return {"steps": steps, "shaped": {f"{t:g}": k for t, k in zip(REPORTED_THRESHOLDS, counts, strict=True)}}
