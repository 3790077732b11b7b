"""One clip -> its camera move: a RealEstate10K file in metres (relative to the first frame) and a report.

clip -> frames (sampled: at most max_frames spread evenly, or every stride-th; long side at most
max_side) -> cameras (evaluate.reconstruct, as `realcam eval` runs it) -> metric scale from the
depth of one frame (the median ratio of metric depth to SfM depth over the points seen there, with
outliers rejected: evaluate.scale) -> RealEstate10K rows (OpenCV axes, world = the first registered
frame's camera) + a JSON report beside them (REPORT_VERSION, fields in docs/track.md).

A clip whose scale cannot be found is still written, at relative scale: translations in units of
the median depth of the points the first frame sees (the add-on can fit that unit to the shot's
own depth), with the report saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from realcam_core.camera import Intrinsics, relative_to_first
from realcam_core.re10k import from_track, write_re10k

from ..depth.maps import read_depth_map
from ..errors import UserError
from ..evaluate.frames import read_frames
from ..evaluate.metrics import rotation_angles
from ..evaluate.scale import MIN_POINTS, depth_ratios, robust_scale
from . import checks, depth, lens

REPORT_VERSION = 1
MAX_FRAMES = 48  # SfM time grows with frames; a clip longer than this is sampled evenly
MAX_SIDE = 960  # and with pixels: larger frames are scaled down for tracking
DEFAULT_FPS = 24.0  # a folder of images has no frame rate of its own


@dataclass
class TrackOptions:
    focal_px: float | None = None  # pixels of the clip's frames as stored
    fov: float | None = None  # degrees across the width
    depth_map: str | None = None  # metric depth of depth_frame (Import Photo's formats)
    depth_frame: int = 0  # clip frame index the depth is for (map or model)
    depth_model: str | None = None  # alias, id or folder; default: depth.models.DEFAULT_DEPTH_MODEL
    relative: bool = False  # no metric scale asked for
    stride: int | None = None
    max_frames: int | None = MAX_FRAMES
    max_side: int | None = MAX_SIDE
    fps: float | None = None  # overrides the video's; a folder's default is DEFAULT_FPS
    threads: int | None = None  # pycolmap threads (default: all cores)
    device: str | None = None  # torch device of the depth model

    def check(self) -> None:
        if self.relative and (self.depth_map or self.depth_model):
            raise UserError("--relative asks for no metric scale: leave out --depth-map and --depth-model")
        if self.depth_map and self.depth_model:
            raise UserError("--depth-map and --depth-model exclude each other: a supplied depth map needs no model")
        if self.depth_frame < 0:
            raise UserError(f"--depth-frame {self.depth_frame}: frames count from 0")
        for name in ("stride", "max_frames", "max_side"):
            v = getattr(self, name)
            if v is not None and v < (16 if name == "max_side" else 2 if name == "max_frames" else 1):
                raise UserError(f"--{name.replace('_', '-')} {v}: too small")
        if self.fps is not None and not (0 < self.fps < 1000):
            raise UserError(f"--fps {self.fps}: must be a frame rate between 0 and 1000")
        lens.check(self.focal_px, self.fov)


def report_path(camera_file: str) -> str:
    return os.path.splitext(camera_file)[0] + ".json"


def _motion(rel: np.ndarray) -> dict:
    t = rel[:, :3, 3]
    R = rel[:, :3, :3]
    return {
        "distance": float(np.linalg.norm(t[-1])),
        "path_length": float(np.linalg.norm(np.diff(t, axis=0), axis=1).sum()),
        "farthest": float(np.linalg.norm(t, axis=1).max()),
        "rotation_deg": float(np.degrees(rotation_angles(np.repeat(R[:1], len(R), 0), R).max())),
    }


def _metric_depth(options: TrackOptions, model, frames_dir: str, name: str, native, size, focal_px: float):
    """(depth map in metres, where it came from) or (None, why not) for the depth frame."""
    if options.depth_map:
        return depth.user_map(options.depth_map, native, size), options.depth_map
    try:
        if model is None:
            from ..depth.models import DEFAULT_DEPTH_MODEL

            model = depth.load_model(options.depth_model or DEFAULT_DEPTH_MODEL, options.device)
        return depth.predict(model, os.path.join(frames_dir, name), focal_px), model.model_id
    except UserError as e:
        return None, str(e)


def _scale(sfm, options, model, frames, frames_dir) -> dict:
    """The report's scale block: metres per SfM unit and how well the points agree, or why there is none."""
    n = options.depth_frame
    base = {"depth_frame": n, "depth_source": None}
    if sfm.model == "rotation_only":
        return {**base, "status": "not needed", "reason": "the camera does not move: no translation to scale"}
    if options.relative:
        return {**base, "status": "relative", "reason": "asked for (--relative)"}
    k = frames.source.index(n)
    if k not in sfm.c2w:
        return {**base, "status": "relative", "reason": f"the depth frame {n} could not be placed"}
    metric, source = _metric_depth(
        options, model, frames_dir, frames.names[k], frames.native_size, frames.size, sfm.params[k][0]
    )
    if metric is None:
        return {**base, "status": "relative", "reason": source}
    base["depth_source"] = source
    fit = robust_scale(depth_ratios(metric, sfm.points(k), frames.size))
    if fit is None:
        return {
            **base,
            "status": "relative",
            "reason": f"too few reconstructed points with depth in frame {n} (need {MIN_POINTS})",
        }
    return {**base, "status": "metric", **fit.to_dict()}


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)


