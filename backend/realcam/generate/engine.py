"""Running a job bundle through an image-to-video model with noise shaping.

`Engine.run(bundle, out)` writes, together or not at all:
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
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from realcam_core.bundle import BundleError, JobBundle, load_bundle
from realcam_core.masks import shaping_mask

from .. import __version__
from ..errors import UserError
from ..runtime import hub_cache, pick_device
from .adapters import DEFAULT_VIDEO_MODEL, resolve_video_model
from .speed import SpeedRequest, SpeedRun
from .video import write_mp4

PREVIEW_FILL = 127  # uncovered preview pixels are encoded as mid grey (they are masked out anyway)
LATENT_COVERAGE = 0.9  # a latent cell is shaped when this much of it is covered (upstream rule)


class JobCancelled(Exception):
    """The job was cancelled; nothing was written."""


@dataclass
class RunOptions:
    model: str | None = None  # overrides the bundle's model
    device: str | None = None
    offload: str = "auto"  # none, model, sequential, auto (model offload on CUDA)
    vae_tiling: bool = False
    dtype: str | None = None  # float32, float16, bfloat16 (default per device)
    allow_local_models: bool = True  # False on the server for names a client sent
    speed: dict | None = None  # SpeedRequest fields over the bundle's settings.speed (the CLI's flags)


@dataclass
class JobPlan:
    """A bundle resolved against a model: what will actually run."""

    model_id: str
    model_name: str
    width: int
    height: int
    frames: int  # the bundle's
    model_frames: int  # generated (smallest valid count >= frames), trimmed back
    steps: int
    guidance: float
    prompt: str
    negative_prompt: str
    seed: int
    sns_enabled: bool
    threshold: float
    fps: float
    evaluate: bool = False
    camera_condition: bool = True  # asked for; used only by models with a camera adapter
    speed: SpeedRequest = field(default_factory=SpeedRequest)
    guidance_ignored: float | None = None  # the bundle's guidance, where the model runs at a fixed one
    camera_scale: float | None = None  # model translation units per metre; None: the model's own default
    sampler: str | None = None  # for models that offer a choice; None: the model's default
    depth_m: np.ndarray | None = field(default=None, repr=False)  # the photo's depth (metres), for camera scales
    photo_size: tuple | None = None  # the photo before it was fitted to the size (source.photo_size): assumed lenses


def plan_job(bundle: JobBundle, model: str | None = None, allow_local: bool = True, speed: dict | None = None):
    """The job as it will run; `speed` holds SpeedRequest fields that override the bundle's speed settings."""
    name = model or bundle.settings.model or DEFAULT_VIDEO_MODEL
    model_id, spec, adapter = resolve_video_model(name, allow_local=allow_local)
    problems = spec.problems(bundle.width, bundle.height, len(bundle.frames), bundle.settings.steps)
    if problems:
        raise UserError("; ".join(problems))
    s = bundle.settings
    guidance = spec.default_guidance if s.guidance is None else s.guidance
    ignored = None
    if spec.fixed_guidance is not None and guidance != spec.fixed_guidance:
        guidance, ignored = spec.fixed_guidance, guidance
    plan = JobPlan(
        model_id=model_id,
        model_name=spec.name,
        width=bundle.width,
        height=bundle.height,
        frames=len(bundle.frames),
        model_frames=spec.frame_count_for(len(bundle.frames)),
        steps=s.steps or spec.default_steps,
        guidance=guidance,
        prompt=s.prompt,
        negative_prompt=s.negative_prompt,
        seed=s.seed,
        sns_enabled=s.sns.enabled,
        threshold=s.sns.threshold,
        fps=s.fps,
        evaluate=s.evaluate,
        camera_condition=s.camera_condition,
        speed=SpeedRequest(**{**vars(s.speed), **(speed or {})}),
        guidance_ignored=ignored,
        camera_scale=s.camera_scale,
        sampler=s.sampler,
        photo_size=_photo_size(bundle.source),
    )
    return plan, spec, adapter


def _photo_size(source: dict) -> tuple | None:
    """source.photo_size as (w, h) when it is two positive whole numbers (the source is free-form: else None)."""
    size = source.get("photo_size") if isinstance(source, dict) else None
    if isinstance(size, list | tuple) and len(size) == 2:
        if all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1_000_000 for v in size):
            return int(size[0]), int(size[1])
    return None


def _device_and_dtype(options: RunOptions):
    import torch

    device = pick_device(options.device)
    if options.dtype:
        dtype = getattr(torch, options.dtype)
    elif device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    elif device == "mps":
        dtype = torch.float16
    else:
        dtype = torch.float32
    return device, dtype


