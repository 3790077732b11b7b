"""Joining a long shot's windows into one take, and measuring the seams.

The join: window k + 1 starts at window k's frame `start_{k+1}` and shares the frames up to window k's end with
it (the overlap). Those frames were held to window k's frames while window k + 1 was sampled (windows.py), so
the two agree up to what the VAE's round trip changes. In pixel space the overlap is a linear crossfade from
window k's frames to window k + 1's: at overlap frame j of o, weight (j + 1) / (o + 1) on window k + 1. After
the overlap the take is window k + 1's own frames.

The measure: d_i = mean absolute difference (0-255) between take frames i and i + 1. Inside a window, away
from any overlap, d_i is what the model's own motion and noise give from one frame to the next; at a seam the
largest d_i from the frame before the overlap to the first frame after it. A seam no worse than the
model's own frame-to-frame change has a ratio near 1.
"""

from __future__ import annotations

import numpy as np


def join(parts: list, windows) -> np.ndarray:
    """The take: (frames, H, W, 3) uint8 from each window's frames (window.length each), crossfaded in overlaps."""
    total = windows[-1].end
    first = parts[0]
    out = np.empty((total, *first.shape[1:]), dtype=np.uint8)
    out[: windows[0].end] = first
    for w, frames in zip(windows[1:], parts[1:], strict=True):
        o = w.overlap
        if o:
            weight = (np.arange(1, o + 1, dtype=np.float32) / (o + 1))[:, None, None, None]
            old = out[w.start : w.start + o].astype(np.float32)
            new = frames[:o].astype(np.float32)
            out[w.start : w.start + o] = np.clip((1 - weight) * old + weight * new + 0.5, 0, 255).astype(np.uint8)
        out[w.start + o : w.end] = frames[o:]
    return out


def frame_differences(video: np.ndarray) -> np.ndarray:
    """d_i: mean absolute difference between frames i and i + 1 (0-255)."""
    v = video.astype(np.int16)
    return np.abs(v[1:] - v[:-1]).mean(axis=(1, 2, 3)).astype(np.float64)


def measure(video: np.ndarray, windows) -> dict:
    """Each seam's largest frame-to-frame difference against the median inside windows, and the ratio."""
    d = frame_differences(video)
    near = np.zeros(len(d), dtype=bool)
    seams = []
    for w in windows[1:]:
        lo, hi = max(w.start - 1, 0), min(w.start + w.overlap, len(d))  # d_{start-1} .. d_{start+overlap-1}
        near[lo:hi] = True
        seams.append({"window": w.index, "frames": [lo, hi], "max_difference": round(float(d[lo:hi].max()), 3)})
    inside = d[~near] if (~near).any() else d
    typical = float(np.median(inside)) if len(inside) else 0.0
    for s in seams:
        s["ratio"] = round(s["max_difference"] / typical, 3) if typical > 0 else None
    return {
        "in_window_median_difference": round(typical, 3),
        "seams": seams,
        "worst_ratio": max((s["ratio"] for s in seams if s["ratio"] is not None), default=None),
    }


def carried_difference(parts: list, windows) -> list[float]:
    """Per window k >= 1: how far its first frame is from window k - 1's frame at the same shot frame (the image
    it was started from, after the model's VAE round trip), as the mean absolute difference (0-255)."""
    out = []
    for k in range(1, len(windows)):
        prev, w = windows[k - 1], windows[k]
        a = parts[k - 1][w.start - prev.start].astype(np.int16)
        b = parts[k][0].astype(np.int16)
        out.append(round(float(np.abs(a - b).mean()), 3))
    return out
