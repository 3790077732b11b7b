"""A tracked clip's move (a RealEstate10K file and its report from `realcam track`) as the shot's camera move.

The mapping (docs/track.md, "From Blender"):
- time: the clip's first tracked frame is the shot's first frame; shot frame f is clip time (f - start) / fps (the
  scene's rate), so the move keeps its speed ("CLIP"); or the whole clip is spread over the shot's frame range
  ("STRETCH"). The clip's poses are resampled there: translation linearly, rotation along the shortest arc
  (slerp) between the two tracked frames around that time. Past the clip's end the camera holds its last pose.
- space: each pose relative to the clip's first frame, in that camera's own axes, becomes a move in the shot
  camera's own axes (OpenCV x right, y down, z forward -> Blender's x right, y up, looking down -z), applied on top
  of the rig as the presets are (shot/presets.py).
- size: metres -> Blender units (the scene's unit scale). A clip tracked in metres keeps its metres: the shot's
  scale calibration makes the photo's scene its true size, and a metre of the clip is a metre there. A clip whose
  scale could not be found is in units of the median depth its first frame sees; it gets the photo's median
  depth (after calibration) as that unit: the move is as large against the photo's scene as it was against the
  clip's. A rotation-only clip (no parallax) has no translation.

No bpy: the add-on's shot/clip_move.py keys what this computes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ..re10k import read_re10k

CV_TO_BLENDER = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV camera axes <-> Blender camera axes (self-inverse)
TIMINGS = ("CLIP", "STRETCH")
SCALED = {
    "metric": "in metres",
    "relative": "at relative scale",
    "rotation": "rotation only",
}


class ClipMoveError(Exception):
    """A move file or report that cannot be used, written for the artist."""


@dataclass
class ClipMove:
    times: np.ndarray  # (N,) seconds from the first tracked frame
    rel: np.ndarray  # (N, 4, 4) OpenCV c2w relative to the first tracked frame, in the report's unit
    report: dict

    @property
    def duration(self) -> float:
        return float(self.times[-1])


def load(move_file: str, report_file: str) -> ClipMove:
    """The move and its report as `realcam track` (or the backend's /v1/tracks) wrote them."""
    try:
        cams = read_re10k(move_file)
        with open(report_file, encoding="utf-8") as fh:
            report = json.load(fh)
    except (OSError, ValueError) as e:
        raise ClipMoveError(f"the tracked move cannot be read ({e}): track the clip again") from None
    if len(cams.frames) < 2 or not isinstance(report, dict) or not isinstance(report.get("scale"), dict):
        raise ClipMoveError("the tracked move has fewer than two cameras or no report: track the clip again")
    stamps = np.array([f.timestamp for f in cams.frames], np.float64)
    times = (stamps - stamps[0]) / 1e6
    if not (np.diff(times) > 0).all():
        raise ClipMoveError("the tracked move's frame times do not increase: track the clip again")
    c2w = np.stack([f.c2w() for f in cams.frames])
    rel = np.linalg.inv(c2w[0]) @ c2w
    return ClipMove(times, rel, report)


def metres_per_unit(report: dict, median_depth_m: float) -> tuple[float, str]:
    """(metres per unit of the move, how it is scaled: "metric", "relative" or "rotation")."""
    status = report["scale"].get("status")
    if status == "metric":
        return 1.0, "metric"
    if status == "not needed":
        return 1.0, "rotation"
    if not median_depth_m or median_depth_m <= 0:
        raise ClipMoveError(
            "the clip's scale could not be found and the shot has no median depth to size it by: import the photo "
            "again, or give the clip's depth map"
        )
    return float(median_depth_m), "relative"


def clip_times(start: int, end: int, fps: float, timing: str, duration: float) -> dict[int, float]:
    """Shot frame -> clip time (seconds) for every frame of the shot's range."""
    if timing not in TIMINGS:
        raise ValueError(f"timing must be one of {TIMINGS}")
    if end <= start:
        raise ClipMoveError("the shot's frame range has a single frame: a move needs at least two")
    if timing == "STRETCH":
        return {f: duration * (f - start) / (end - start) for f in range(start, end + 1)}
    return {f: (f - start) / fps for f in range(start, end + 1)}


def _quat(R: np.ndarray) -> np.ndarray:
    """(w, x, y, z) of a rotation matrix (Shepperd's method: stable for every angle)."""
    t = np.trace(R)
    cands = [t, R[0, 0], R[1, 1], R[2, 2]]
    i = int(np.argmax(cands))
    if i == 0:
        s = math.sqrt(1.0 + t) * 2
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif i == 1:
        s = math.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2]) * 2
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif i == 2:
        s = math.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2]) * 2
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = math.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1]) * 2
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    q = np.array(q)
    return q / np.linalg.norm(q)


