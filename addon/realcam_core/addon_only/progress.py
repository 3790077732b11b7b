"""The stages an artist sees while RealCam works, and the one line the panel shows for each.

One definition for the panel, the status bar and the tests (no bpy here). A
task reports a stage key with its step, total, ETA and a detail message; the
backend's job progress ({"stage", "step", "total", "eta_s"}, and "window" of
"windows" on a long shot; see api.py) is
mapped to the same keys, so "denoise" reaches the artist as "Generating" and
"write" as part of "Decoding the video". A stage the backend names that this
add-on does not know (a newer backend) is shown by its own name, never hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Stage keys, in the order an operation goes through them.
DEPTH = "depth"
DEPTH_MAP = "depth_map"
BUILD = "build"
PREVIEW = "preview"
UPLOAD = "upload"
QUEUED = "queued"
LOAD = "load"
GENERATE = "generate"
DECODE = "decode"
EVALUATE = "evaluate"
DOWNLOAD = "download"
UPLOAD_CLIP = "upload_clip"
TRACK = "track"
DOWNLOAD_MOVE = "download_move"
KEY = "key"

STAGES: tuple[tuple[str, str], ...] = (
    (DEPTH, "Estimating depth"),
    (DEPTH_MAP, "Reading your depth map"),
    (BUILD, "Building the shot"),
    (PREVIEW, "Rendering the preview"),
    (UPLOAD, "Uploading the job"),
    (QUEUED, "Waiting in the backend's queue"),
    (LOAD, "Loading the model"),
    (GENERATE, "Generating"),
    (DECODE, "Decoding the video"),
    (EVALUATE, "Measuring camera accuracy"),
    (DOWNLOAD, "Downloading the take"),
    (UPLOAD_CLIP, "Uploading the clip"),
    (TRACK, "Tracking the clip"),
    (DOWNLOAD_MOVE, "Downloading the move"),
    (KEY, "Keying the camera"),
)
LABELS = dict(STAGES)

# The backend's stage names (engine and service, api.py) -> (the artist's stage, a detail for the line).
BACKEND_STAGES: dict[str, tuple[str, str]] = {
    "queued": (QUEUED, ""),
    "starting": (LOAD, "starting the job"),
    "load": (LOAD, ""),
    "encode": (GENERATE, "encoding the photo and the preview"),
    "denoise": (GENERATE, ""),
    "decode": (DECODE, ""),
    "write": (DECODE, "writing the video file"),
    "transfer": (DECODE, "copying the video to the server"),
    "evaluate": (EVALUATE, "reconstructing the camera from the video (COLMAP)"),
    "done": (DOWNLOAD, "the video is ready"),
}
# A track's stages on the backend (api.TRACK_STAGES): a job of kind "track".
TRACK_BACKEND_STAGES: dict[str, tuple[str, str]] = {
    "queued": (QUEUED, ""),
    "starting": (TRACK, "starting"),
    "frames": (TRACK, "reading the clip's frames"),
    "reconstruct": (TRACK, "reconstructing the camera (structure from motion)"),
    "scale": (TRACK, "metric scale from the depth of a frame"),
    "write": (TRACK, "writing the move"),
    "done": (DOWNLOAD_MOVE, "the move is ready"),
}
UNKNOWN_PREFIX = "backend:"  # a stage key for a backend stage this add-on does not know


def plan(operation: str, evaluate: bool = False, depth_map: bool = False) -> tuple[str, ...]:
    """The stages an operation goes through, in order ("Stage k of n" counts these)."""
    if operation == "import":
        return (DEPTH_MAP if depth_map else DEPTH, BUILD)
    if operation == "preview":
        return (PREVIEW,)
    following = (QUEUED, LOAD, GENERATE, DECODE) + ((EVALUATE,) if evaluate else ()) + (DOWNLOAD,)
    if operation == "generate":
        return (PREVIEW, UPLOAD) + following
    if operation == "follow":  # a recorded job picked up again: it was uploaded before
        return following
    if operation == "track":  # Camera move from clip
        return (UPLOAD_CLIP, QUEUED, TRACK, DOWNLOAD_MOVE, KEY)
    return ()


@dataclass(frozen=True)
class Shown:
    """What the panel shows of a task: "Stage k of n: <label>: <detail>" and a bar for the stage's own steps."""

    index: int  # 1-based position in the plan; 0 when the stage is not in it (or there is no plan)
    count: int  # stages in the plan
    label: str  # the stage's name, or the text a task reported when it is no stage
    text: str  # the whole line
    fraction: float  # of this stage's steps, 0..1 (0 when it has none)