def _read_previews(folder: str, bundle: JobBundle, count: int):
    """(count, H, W, 3) uint8 RGB over grey and (count, H, W) bool shaping mask.
    Frames past the bundle's repeat its last (the camera holds)."""
    rgb, alpha = [], []
    for f in bundle.frames:
        a = np.asarray(Image.open(os.path.join(folder, f.preview)).convert("RGBA"))
        rgb.append(a[..., :3])
        alpha.append(a[..., 3])
    rgb, alpha = np.stack(rgb), np.stack(alpha)
    if count > len(rgb):
        pad = count - len(rgb)
        rgb = np.concatenate([rgb, np.repeat(rgb[-1:], pad, 0)])
        alpha = np.concatenate([alpha, np.repeat(alpha[-1:], pad, 0)])
    covered = (alpha >= 128)[..., None]
    rgb = np.where(covered, rgb, np.uint8(PREVIEW_FILL))
    return rgb, shaping_mask(alpha)


def scene_video(folder: str, bundle: JobBundle, count: int):
    """What noise shaping encodes: (count, 3, H, W) float in [-1, 1], and the (count, H, W) bool pixel mask.

    Frame 0 is the reference photo, not preview frame 0 (which may have holes), as upstream pastes the
    photo's latent into the scene video: a causal video VAE (Wan) reads frame 0 as context for the next
    latent frames. The reference latent frames are never shaped (the adapters mask them off)."""
    import torch

    rgb, mask = _read_previews(folder, bundle, count)
    rgb[0] = np.asarray(Image.open(os.path.join(folder, bundle.reference_image)).convert("RGB"))
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 127.5 - 1.0, mask


def _cameras(bundle: JobBundle, count: int):
    """Per generated frame (F, 4) fx, fy, cx, cy and (F, 4, 4) c2w; frames past the bundle's hold its last."""
    ks = np.array([[f.intrinsics.fx, f.intrinsics.fy, f.intrinsics.cx, f.intrinsics.cy] for f in bundle.frames])
    c2w = bundle.c2ws
    if count > len(ks):
        ks = np.concatenate([ks, np.repeat(ks[-1:], count - len(ks), 0)])
        c2w = np.concatenate([c2w, np.repeat(c2w[-1:], count - len(c2w), 0)])
    return ks[:count], c2w[:count]


