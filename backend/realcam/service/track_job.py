"""A track job run: `realcam track` on the uploaded clip (clips.py made the job) in a child process, its stages
relayed as the job's progress, stopped at once by a cancel.

Why a child process: the reconstruction (pycolmap) cannot be interrupted from Python, and a crash in native code
must not take the server down with it. A cancel, or the server shutting down, ends the child (the worker tells the
two apart, as for generation). The child never downloads weights (HF_HUB_OFFLINE): a depth model whose weights are
not on this machine gives a move at relative scale, with the reason in its report.

Outputs, in the job's take/: move.txt (RealEstate10K) and move.json (the report, written last, so a report on disk
means its move is whole). What the report and errors say of this machine's paths (the clip's, the depth map's, a
configured depth model folder) is replaced by the client's names for them.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import threading

from ..errors import UserError
from ..generate.job import JobCancelled
from . import track_child
from .clips import CLIP_DIR, OPTIONS_FILE

log = logging.getLogger(__name__)

MOVE = "move.txt"
REPORT = "move.json"
POLL_S = 0.1


def _run_child(clip: str, camera_file: str, options: dict, on_event, cancel: threading.Event):
    """(kind, value) the child ended with; JobCancelled when cancel is set first."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a server that holds threads and sockets
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=track_child.run, args=(clip, camera_file, options, send), name="realcam-track", daemon=True
    )
    proc.start()
    send.close()  # the child holds the only writer: its end (or death) ends recv
    try:
        while True:
            if cancel.is_set():
                raise JobCancelled()
            if not recv.poll(POLL_S):
                continue
            try:
                kind, value = recv.recv()
            except EOFError:
                proc.join(5)
                return "crash", proc.exitcode
            if kind == "stage":
                on_event({"stage": value})
                continue
            return kind, value
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        proc.join()
        recv.close()


def _write_json(path: str, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".realcam-track-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _client_report(report: dict, saved: dict, clip_name: str) -> dict:
    """The report with the client's names where it holds this machine's paths (the default depth model is a hub
    id, no path; what else may name a configured folder, a reason, is redacted when served)."""
    scale = dict(report.get("scale") or {})
    if scale.get("depth_source"):
        if saved["options"].get("depth_map"):
            scale["depth_source"] = f"the uploaded depth map ({saved['options']['depth_map']})"
        elif saved.get("depth_model_name"):
            scale["depth_source"] = saved["depth_model_name"]
    return {**report, "clip": clip_name, "camera_file": MOVE, "scale": scale}


def run_track(folder: str, job: dict, on_event, cancel: threading.Event, device: str | None = None) -> None:
    """Track the clip of the job in folder into folder/take; UserError for a clip that cannot be tracked."""
    with open(os.path.join(folder, OPTIONS_FILE), encoding="utf-8") as fh:
        saved = json.load(fh)
    clip_dir = os.path.join(folder, CLIP_DIR)
    clip = os.path.join(clip_dir, saved["clip"])
    options = dict(saved["options"], device=device)
    if options.get("depth_map"):
        options["depth_map"] = os.path.join(clip_dir, options["depth_map"])
    take = os.path.join(folder, "take")
    shutil.rmtree(take, ignore_errors=True)  # a run cut off before: from the start
    os.makedirs(take)
    clip_name = "the uploaded clip"
    kind, value = _run_child(clip, os.path.join(take, MOVE), options, on_event, cancel)
    if kind == "done":
        _write_json(os.path.join(take, REPORT), _client_report(value, saved, job.get("clip") or clip_name))
        return
    shutil.rmtree(take, ignore_errors=True)
    if kind == "crash":
        raise RuntimeError(f"the tracking process ended without a result (exit code {value}); see the server's log")
    message = str(value)
    for path, name in ((clip, clip_name), (options.get("depth_map") or "\0", "the depth map"), (clip_dir, "")):
        message = message.replace(path, name)
    if kind == "user":
        raise UserError(message)
    raise RuntimeError(message)