def _matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _slerp(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    d = float(a @ b)
    if d < 0:  # the shortest arc
        b, d = -b, -d
    if d > 0.9995:
        q = a + u * (b - a)
        return q / np.linalg.norm(q)
    theta = math.acos(min(d, 1.0))
    return (math.sin((1 - u) * theta) * a + math.sin(u * theta) * b) / math.sin(theta)


def pose_at(move: ClipMove, t: float) -> np.ndarray:
    """The clip's relative pose at time t (held before the first and after the last tracked frame)."""
    times = move.times
    if t <= times[0]:
        return move.rel[0].copy()
    if t >= times[-1]:
        return move.rel[-1].copy()
    k = int(np.searchsorted(times, t, side="right")) - 1
    u = (t - times[k]) / (times[k + 1] - times[k])
    a, b = move.rel[k], move.rel[k + 1]
    out = np.eye(4)
    out[:3, :3] = _matrix(_slerp(_quat(a[:3, :3]), _quat(b[:3, :3]), u))
    out[:3, 3] = (1 - u) * a[:3, 3] + u * b[:3, 3]
    return out


def camera_delta(rel_cv: np.ndarray, bu_per_unit: float) -> np.ndarray:
    """A pose relative to the first camera (OpenCV axes, the move's unit) as a move in the Blender camera's own
    axes and Blender units: what the presets multiply onto the camera's basis."""
    d = CV_TO_BLENDER @ rel_cv @ CV_TO_BLENDER
    d[:3, 3] *= bu_per_unit
    return d


def shot_deltas(
    move: ClipMove, start: int, end: int, fps: float, timing: str, median_depth_m: float, metres_per_bu: float
) -> tuple[dict[int, np.ndarray], dict]:
    """Shot frame -> the move there (camera_delta), and what the panel says of it (summary)."""
    m_per_unit, scaled = metres_per_unit(move.report, median_depth_m)
    bu = m_per_unit / metres_per_bu
    times = clip_times(start, end, fps, timing, move.duration)
    deltas = {f: camera_delta(pose_at(move, t), bu) for f, t in times.items()}
    return deltas, summary(move, scaled, m_per_unit, start, end, fps, timing)


def _in_addon_words(message: str) -> str:
    """A report's advice in the add-on's words: its options are the operator's fields, not the command's flags."""
    return message.replace("Give --focal-px or --fov", "Give the clip's Focal (px) or Field of view")


def summary(move: ClipMove, scaled: str, m_per_unit: float, start: int, end: int, fps: float, timing: str) -> dict:
    """What the panel shows of a keyed clip move: lines, and the report's warnings (each code and message)."""
    r = move.report
    scale = r["scale"]
    head = f"{r.get('frames_registered', len(move.times))} of {r.get('frames_sampled', '?')} frames tracked"
    if scaled == "metric":
        spread = scale.get("spread")
        size = "in metres" + (f" (scale spread {100 * spread:.1f} %)" if isinstance(spread, (int, float)) else "")
    elif scaled == "relative":
        size = f"at relative scale: ×{m_per_unit:.2f} m, the photo's median depth"
    else:
        size = "rotation only (no parallax)"
    lines = [f"{head}, {size}"]
    if scaled == "relative":
        reason = str(scale.get("reason") or "none found")
        if reason.startswith("asked for"):  # the track's words for --relative, the add-on's No metric scale
            reason = "none asked for (No metric scale)"
        lines.append(f"No metric scale: {reason}")
    shot_s = (end - start) / fps
    if timing == "STRETCH":
        lines.append(f"Clip's {move.duration:.2f} s spread over frames {start}-{end} ({shot_s:.2f} s)")
    elif move.duration < shot_s - 1e-9:
        held = start + math.floor(move.duration * fps + 1e-9)
        lines.append(f"Clip's {move.duration:.2f} s over frames {start}-{held}, held to {end}")
    else:
        lines.append(f"Frames {start}-{end} use the clip's first {shot_s:.2f} s of {move.duration:.2f} s")
    warnings = [
        {"code": str(w.get("code")), "message": _in_addon_words(str(w.get("message")))}
        for w in r.get("warnings") or []
        if isinstance(w, dict) and w.get("code") != "relative_scale"  # said above, with the size it got
    ]
    return {
        "clip": r.get("clip") or "",
        "scaled": scaled,
        "metres_per_unit": m_per_unit,
        "frames": [start, end],
        "timing": timing,
        "lines": lines,
        "warnings": warnings,
    }