def _peak_memory(device: str) -> dict:
    import torch

    out = {}
    try:
        import resource  # POSIX only: the backend also runs on Windows (the add-on's set-up installs it there)

        out["process_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except ImportError:
        pass
    if device.startswith("cuda"):
        out["gpu_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


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

        emit = on_event or (lambda event: None)
        cancel = cancel or threading.Event()
        t_start = time.perf_counter()
        try:
            bundle = load_bundle(bundle_dir)
        except BundleError as e:
            raise UserError(f"{bundle_dir}: not a valid job bundle: {e}") from None
        plan, spec, adapter = plan_job(bundle, options.model, options.allow_local_models, options.speed)
        device, dtype = _device_and_dtype(options)
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        timings = {}

        emit({"stage": "load", "model": plan.model_id})
        t = time.perf_counter()
        pipe, loaded_now = self._pipeline(plan, adapter, options, device, dtype)
        timings["load_s"] = time.perf_counter() - t
        if cancel.is_set():
            raise JobCancelled()

        ref = Image.open(os.path.join(bundle_dir, bundle.reference_image)).convert("RGB")
        if adapter.has_camera_condition and plan.camera_condition and bundle.depth:
            plan.depth_m = np.load(os.path.join(bundle_dir, bundle.depth), allow_pickle=False)
        adapter.prepare_job(pipe, plan)  # before the schedule is read: it may pick the sampler
        pipe.scheduler.set_timesteps(plan.steps, device=device)
        sigmas = [float(s) for s in pipe.scheduler.sigmas[: plan.steps]]

        emit({"stage": "encode"})
        t = time.perf_counter()
        from .noise_shaping import NoiseShaper

        shape = adapter.latent_shape(pipe, plan.model_frames, plan.height, plan.width)
        if plan.sns_enabled:
            video, mask = scene_video(bundle_dir, bundle, plan.model_frames)
            with torch.inference_mode():
                clean = adapter.encode_preview(pipe, video, None).float().cpu()
            latent_mask = adapter.latent_mask(pipe, mask, LATENT_COVERAGE)
        else:
            clean = torch.zeros(shape)
            latent_mask = torch.zeros((1,) * len(shape), dtype=torch.bool)
        shaper = NoiseShaper(adapter, clean, latent_mask, sigmas, plan.threshold, plan.seed, plan.sns_enabled)
        camera_used = adapter.prepare_conditions(pipe, ref, plan, _cameras(bundle, plan.model_frames))
        timings["encode_s"] = time.perf_counter() - t

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
        try:
            speed.start(pipe)
            with torch.inference_mode():
                out = pipe(
                    **adapter.call_arguments(ref, plan),
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
        timings["denoise_s"] = (step_times[-1] if step_times else t_end) - t_denoise
        timings["decode_s"] = t_end - (step_times[-1] if step_times else t_denoise)

        frames = np.asarray(out.frames[0])[: plan.frames]
        frames = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
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
            "generated_frames": plan.model_frames,
            "fps": plan.fps,
            "scene_frames": bundle.scene_frames,
            "seed": plan.seed,
            "steps": plan.steps,
            "guidance": plan.guidance,
            **({"guidance_ignored": plan.guidance_ignored} if plan.guidance_ignored is not None else {}),
            "prompt": plan.prompt,
            "negative_prompt": plan.negative_prompt,
            "sns": {
                "enabled": plan.sns_enabled,
                "threshold": plan.threshold,
                "shaped_steps": shaper.shaped_steps,
                "shaped": [vars(s) for s in shaper.log],
            },
            "camera_condition": {
                "requested": plan.camera_condition,
                "model_has_it": adapter.has_camera_condition,
                "used": camera_used,
                **adapter.camera_record,  # the scale and convention it entered at
            },
            **({"sampler": adapter.sampler} if getattr(adapter, "sampler", None) else {}),
            "speed": speed.report(),
            "device": device,
            "dtype": str(dtype).replace("torch.", ""),
            "model_loaded_for_this_job": loaded_now,
        }
        measure = None
        if plan.evaluate:
            emit({"stage": "evaluate"})
            measure = functools.partial(_camera_accuracy, bundle_dir=bundle_dir, bundle=bundle)
        _write_outputs(out_dir, frames, plan.fps, result, timings, t, t_start, device, measure)
        emit({"stage": "done"})
        return result


def _camera_accuracy(frames_dir: str, bundle_dir: str, bundle: JobBundle) -> dict:
    """realcam eval on the take, against the bundle's own cameras (and its depth for metric scores)."""
    from ..evaluate.accuracy import evaluate

    depth = os.path.join(bundle_dir, bundle.depth) if bundle.depth else None
    try:
        return evaluate(frames_dir, bundle_dir, depth)
    except UserError as e:  # a take COLMAP cannot follow is a result, not a failed job
        return {"error": str(e).replace(frames_dir, "the take")}


def _write_frames(folder: str, frames: np.ndarray, video: str, fps: float) -> None:
    """The PNG frames and the MP4 at once. PNG encoding releases the GIL, so a few threads share it; the
    fastest zlib level, because at default level 121 frames of 1280x704 took 20 s on a GPU machine, as
    long as decoding them (lossless either way; files are about 15 % larger)."""
    from concurrent.futures import ThreadPoolExecutor

    def save(i):
        Image.fromarray(frames[i]).save(os.path.join(folder, f"{i:04d}.png"), compress_level=1)

    with ThreadPoolExecutor(max_workers=max(1, min(8, (os.cpu_count() or 2) - 1))) as pool:
        saved = pool.map(save, range(len(frames)))
        write_mp4(video, frames, fps)
        list(saved)  # raise the first failure, if any


def _write_outputs(out_dir, frames, fps, result, timings, t_write, t_start, device, measure=None) -> None:
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".realcam-job-", dir=parent)
    try:
        os.makedirs(os.path.join(tmp, "frames"))
        _write_frames(os.path.join(tmp, "frames"), frames, os.path.join(tmp, "video.mp4"), fps)
        timings["write_s"] = time.perf_counter() - t_write
        if measure is not None:
            t_eval = time.perf_counter()
            result["camera_accuracy"] = measure(os.path.join(tmp, "frames"))
            timings["evaluate_s"] = time.perf_counter() - t_eval
        timings["total_s"] = time.perf_counter() - t_start
        result["timings"] = {k: round(v, 4) for k, v in timings.items()}
        result["memory"] = _peak_memory(device)
        with open(os.path.join(tmp, "result.json"), "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
        if os.path.isdir(out_dir):
            # A take never overwrites another: refuse rather than mix outputs.
            if os.listdir(out_dir):
                raise UserError(f"{out_dir}: exists and is not empty; choose a new folder for this take")
            os.rmdir(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _missing_video_weights(model_id: str, err: Exception) -> str:
    cache = hub_cache()
    if os.path.isdir(model_id):
        return f"video model folder {model_id} could not be loaded ({type(err).__name__}: {err})"
    return (
        f"video model {model_id!r} is not available: not in the Hugging Face cache ({cache}) and it could not be "
        f"downloaded (offline?). On a machine with internet run `hf download {model_id}` and copy the cache "
        "(or set HF_HOME), or pass --model with a local diffusers folder; `realcam tiny-models` makes small "
        "random-weight ones for smoke tests"
    )