def _write(camera_file: str, cams, report: dict) -> None:
    """The camera file, then the report: a report on disk means the camera file beside it is complete."""
    folder = os.path.dirname(os.path.abspath(camera_file))
    os.makedirs(folder, exist_ok=True)
    for path, write in (
        (camera_file, lambda p: write_re10k(p, cams)),
        (report_path(camera_file), lambda p: _write_json(p, report)),
    ):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".realcam-track-")
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def track_clip(
    clip: str, camera_file: str, options: TrackOptions | None = None, model=None, log=None, on_stage=None
) -> dict:
    """Track one clip, write camera_file (RealEstate10K) and its report beside it; the report.

    model: a loaded depth model (data mode loads one per worker); log(message): progress lines;
    on_stage(name): each step as it starts, "frames", "reconstruct", "scale", "write" (the service's stages)."""
    from ..evaluate.reconstruct import reconstruct

    options = options or TrackOptions()
    options.check()
    log = log or (lambda _msg: None)
    on_stage = on_stage or (lambda _stage: None)
    if report_path(camera_file) == camera_file:
        raise UserError(f"{camera_file}: the camera file needs another extension than .json (its report's)")
    if options.depth_map:  # a file that is no depth map fails before a long video is decoded
        read_depth_map(options.depth_map)
    t0 = time.perf_counter()
    work = tempfile.mkdtemp(prefix="realcam-track-")
    try:
        frames_dir = os.path.join(work, "frames")
        os.makedirs(frames_dir)
        on_stage("frames")
        keep = () if options.relative else (options.depth_frame,)
        frames = read_frames(clip, frames_dir, options.stride, options.max_frames, options.max_side, keep)
        if not options.relative and options.depth_frame >= frames.total:
            raise UserError(f"--depth-frame {options.depth_frame}: {clip} has frames 0 to {frames.total - 1} only")
        if options.depth_map:  # a map of the wrong size fails now, not after the reconstruction
            depth.user_map(options.depth_map, frames.native_size, frames.size)
        fps = options.fps or frames.fps or DEFAULT_FPS
        K = lens.given(options.focal_px, options.fov, frames.native_size, frames.size)
        log(f"{len(frames.names)} of {frames.total} frames at {frames.size[0]}x{frames.size[1]}; reconstructing...")
        guess = K or lens.first_guess(frames.size)
        on_stage("reconstruct")
        sfm = reconstruct(
            frames_dir,
            frames.names,
            [guess] * len(frames.names),
            work,
            options.threads or os.cpu_count() or 1,
            K is not None,
        )
        registered = sorted(sfm.c2w) if sfm else []
        if len(registered) < 3:
            raise UserError(
                f"{clip}: only {len(registered)} of {len(frames.names)} frames could be placed (need 3): too little "
                "texture or overlap between frames to recover the camera"
            )
        k0 = registered[0]
        rel = relative_to_first(np.stack([sfm.c2w[k] for k in registered]))
        log(f"{len(registered)} frames placed ({sfm.model}); metric scale...")
        on_stage("scale")
        scale = _scale(sfm, options, model, frames, frames_dir)
        if scale["status"] == "metric":
            rel[:, :3, 3] *= scale["scale"]
            unit = "metre"
        elif scale["status"] == "relative":
            pts = sfm.points(k0)
            rel[:, :3, 3] /= float(np.median(pts[:, 2])) if len(pts) else 1.0
            unit = "median depth of the first frame's scene"
        else:
            unit = "metre"  # translations are 0
        span = lens.rotation_span_deg(sfm.c2w)
        if K is not None:
            source = "focal-px" if options.focal_px is not None else "fov"
            reliable = True
        else:
            source = "estimated (rotation fit)" if sfm.model == "rotation_only" else "estimated (self-calibration)"
            reliable = sfm.model == "rotation_only" or span >= lens.MIN_ROTATION_DEG
        params = sfm.params[k0]
        report = {
            "version": REPORT_VERSION,
            "clip": os.path.abspath(clip),
            "camera_file": os.path.abspath(camera_file),
            "fps": fps,
            "frames_total": frames.total,
            "frames_sampled": len(frames.names),
            "frames_registered": len(registered),
            "sampled_frames": frames.source,
            "registered_frames": [frames.source[k] for k in registered],
            "size": list(frames.native_size),
            "tracked_size": list(frames.size),
            "model": sfm.model,
            "metric": scale["status"] in ("metric", "not needed"),
            "unit": unit,
            "scale": scale,
            "intrinsics": lens.describe(params, frames.size, source, reliable),
            "rotation_span_deg": span,
            "motion": _motion(rel),
            "reprojection_px": sfm.reprojection_px,
            "rotation_residual_px": sfm.rotation_residual_px,
            "rolling_shutter": None
            if sfm.model == "rotation_only"
            else checks.rolling_shutter(sfm.observations, dict(enumerate(frames.source)), frames.size),
        }
        report["warnings"] = checks.warnings_for(report)
        report["seconds"] = round(time.perf_counter() - t0, 2)
        Ks = [Intrinsics(*params, *frames.size)] * len(registered)
        cams = from_track(rel, Ks, fps, source=None, frame_numbers=report["registered_frames"])
        on_stage("write")
        _write(camera_file, cams, report)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)
