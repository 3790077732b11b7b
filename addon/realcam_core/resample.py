"""Fitting a photo to the generation size: scale to cover, crop the centre (pure numpy).

The backend does the same with Pillow (better filters); the add-on uses this when
it works without a backend. Both share cover_crop_box, so intrinsics agree.
"""

from __future__ import annotations

import numpy as np


def cover_crop_box(src: tuple[int, int], dst: tuple[int, int]) -> tuple[float, tuple[float, float, float, float]]:
    """Scale that makes src (w, h) cover dst, and the centred crop box (l, t, r, b) in source pixels."""
    sw, sh = src
    dw, dh = dst
    scale = max(dw / sw, dh / sh)
    cw, ch = dw / scale, dh / scale
    left, top = (sw - cw) / 2.0, (sh - ch) / 2.0
    return scale, (left, top, left + cw, top + ch)


def _source_coords(box, out_len: int, axis_lo: int, axis_hi: int):
    lo, hi = box[axis_lo], box[axis_hi]
    return lo + (np.arange(out_len) + 0.5) * (hi - lo) / out_len - 0.5  # pixel-centre mapping


def resize_cover(arr: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """(H, W[, C]) -> (size[1], size[0][, C]); bilinear for colour, nearest for depth
    (averaging across a depth edge would invent surfaces)."""
    h, w = arr.shape[:2]
    _, box = cover_crop_box((w, h), size)
    xs = _source_coords(box, size[0], 0, 2)
    ys = _source_coords(box, size[1], 1, 3)
    if nearest:
        xi = np.clip(np.round(xs).astype(np.int64), 0, w - 1)
        yi = np.clip(np.round(ys).astype(np.int64), 0, h - 1)
        return arr[yi][:, xi]
    xs, ys = np.clip(xs, 0, w - 1), np.clip(ys, 0, h - 1)
    x0, y0 = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (xs - x0), (ys - y0)
    a = arr.astype(np.float32)
    if a.ndim == 3:
        fx, fy = fx[None, :, None], fy[:, None, None]
    else:
        fx, fy = fx[None, :], fy[:, None]
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x1] * fx
    bottom = a[y1][:, x0] * (1 - fx) + a[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy
