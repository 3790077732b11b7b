"""A job bundle resolved against a video model: what will run (JobPlan), the caller's options (RunOptions), the
device and dtype, and the exception a cancelled job ends with."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from realcam_core.bundle import JobBundle
from realcam_core.windows import end_problems

from ..errors import UserError
from ..runtime import pick_device
from .adapters import DEFAULT_VIDEO_MODEL, resolve_video_model
from .speed import SpeedRequest


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
    window_frames: int | None = None  # frames per window of a long shot, at most the model's (less: less memory)
    work_dir: str | None = None  # where a long shot keeps its finished windows, so a rerun goes on from there


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
    problems += end_problems(spec, len(bundle.frames), bundle.settings.loop, bool(bundle.last_image))
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


def device_and_dtype(options: RunOptions):
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
