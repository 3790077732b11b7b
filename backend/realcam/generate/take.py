"""Writing a take, together or not at all: video.mp4, frames/ and result.json in a temporary folder moved into
place, with the camera accuracy when the job asks for it and the peak memory."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import numpy as np
from PIL import Image

from realcam_core.bundle import JobBundle

from ..errors import UserError
from .video import write_mp4


def camera_accuracy(frames_dir: str, bundle_dir: str, bundle: JobBundle) -> dict:
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


def write_outputs(out_dir, frames, fps, result, timings, t_write, t_start, device, measure=None) -> None:
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
