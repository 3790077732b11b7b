"""Data mode: a folder of clips -> one metric pose file (+ report) per clip, in parallel (the paper's
alignment step for training data).

Clips are the folder's video files and its sub-folders of images; clip NAME (a video NAME.mp4 or a
folder NAME) gives OUT/NAME.txt and OUT/NAME.json. Clips are tracked by a pool of processes, one
pycolmap thread each (one clip per core beats one clip on all cores: feature matching runs on one
thread anyway, see evaluate.reconstruct). Resumable: a clip whose report exists is skipped (the
report is written after its camera file). A clip that fails is listed in the summary and does not
stop the others; a worker that crashes outright fails the clips it had in hand, and a fresh pool
takes over the rest.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import UserError
from ..evaluate.frames import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_clip
from .pipeline import TrackOptions, report_path, track_clip

_MODEL = None  # the worker's depth model, loaded once by _init_worker


def is_clip_folder(path: str) -> bool:
    """A folder of clips (not itself a folder of frames)."""
    if not os.path.isdir(path):
        return False
    entries = os.listdir(path)
    if any(n.lower().endswith(IMAGE_EXTENSIONS) for n in entries):
        return False
    return any(
        n.lower().endswith(VIDEO_EXTENSIONS)
        or (os.path.isdir(os.path.join(path, n)) and is_clip(os.path.join(path, n)))
        for n in entries
    )


def list_clips(folder: str) -> list[tuple[str, str]]:
    """(name, path) of every clip in the folder, sorted by name."""
    out = []
    for n in sorted(os.listdir(folder)):
        path = os.path.join(folder, n)
        if os.path.isdir(path) and is_clip(path):
            out.append((n, path))
        elif n.lower().endswith(VIDEO_EXTENSIONS) and os.path.isfile(path):
            out.append((os.path.splitext(n)[0], path))
    names = [n for n, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserError(f"{folder}: clips {', '.join(dupes)} would write the same pose file; rename one of each")
    return out


def _init_worker(options: TrackOptions) -> None:
    # One thread per worker everywhere: the pool is the parallelism.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    global _MODEL
    if not options.relative:
        import torch

        torch.set_num_threads(1)
        from ..depth.models import DEFAULT_DEPTH_MODEL
        from .depth import load_model

        _MODEL = load_model(options.depth_model or DEFAULT_DEPTH_MODEL, options.device)


def _work(clip: str, camera_file: str, options: TrackOptions) -> tuple[bool, dict | str]:
    try:
        return True, track_clip(clip, camera_file, options, model=_MODEL)
    except UserError as e:
        return False, str(e)
    except Exception as e:  # noqa: BLE001 - one clip's failure must not stop the others
        return False, f"{type(e).__name__}: {e}"


def _line(report: dict) -> str:
    s = report["scale"]
    scale = (
        f"scale {s['scale']:.4g} m/unit (spread {100 * s['spread']:.1f} %)" if s["status"] == "metric" else s["status"]
    )
    warn = f", warnings: {', '.join(w['code'] for w in report['warnings'])}" if report["warnings"] else ""
    return f"{report['frames_registered']}/{report['frames_sampled']} frames, {scale}, {report['seconds']:.1f} s{warn}"


def track_folder(folder: str, out_dir: str, options: TrackOptions, workers: int | None = None, log=print) -> dict:
    """Track every clip not yet done; the summary (counts, failures by clip name, seconds)."""
    options.check()
    if options.depth_map:
        raise UserError("--depth-map is one frame of one clip: in data mode the depth model gives each clip its scale")
    clips = list_clips(folder)
    if not clips:
        raise UserError(f"{folder}: no clips (video files or folders of frames) in this folder")
    os.makedirs(out_dir, exist_ok=True)
    todo = [(n, p) for n, p in clips if not os.path.exists(report_path(os.path.join(out_dir, n + ".txt")))]
    skipped = len(clips) - len(todo)
    if not options.relative:  # a missing model fails once, here, not once per clip
        from ..depth.models import DEFAULT_DEPTH_MODEL
        from .depth import load_model

        load_model(options.depth_model or DEFAULT_DEPTH_MODEL, options.device)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    options.threads = 1
    log(f"{len(clips)} clips, {skipped} already done, {len(todo)} to track on {workers} worker(s)")
    t0 = time.perf_counter()
    done, failed = 0, {}
    pending = list(todo)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads or torch state
    while pending:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(options,)) as pool:
            running = {}
            broken = False
            while (pending or running) and not broken:
                while pending and len(running) < workers:
                    name, path = pending.pop(0)
                    running[pool.submit(_work, path, os.path.join(out_dir, name + ".txt"), options)] = name
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    name = running.pop(fut)
                    n = done + len(failed) + 1
                    try:
                        ok, result = fut.result()
                    except BrokenProcessPool:
                        ok, result, broken = (
                            False,
                            "the worker process crashed (this clip or one tracked beside it)",
                            True,
                        )
                    if ok:
                        done += 1
                        log(f"[{n}/{len(todo)}] {name}: {_line(result)}")
                    else:
                        failed[name] = result
                        log(f"[{n}/{len(todo)}] {name}: FAILED: {result}")
            if broken:  # every clip in hand went down with the pool
                for name in running.values():
                    failed[name] = "the worker process crashed (this clip or one tracked beside it)"
                    log(f"[{done + len(failed)}/{len(todo)}] {name}: FAILED: {failed[name]}")
    seconds = time.perf_counter() - t0
    log(f"done: {done} tracked, {skipped} skipped (already done), {len(failed)} failed, {seconds:.1f} s")
    return {
        "clips": len(clips),
        "tracked": done,
        "skipped": skipped,
        "failed": failed,
        "workers": workers,
        "seconds": round(seconds, 2),
    }