def eta_text(seconds) -> str:
    """'about 40 s left', 'about 3 min left', 'about 1 h 05 min left'; '' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:  # inf or NaN from a backend: not known
        return ""
    s = round(float(seconds))
    if s < 90:
        return f"about {max(s, 1)} s left"
    minutes = round(s / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


def describe(stage: str, step: int = 0, total: int = 0, eta_s=None, message: str = "", stages=()) -> Shown:
    """The panel's line for a task's state. stage: a key of STAGES, UNKNOWN_PREFIX + a backend stage, or any
    text (a task that is not one of these operations: it is shown as written)."""
    stages = tuple(stages or ())
    fraction = min(max(step / total, 0.0), 1.0) if total else 0.0
    if stage in LABELS:
        label = LABELS[stage]
    elif stage.startswith(UNKNOWN_PREFIX):
        label = "On the backend: " + (stage[len(UNKNOWN_PREFIX) :].replace("_", " ").strip() or "working")
    else:
        label = stage[:1].upper() + stage[1:] if stage else "Working"
    parts = []
    if total:
        noun = "frame" if stage == PREVIEW else "step"
        if stage == GENERATE and step == 0:
            parts.append(f"starting {total} steps")
        else:
            parts.append(f"{noun} {step} of {total}")
    if eta_s is not None and eta_s > 0:
        parts.append(eta_text(eta_s))
    head = label
    if message.startswith("("):  # "Uploading the job (2.1 MB)"
        head, message = f"{label} {message}", ""
    detail = ", ".join(p for p in ([message] if message else []) + parts if p)
    line = f"{head}: {detail}" if detail else head
    index = stages.index(stage) + 1 if stage in stages else 0
    if index and len(stages) > 1:
        line = f"Stage {index} of {len(stages)}: {line}"
    return Shown(index, len(stages), label, line, fraction)


def from_job(job: dict) -> tuple[str, int, int, object, str]:
    """A backend job (api.py's job dict) -> (stage key, step, total, eta_s, detail) for Task.report."""
    state = job.get("state")
    prog = job.get("progress") if isinstance(job.get("progress"), dict) else {}
    if state == "queued":
        position = job.get("position")
        known = isinstance(position, int) and not isinstance(position, bool) and position >= 0
        detail = f"position {position + 1}" if known else ""
        if job.get("note"):
            detail += (", " if detail else "") + "it runs again (the backend stopped during it)"
        return QUEUED, 0, 0, None, detail
    raw = str(prog.get("stage") or ("starting" if state == "running" else state or ""))  # a list is no key
    stages = TRACK_BACKEND_STAGES if job.get("kind") == "track" else BACKEND_STAGES
    key, detail = stages.get(raw, (UNKNOWN_PREFIX + raw, ""))
    window, windows = _int(prog.get("window")), _int(prog.get("windows"))
    if windows > 1 and 1 <= window <= windows:  # a long shot: its stages and steps are those of window k
        detail = f"window {window} of {windows}" + (f", {detail}" if detail else "")
    step, total = _int(prog.get("step")), _int(prog.get("total"))
    eta = prog.get("eta_s")
    eta = float(eta) if _number(eta) and eta >= 0 else None
    return key, step, total, eta, detail


def _number(v) -> bool:
    """A finite number (JSON from a backend may carry Infinity or NaN, which Python's json reads)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v) -> int:
    return int(v) if _number(v) and v >= 0 else 0


def megabytes(n_bytes: int) -> str:
    """'2.1 MB' (decimal megabytes, as file browsers show sizes)."""
    mb = n_bytes / 1e6
    return f"{mb:.1f} MB" if mb < 100 else f"{mb:.0f} MB"
