"""`realcam eval`: how well a video follows the camera that was asked for (CamI2V protocol).

The camera of every frame is estimated with COLMAP (intrinsics fixed to the
requested ones, global mapper; a video without parallax gets rotations only,
see reconstruct), made relative to frame 0, and compared with the requested
track: RotErr, TransErr, CamMC, and their metric variants when a frame-0
metric depth gives the reconstruction its scale (median ratio of metric depth
to SfM depth over the points seen in frame 0).

stdout carries the JSON only: the libraries' own prints go to stderr (reconstruct.quiet_stdout).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import numpy as np
from PIL import Image

from realcam_core.bundle import BundleError, load_bundle
from realcam_core.camera import relative_to_first
from realcam_core.re10k import Re10kError, read_re10k

from ..errors import UserError
from .frames import read_frames
from .metrics import scores
from .scale import depth_ratios

MIN_REGISTERED_FRACTION = 0.5


def _frames_from(source: str, out_dir: str) -> list[str]:
    """Every frame of a video file or a folder of images, at its own size, written as PNG into out_dir."""
    return read_frames(source, out_dir).names


def load_track(path: str, size: tuple[int, int]):
    """(intrinsics per frame, relative c2w per frame) from a job bundle or a RealEstate10K file."""
    if os.path.isdir(path):
        try:
            b = load_bundle(path)
        except BundleError as e:
            raise UserError(f"{path}: not a valid job bundle: {e}") from None
        Ks = [f.intrinsics.scaled(*size) for f in b.frames]
        return Ks, relative_to_first(b.c2ws)
    try:
        cams = read_re10k(path)
    except (OSError, Re10kError) as e:
        raise UserError(str(e)) from None
    Ks = [f.intrinsics(*size) for f in cams.frames]
    return Ks, relative_to_first(np.stack([f.c2w() for f in cams.frames]))


def _metric_scale(depth_path: str, points: np.ndarray, size) -> float | None:
    """The protocol's plain median of metric over SfM depth (`realcam track` rejects outliers first: scale)."""
    depth = np.load(depth_path, allow_pickle=False).astype(np.float64)
    if depth.ndim != 2:
        raise UserError(f"{depth_path}: the depth must be a (height, width) array in metres")
    ratios = depth_ratios(depth, points, size)
    return float(np.median(ratios)) if len(ratios) >= 5 else None


def evaluate(source: str, cameras: str, depth: str | None = None) -> dict:
    from .reconstruct import reconstruct

    t0 = time.perf_counter()
    work = tempfile.mkdtemp(prefix="realcam-eval-")
    try:
        frames_dir = os.path.join(work, "frames")
        os.makedirs(frames_dir)
        names = _frames_from(source, frames_dir)
        size = Image.open(os.path.join(frames_dir, names[0])).size
        Ks, gt = load_track(cameras, size)
        if len(Ks) != len(names):
            raise UserError(f"{source} has {len(names)} frames but {cameras} has {len(Ks)} cameras")
        sfm = reconstruct(frames_dir, names, Ks, work)
        registered = sorted(sfm.c2w) if sfm else []
        needed = max(3, int(np.ceil(MIN_REGISTERED_FRACTION * len(names))))
        if 0 not in registered or len(registered) < needed:
            raise UserError(
                f"{source}: only {len(registered)} of {len(names)} frames registered (need {needed}, frame 0 "
                "among them): too little texture or overlap between frames to recover the camera"
            )
        gen = relative_to_first(np.stack([sfm.c2w[i] for i in registered]))
        ref = relative_to_first(gt[registered])
        scale = _metric_scale(depth, sfm.frame0_points, size) if depth else None
        # Without parallax every generated translation is 0: any scale gives the same metric scores.
        still = sfm.model == "rotation_only"
        result = {
            "frames": len(names),
            "registered": len(registered),
            "registered_frames": registered,
            # The recovered cameras themselves (relative c2w, OpenCV axes, SfM units; metric_scale -> metres):
            # the add-on draws them as a ghost camera next to the requested one.
            "recovered_c2w": np.round(gen, 7).tolist(),
            **scores(ref, gen, 1.0 if still and depth else scale),
            "metric_scale": scale,
            "model": sfm.model,
            "reprojection_px": sfm.reprojection_px,
            "rotation_residual_px": sfm.rotation_residual_px,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def to_json(result: dict) -> str:
    return json.dumps(result, indent=1)
