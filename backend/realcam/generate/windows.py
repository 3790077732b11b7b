"""A shot of any length as one take: the model's windows, each started from the end of the one before.

The plan is realcam_core.windows' (shared with the add-on, which shows it before Generate): windows of the
model's frame count (or fewer, `RunOptions.window_frames`), each sharing `spec.window_overlap` frames with the
one before (the last window may share more). Each window is one `window_run.run_window`:

- its image is the window before's frame at its first frame: every family takes a first image, so every
  family chains (Wan 2.2 TI2V-5B puts it into latent frame 0 itself; Wan 2.1, SVD and DynamiCrafter take it as
  their image condition);
- the other shared frames are carried as latents: the latent frames lying wholly inside the overlap are the
  window before's frames encoded, held at every sampling step (noise_shaping.NoiseShaper's `keep`), so the model
  continues their motion instead of only their last picture (1 more latent frame of 4 frames on Wan, 3 frames on
  SVD and DynamiCrafter with the default overlaps);
- noise shaping uses its own slice of the one preview, and the cameras relative to its own first frame;
- its seed is the job's plus a fixed step per window (window 0 is exactly the one-window job).

The seams are joined in pixel space (seams.py: a crossfade over the overlap) and measured into result.json.
A long shot's finished windows are kept in `RunOptions.work_dir` (window_store.py): a job run again after a
backend restart goes on from the window it was in.

A take that must end on an image (a loop: the photo; a transition: the bundle's last_image) gets it in its last
window: as the pipeline's `last_image` on a model with a last-frame input, else as its last latent frame held to
that image's latents at every step (the end is shaped toward it).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import numpy as np
from PIL import Image

from realcam_core.masks import latent_frame_groups
from realcam_core.windows import LOOP, context_latent_frames, end_kind, plan_windows, window_problem, window_spec

from .. import __version__
from ..errors import UserError
from . import seams
from .inputs import cameras_per_frame, read_previews
from .job import JobCancelled
from .window_run import run_window
from .window_store import WindowStore, bundle_digest, store_key

SEED_STEP = 0x9E3779B1  # window k samples with seed + k * SEED_STEP (mod 2**32): its own noise, window 0 the job's


@dataclass
class Shot:
    """The take's frames, what result.json says of how they were made, and the store to clear once written."""

    frames: np.ndarray
    sns: dict  # shaped_steps, shaped (of the first window)
    camera_used: bool
    speed: dict
    generated_frames: int
    camera_record: dict = field(default_factory=dict)  # the first window's: the scale the camera entered at
    extra: dict = field(default_factory=dict)
    store: WindowStore | None = None

    def finished(self) -> None:
        """The take is written: the finished windows are no longer needed."""
        if self.store is not None:
            self.store.clear()


def window_seed(seed: int, index: int) -> int:
    return (seed + index * SEED_STEP) % 2**32


def run_spec(spec, window_frames: int | None):
    """The model's limits with the window asked for (realcam_core.windows.window_spec), as a UserError."""
    try:
        return window_spec(spec, window_frames)
    except ValueError as e:
        raise UserError(str(e)) from None


