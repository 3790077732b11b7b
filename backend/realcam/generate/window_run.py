"""One run of the model: a whole shot, or one window of a long one (windows.py), with noise shaping, the speed
settings, progress events and cancellation at each step."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .job import JobCancelled, JobPlan
from .speed import SpeedRun
from .video import as_uint8_frames

LATENT_COVERAGE = 0.9  # a latent cell is shaped when this much of it is covered (upstream rule)


@dataclass
class WindowRun:
    """What one run of the model made: the frames (the plan's count, uint8 RGB), and how they were made."""

    frames: np.ndarray
    shaper: object  # the NoiseShaper: steps shaped, log
    camera_used: bool
    speed: dict
    camera_record: dict = field(default_factory=dict)  # the adapter's: scale and convention the camera entered at


def run_window(pipe, adapter, plan: JobPlan, device, image, scene, cameras, emit, cancel, timings, last_image=None):
    """One run of the model over plan.model_frames frames from `image`: a whole shot, or one window of a long one.

    scene: None (nothing to encode: noise shaping off, nothing held), or (video, mask, held): the video to encode
    ((F, 3, H, W) in [-1, 1], frame 0 the image), noise shaping's pixel mask (F, H, W) and the pixel frames whose
    latent frames are held at every step (F, H, W bool, or None). cameras: per generated frame, relative to its
    first. last_image: given to a model with a last-frame input. timings: encode_s, denoise_s, decode_s added."""
    import torch

    from .noise_shaping import NoiseShaper

    pipe.scheduler.set_timesteps(plan.steps, device=device)
    sigmas = [float(s) for s in pipe.scheduler.sigmas[: plan.steps]]

    emit({"stage": "encode"})
    t = time.perf_counter()
    shape = adapter.latent_shape(pipe, plan.model_frames, plan.height, plan.width)
    video, mask, held = scene if scene is not None else (None, None, None)
    if video is not None:
        with torch.inference_mode():
            clean = adapter.encode_preview(pipe, video, None).float().cpu()
    else:
        clean = torch.zeros(shape)
    if plan.sns_enabled:
        latent_mask = adapter.latent_mask(pipe, mask, LATENT_COVERAGE)
    else:
        latent_mask = torch.zeros((1,) * len(shape), dtype=torch.bool)
    keep = adapter.latent_mask(pipe, held, 0.5) if held is not None else None
    shaper = NoiseShaper(adapter, clean, latent_mask, sigmas, plan.threshold, plan.seed, plan.sns_enabled, keep=keep)
    camera_used = adapter.prepare_conditions(pipe, image, plan, cameras)
    timings["encode_s"] = timings.get("encode_s", 0.0) + time.perf_counter() - t

    # Starting noise from a CPU generator: the same seed gives the same video on any device. Unit noise, as
    # the pipelines draw it (they scale it by the initial sigma themselves), in float32 whatever the model's
    # dtype: the pipelines keep latents in the dtype they are given.
    gen = torch.Generator("cpu").manual_seed(plan.seed)
    start = torch.randn(shape, generator=gen, dtype=torch.float32)
    if 0 in shaper.shaped_steps:
        scale = adapter.initial_noise_scale(pipe)
        start = shaper.shape(start * scale, 0) / scale
    adapter.prepare_scheduler(pipe, shaper.shaped_steps)
    speed = SpeedRun(plan.speed, device, shaper.shaped_steps, plan.steps, adapter.step_cache_unsupported)

    step_times = []
    t_denoise = time.perf_counter()

    def on_step_end(p, i, t_, kwargs):
        now = time.perf_counter()
        step_times.append(now)
        done = i + 1
        per_step = (now - t_denoise) / done
        emit(
            {
                "stage": "denoise",
                "step": done,
                "total": plan.steps,
                "eta_s": round(per_step * (plan.steps - done), 2),
                "shaped": i + 1 in shaper.shaped_steps,
            }
        )
        if cancel.is_set():
            raise JobCancelled()
        latents = shaper.after_step(i, kwargs["latents"])
        speed.step_done(i)
        if i + 1 in shaper.shaped_steps:
            adapter.latents_replaced(p)
        if done == plan.steps:
            # The pipeline decodes the latents next, inside its call: the one sign of it a client can get.
            emit({"stage": "decode"})
        return {"latents": latents}

    emit({"stage": "denoise", "step": 0, "total": plan.steps, "eta_s": None})
    arguments = adapter.call_arguments(image, plan)
    if last_image is not None:
        arguments["last_image"] = last_image
    try:
        speed.start(pipe)
        with torch.inference_mode():
            out = pipe(
                **arguments,
                generator=torch.Generator("cpu").manual_seed(plan.seed),
                latents=start,
                output_type="np",
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=["latents"],
            )
    finally:
        speed.finish()
        adapter.restore_scheduler(pipe)
        adapter.clear_conditions(pipe)
        if hasattr(pipe, "maybe_free_model_hooks"):
            pipe.maybe_free_model_hooks()
    t_end = time.perf_counter()
    timings["denoise_s"] = timings.get("denoise_s", 0.0) + (step_times[-1] if step_times else t_end) - t_denoise
    timings["decode_s"] = timings.get("decode_s", 0.0) + t_end - (step_times[-1] if step_times else t_denoise)

    frames = as_uint8_frames(np.asarray(out.frames[0])[: plan.frames])  # fails on NaN or infinity
    return WindowRun(frames, shaper, camera_used, speed.report(), dict(getattr(adapter, "camera_record", {}) or {}))
