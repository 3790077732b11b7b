"""What a track's report warns about, each a measurable check.

Rolling shutter. A CMOS sensor reads its rows one after another, so with the camera moving, row v
is seen about readout * (v / H - 1/2) frame intervals off the frame's time, and a point moving at
image velocity vel lands vel * that much off where a global-shutter camera would see it. Bundle
adjustment absorbs most of this into poses and points (under constant motion it is nearly
invisible, a known ambiguity), but not all: the reprojection residuals keep a part proportional to
vel * (v / H - 1/2). The check regresses the residuals on that term (robustly, pooled over every
observation whose point is also seen in the neighbouring frames) and reports the slope, for rows
and for columns (a phone held upright reads the stored frame's columns).
Measured through `realcam track` on Cycles renders (256x192, 20 frames; orbit, truck, dolly in; Cycles'
rolling shutter, rows read top to bottom over R frame intervals): global shutter row slope -0.005 to
-0.002 (|z| <= 1.4); R = 0.4: 0.014-0.022 (z 3.8-8.3); R = 0.8: 0.025-0.037 (z 6.7-13.4). With the
thresholds below all 3 global clips pass and all 6 rolling ones are flagged. The slope is about 4 % of
the readout for these moves: the check detects a readout of roughly a third of a frame or more; it is
a detector, not a measurement of the readout. It needs motion (a still camera gives no evidence, seen
as a small z), and on real footage other row-dependent errors (an unmodelled lens) may add to it, so a
flag is a warning, never a failure. What a readout of 0.8 cost on these renders: under 1 % of the
move's length, 0.1-0.3 degrees.
It is not run on rotation-only clips, which have no bundle adjustment (and a steady pan is the
case the ambiguity hides completely).
"""

from __future__ import annotations

import numpy as np

ROLLING_SLOPE = 0.01  # |slope| above this ...
ROLLING_Z = 3.0  # ... and this many standard errors from 0: rolling shutter suspected
MIN_REGISTERED_FRACTION = 0.5
MAX_SCALE_SPREAD = 0.05  # one point's ratio spread: 0.4-1.4 % on true renders, 7 % with a 5 % focal error


def _slope(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Least-squares b ~ k a, refitted without |residual| > 3 robust sigmas: (k, standard error)."""
    keep = np.ones(len(a), bool)
    k = 0.0
    for _ in range(4):
        den = a[keep] @ a[keep]
        if den <= 0:
            return 0.0, float("inf")
        k = float(a[keep] @ b[keep] / den)
        res = b - k * a
        sigma = 1.4826 * np.median(np.abs(res[keep]))
        keep = np.abs(res) <= 3 * max(sigma, 1e-9)
    den = a[keep] @ a[keep]
    se = float(np.sqrt(np.mean((b[keep] - k * a[keep]) ** 2) / den)) if den > 0 else float("inf")
    return k, se


def rolling_shutter(observations: dict, source: dict, size: tuple[int, int]) -> dict | None:
    """observations: SfmResult.observations; source: tracked frame -> clip frame index (for the velocity
    per clip frame interval, which a readout is a fraction of)."""
    w, h = size
    pos = {f: {int(o[5]): o[:2] for o in obs} for f, obs in observations.items()}
    terms, residuals = [], []
    for f, obs in observations.items():
        before, after = pos.get(f - 1), pos.get(f + 1)
        if before is None or after is None:
            continue
        span = source[f + 1] - source[f - 1]
        for u, v, _z, du, dv, pid in obs:
            p = int(pid)
            if p in before and p in after:
                vel = (after[p] - before[p]) / span
                terms.append((vel, (v - h / 2) / h, (u - w / 2) / w))
                residuals.append((du, dv))
    if len(terms) < 50:
        return None
    vel = np.array([t[0] for t in terms])
    res = np.asarray(residuals).ravel()
    out = {"observations": len(terms)}
    for name, col in (("row", 1), ("column", 2)):
        tau = np.array([t[col] for t in terms])
        k, se = _slope((vel * tau[:, None]).ravel(), res)
        out[f"{name}_slope"] = round(k, 5)
        out[f"{name}_z"] = round(k / se, 2) if se > 0 else 0.0
    out["suspected"] = any(
        abs(out[f"{n}_slope"]) > ROLLING_SLOPE and abs(out[f"{n}_z"]) > ROLLING_Z for n in ("row", "column")
    )
    return out


def warn(code: str, message: str) -> dict:
    return {"code": code, "message": message}


def warnings_for(report: dict) -> list[dict]:
    """The report's warnings, from its numbers (pipeline fills them in)."""
    out = []
    if report["model"] == "rotation_only":
        out.append(
            warn(
                "no_parallax",
                "the camera only turns (a pan, tilt or zoom, or a scene far away): no camera position can be "
                "recovered, so the move has rotations only",
            )
        )
    n, k = report["frames_sampled"], report["frames_registered"]
    if k < MIN_REGISTERED_FRACTION * n:
        out.append(
            warn(
                "few_frames",
                f"only {k} of {n} frames could be placed: too little texture or overlap (fast motion, blur, moving "
                "objects); the move between them is interpolated",
            )
        )
    if report["registered_frames"][0] != report["sampled_frames"][0]:
        out.append(
            warn(
                "first_frame_missing",
                "the clip's first frame could not be placed: the move starts at frame "
                f"{report['registered_frames'][0]}",
            )
        )
    lens = report["intrinsics"]
    if not lens["reliable"]:
        out.append(
            warn(
                "focal_unreliable",
                f"the focal length was estimated but the camera turns only {report['rotation_span_deg']:.1f} degrees, "
                "too little to observe it: sideways moves may be off in size by as much as the focal length is. "
                "Give --focal-px or --fov",
            )
        )
    rs = report.get("rolling_shutter")
    if rs and rs["suspected"]:
        out.append(
            warn(
                "rolling_shutter",
                "rolling shutter suspected: image rows seen at different times bend the reconstruction; fast "
                "moves may be off by a few percent",
            )
        )
    scale = report["scale"]
    if scale["status"] == "metric" and scale["spread"] > MAX_SCALE_SPREAD:
        out.append(
            warn(
                "scale_spread",
                f"depth and reconstruction disagree across the frame (spread {100 * scale['spread']:.0f} %): a wrong "
                "focal length, moving objects or a poor depth map; the size of the move is uncertain",
            )
        )
    if scale["status"] == "relative":
        out.append(warn("relative_scale", f"no metric scale ({scale['reason']}): the move is at relative scale"))
    return out
