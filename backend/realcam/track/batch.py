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

import contextlib
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


ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CRASHED = "the worker process crashed (this clip or one tracked beside it)"


def _init_worker(options: TrackOptions) -> None:
    # A worker never writes to stdout, which carries the parent's summary (JSON): libraries that print to
    # fd 1 land on stderr.
    os.dup2(2, 1)
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


@contextlib.contextmanager
def _one_thread_per_worker():
    """One thread in every BLAS and OpenMP runtime of the workers (the pool is the parallelism): set while
    they start, since numpy's and pycolmap's BLAS read it when they load; restored afterwards."""
    saved = {k: os.environ.get(k) for k in ONE_THREAD}
    os.environ.update(ONE_THREAD)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _one_pool(pending: list, workers: int, options: TrackOptions, out_dir: str, record) -> None:
    """Track clips taken from pending, at most `workers` at once, until none is left or the pool breaks
    (a worker died: the clips in hand fail, the caller starts a fresh pool for the rest)."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads or torch state
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(options,)) as pool:
        running = {}
        while pending or running:
            while pending and len(running) < workers:
                name, path = pending.pop(0)
                running[pool.submit(_work, path, os.path.join(out_dir, name + ".txt"), options)] = name
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for fut in finished:
                name = running.pop(fut)
                try:
                    record(name, *fut.result())
                except BrokenProcessPool:
                    broken = True
                    record(name, False, CRASHED)
            if broken:
                for name in running.values():
                    record(name, False, CRASHED)
                return


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
    tracked, failed = [], {}

    def record(name, ok, result):
        if ok:
            tracked.append(name)
        else:
            failed[name] = result
        n = len(tracked) + len(failed)
        log(f"[{n}/{len(todo)}] {name}: {_line(result) if ok else 'FAILED: ' + result}")

    pending = list(todo)
    with _one_thread_per_worker():
        while pending:
            _one_pool(pending, workers, options, out_dir, record)
    seconds = time.perf_counter() - t0
    log(f"done: {len(tracked)} tracked, {skipped} skipped (already done), {len(failed)} failed, {seconds:.1f} s")
    return {
        "clips": len(clips),
        "tracked": len(tracked),
        "skipped": skipped,
        "failed": failed,
        "workers": workers,
        "seconds": round(seconds, 2),
    }