def _rgb(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _window_cameras(ks, c2w, w):
    """The window's cameras, relative to its first frame (window 0's are the bundle's as they are)."""
    k, m = ks[w.start : w.start + w.model_frames], c2w[w.start : w.start + w.model_frames]
    if w.start:
        m = np.linalg.inv(c2w[w.start]) @ m
    return k, m


def _group_of(groups, frame: int) -> range:
    return next(g for g in groups if g.start <= frame < g.stop)


def _scene(bundle_dir, bundle, w, image, carried, end, end_from, held_from, held_count, sns: bool, t: int):
    """(video, mask, held) for run_window, or None when there is nothing to encode."""
    if not sns and not held_count and end is None:
        return None
    import torch

    sub = SimpleNamespace(frames=bundle.frames[w.start : w.start + w.length])
    rgb, mask = read_previews(bundle_dir, sub, w.model_frames)
    rgb[0] = image
    if carried is not None:
        rgb[: len(carried)] = carried
    if end is not None:
        rgb[end_from:] = end
    held = None
    if held_count or end is not None:
        held = np.zeros(mask.shape, dtype=bool)
        groups = latent_frame_groups(w.model_frames, t)
        for g in groups[:held_count]:
            held[g.start : g.stop] = True
        if end is not None:
            held[held_from:] = True
    video = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return video, mask, held


def run_shot(pipe, adapter, spec, plan, bundle, bundle_dir, options, device, emit, cancel, timings) -> Shot:
    spec = run_spec(spec, options.window_frames)
    problem = window_problem(plan.frames, spec)
    if problem:
        raise UserError(problem)
    wplan = plan_windows(plan.frames, spec)
    settings = bundle.settings
    loop, last = settings.loop, bundle.last_image  # what the model cannot do with them: plan_job refused already
    kind = end_kind(loop, bool(last))
    end_path = os.path.join(bundle_dir, bundle.reference_image if kind == LOOP else (last or ""))
    end_rgb = _rgb(end_path) if kind else None
    given = kind is not None and spec.takes_last_frame  # else held as the last latent frame

    photo = _rgb(os.path.join(bundle_dir, bundle.reference_image))
    last_w = wplan.windows[-1]
    ks, c2w = cameras_per_frame(bundle, max(plan.frames, last_w.start + last_w.model_frames))
    t = max(1, spec.temporal_factor)
    store = None
    if wplan.long and options.work_dir:
        key = store_key(
            bundle=bundle_digest(bundle_dir),
            plan={k: v for k, v in vars(plan).items()},
            windows=[w.to_dict() for w in wplan.windows],
            device=device,
            dtype=options.dtype,
            version=__version__,
        )
        store = WindowStore(options.work_dir, key)

    parts, records, done_seconds = [], [], []
    first = None  # the first window's record of what it did (noise shaping, camera, speed)
    n = wplan.count
    for w in wplan.windows:
        if cancel.is_set():
            raise JobCancelled()
        record = {
            **w.to_dict(),
            "scene_frames": [bundle.frames[w.start].scene_frame, bundle.frames[w.end - 1].scene_frame],
            "seed": window_seed(plan.seed, w.index),
            "held_latent_frames": context_latent_frames(w.overlap, t),
            "end": bool(kind) and w is last_w,
        }
        saved = store.load(w.index, w.length) if store is not None else None
        if saved is not None:
            frames, kept = saved
            parts.append(frames)
            records.append({**record, "reused": True, "seconds": kept.get("seconds")})
            first = first or kept.get("made")
            continue

        t0 = time.perf_counter()
        image = photo if w.index == 0 else parts[-1][w.start - wplan.windows[w.index - 1].start]
        carried = parts[-1][w.start - wplan.windows[w.index - 1].start :] if w.index else None
        is_end = kind is not None and w is last_w
        end_from = held_from = None
        if is_end and not given:
            group = _group_of(latent_frame_groups(w.model_frames, t), w.length - 1)
            end_from, held_from = group.start, group.start
        scene = _scene(
            bundle_dir,
            bundle,
            w,
            image,
            carried,
            end_rgb if (is_end and not given) else None,
            end_from,
            held_from,
            record["held_latent_frames"],
            plan.sns_enabled,
            t,
        )
        wplan_job = replace(plan, frames=w.length, model_frames=w.model_frames, seed=record["seed"])

        def window_emit(e, k=w.index, t0=t0):
            if n > 1:
                e = {**e, "window": k + 1, "windows": n}
                if e.get("eta_s") is not None:
                    this = time.perf_counter() - t0 + e["eta_s"]
                    per = float(np.mean(done_seconds)) if done_seconds else this
                    e["eta_s"] = round(e["eta_s"] + (n - k - 1) * per, 2)
            emit(e)

        run = run_window(
            pipe,
            adapter,
            wplan_job,
            device,
            Image.fromarray(image),
            scene,
            _window_cameras(ks, c2w, w),
            window_emit,
            cancel,
            timings,
            last_image=Image.fromarray(end_rgb) if (is_end and given) else None,
        )
        seconds = round(time.perf_counter() - t0, 3)
        made = {
            "sns": {"shaped_steps": run.shaper.sns_steps, "shaped": [vars(s) for s in run.shaper.log]},
            "held_steps": len(run.shaper.held_steps),
            "camera_used": run.camera_used,
            "camera_record": run.camera_record,
            "speed": run.speed,
        }
        first = first or made
        if store is not None:
            kept = {"index": w.index, "seed": record["seed"], "seconds": seconds, "made": made}
            store.save(w.index, run.frames, kept)
        parts.append(run.frames)
        done_seconds.append(seconds)
        records.append({**record, "reused": False, "seconds": seconds, "held_steps": made["held_steps"]})
        if run.camera_record.get("reach_units") is not None:  # its own slice of the path, from its first frame
            records[-1]["camera_reach_units"] = run.camera_record["reach_units"]

    video = seams.join(parts, wplan.windows) if n > 1 else parts[0]
    extra = {}
    if n > 1:
        extra["windows"] = {
            "count": n,
            "frames_per_window": wplan.window,
            "overlap": wplan.overlap,
            "carried": (
                "each window's image is the window before's frame at its first frame; the latent frames wholly "
                "inside the shared frames are the window before's, held at every step"
            ),
            "join": "crossfade over the shared frames, in pixel space",
            "list": records,
            "reused": [r["index"] for r in records if r["reused"]],
            "carried_difference": seams.carried_difference(parts, wplan.windows),
            **seams.measure(video, wplan.windows),
        }
    if kind:
        extra["end"] = {
            "kind": kind,
            "image": bundle.reference_image if kind == LOOP else last,
            "how": "last_image" if given else "held",  # the model's last-frame input, or its last latent frame held
            "last_vs_first_difference" if kind == LOOP else "last_vs_image_difference": round(
                float(np.abs(video[-1].astype(np.int16) - (video[0] if kind == LOOP else end_rgb)).mean()), 3
            ),
        }
    return Shot(
        frames=video,
        sns=first["sns"],
        camera_used=bool(first["camera_used"]),
        speed=first["speed"],
        generated_frames=sum(w.model_frames for w in wplan.windows),
        camera_record=first.get("camera_record") or {},
        extra=extra,
        store=store,
    )
