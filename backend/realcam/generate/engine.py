"""Running a job bundle through an image-to-video model with noise shaping.

`Engine.run(bundle, out)` runs the shot through windows.py (one window when it fits the model, else the model's
windows, each a `run_window`: window_run.py) and writes, together or not at all (take.py):
    video.mp4      H.264 at the bundle's fps, exactly the bundle's frame count
    frames/0000.png ...
    result.json    model, seed, steps, SNS settings and shaped steps, camera condition, speed settings used
                   (step cache, compilation: speed.py), timings, peak memory

The pipeline is loaded once and kept for the next job with the same model.
Progress goes to a caller's `on_event`; a set `cancel` event stops the job
before the next denoising step, leaving nothing behind.
"""

from __future__ import annotations

import functools
import os
import threading
import time

import numpy as np

from realcam_core.bundle import BundleError, load_bundle
from realcam_core.models import known_model

from .. import __version__
from ..errors import UserError
from ..runtime import hub_cache
from .job import JobCancelled, JobPlan, RunOptions, device_and_dtype, plan_job
from .take import camera_accuracy, write_outputs
from .video import video_rate


class Engine:
    """Runs jobs; keeps the last pipeline loaded. One job at a time."""

    def __init__(self):
        self._loaded = None  # (key, pipe)
        self._lock = threading.Lock()

    def loaded_model(self) -> str | None:
        return self._loaded[0][0] if self._loaded else None

    def unload(self) -> None:
        import gc

        import torch

        self._loaded = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _pipeline(self, plan: JobPlan, adapter, options: RunOptions, device, dtype):
        key = (plan.model_id, device, str(dtype), options.offload, options.vae_tiling)
        if self._loaded and self._loaded[0] == key:
            return self._loaded[1], False
        self.unload()  # free the old model before loading the next
        try:
            pipe = adapter.load(plan.model_id, device, dtype, options.offload, options.vae_tiling)
        except (OSError, ValueError) as e:
            raise UserError(_missing_video_weights(plan.model_id, e)) from None
        offload = options.offload
        if offload == "auto":
            offload = "model" if device.startswith("cuda") else "none"
        if offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        elif offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=device)
        else:
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        self._loaded = (key, pipe)
        return pipe, True

    def run(self, bundle_dir, out_dir, options: RunOptions | None = None, on_event=None, cancel=None) -> dict:
        with self._lock:
            return self._run(os.fspath(bundle_dir), os.fspath(out_dir), options or RunOptions(), on_event, cancel)

    def _run(self, bundle_dir, out_dir, options, on_event, cancel) -> dict:
        import torch

        from .windows import run_shot

        emit = on_event or (lambda event: None)
        cancel = cancel or threading.Event()
        t_start = time.perf_counter()
        try:
            bundle = load_bundle(bundle_dir)
        except BundleError as e:
            raise UserError(f"{bundle_dir}: not a valid job bundle: {e}") from None
        plan, spec, adapter = plan_job(bundle, options.model, options.allow_local_models, options.speed)
        device, dtype = device_and_dtype(options)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        timings = {}

        emit({"stage": "load", "model": plan.model_id})
        t = time.perf_counter()
        pipe, loaded_now = self._pipeline(plan, adapter, options, device, dtype)
        timings["load_s"] = time.perf_counter() - t
        if cancel.is_set():
            raise JobCancelled()

        if adapter.has_camera_condition and plan.camera_condition and bundle.depth:
            plan.depth_m = np.load(os.path.join(bundle_dir, bundle.depth), allow_pickle=False)
        adapter.prepare_job(pipe, plan)  # before any window reads the schedule: it may pick the sampler
        # The shot as the model's windows (one when it fits), each a run_window; generate/windows.py.
        shot = run_shot(pipe, adapter, spec, plan, bundle, bundle_dir, options, device, emit, cancel, timings)
        frames = shot.frames
        if cancel.is_set():
            raise JobCancelled()

        emit({"stage": "write"})
        t = time.perf_counter()
        result = {
            "realcam_version": __version__,
            "model": plan.model_id,
            "model_name": plan.model_name,
            "model_licence": spec.licence,
            "width": plan.width,
            "height": plan.height,
            "frames": plan.frames,
            "generated_frames": shot.generated_frames,
            "fps": float(video_rate(plan.fps)),  # what the MP4 plays at
            "scene_frames": bundle.scene_frames,
            "seed": plan.seed,
            "steps": plan.steps,
            "guidance": plan.guidance,
            **({"guidance_ignored": plan.guidance_ignored} if plan.guidance_ignored is not None else {}),
            "prompt": plan.prompt,
            "negative_prompt": plan.negative_prompt,
            "sns": {"enabled": plan.sns_enabled, "threshold": plan.threshold, **shot.sns},
            "camera_condition": {
                "requested": plan.camera_condition,
                "model_has_it": adapter.has_camera_condition,
                "used": shot.camera_used,
                **shot.camera_record,  # the scale and convention it entered at (the first window's)
            },
            **({"sampler": adapter.sampler} if getattr(adapter, "sampler", None) else {}),
            "speed": shot.speed,
            **shot.extra,  # windows, and how the end was held (a loop, a transition), when the take has them
            "device": device,
            "dtype": str(dtype).replace("torch.", ""),
            "model_loaded_for_this_job": loaded_now,
        }
        measure = None
        if plan.evaluate:
            emit({"stage": "evaluate"})
            measure = functools.partial(camera_accuracy, bundle_dir=bundle_dir, bundle=bundle)
        write_outputs(out_dir, frames, plan.fps, result, timings, t, t_start, device, measure)
        shot.finished()
        emit({"stage": "done"})
        return result


def _missing_video_weights(model_id: str, err: Exception) -> str:
    if os.path.isdir(model_id):
        return f"video model folder {model_id} could not be loaded ({type(err).__name__}: {err})"
    known = known_model(model_id)
    how = f"`realcam download {known.alias}`" if known else f"`hf download {model_id}` and copy the cache over"
    return (
        f"video model {model_id!r} is not downloaded: it is not in the Hugging Face cache ({hub_cache()}), and the "
        f"backend never downloads by itself. Run {how} (or set HF_HOME), or pass --model with a local diffusers "
        "folder; `realcam tiny-models` makes small random-weight ones for smoke tests"
    )
