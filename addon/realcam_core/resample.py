"""Fitting a photo to the generation size: scale to cover, crop the centre (pure numpy).

One rule for the add-on (importing without a backend) and the backend
(`realcam depth`), so the same photo gives the same pixels and intrinsics
either way:

- colour: Lanczos-3, separable, with the kernel widened by the downscale
  factor (a low-pass prefilter, as Pillow's LANCZOS does): a plain 2-tap
  bilinear on a large downscale skips most source pixels and aliases (moire
  on fine texture, which SfM and the video model then see as structure);
- depth: nearest neighbour (the source pixel under each output pixel's
  centre): averaging across a depth edge would invent surfaces.
"""

from __future__ import annotations

import numpy as np

LANCZOS_LOBES = 3


def cover_crop_box(src: tuple[int, int], dst: tuple[int, int]) -> tuple[float, tuple[float, float, float, float]]:
    """Scale that makes src (w, h) cover dst, and the centred crop box (l, t, r, b) in source pixels."""
    sw, sh = src
    dw, dh = dst
    scale = max(dw / sw, dh / sh)
    cw, ch = dw / scale, dh / scale
    left, top = (sw - cw) / 2.0, (sh - ch) / 2.0
    return scale, (left, top, left + cw, top + ch)


def _centres(lo: float, hi: float, out_len: int) -> np.ndarray:
    """Source coordinates (continuous, pixel i spans [i, i + 1)) of the output pixel centres."""
    return lo + (np.arange(out_len) + 0.5) * (hi - lo) / out_len


def _lanczos(x: np.ndarray) -> np.ndarray:
    out = np.sinc(x) * np.sinc(x / LANCZOS_LOBES)
    out[np.abs(x) >= LANCZOS_LOBES] = 0.0
    return out


def _lanczos_weights(in_len: int, lo: float, hi: float, out_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(out_len, taps) source indices and normalised weights along one axis."""
    step = (hi - lo) / out_len
    widen = max(step, 1.0)  # downscaling: stretch the kernel over the source pixels it stands for
    support = LANCZOS_LOBES * widen
    centres = _centres(lo, hi, out_len)
    first = np.maximum(np.floor(centres - support + 0.5), 0).astype(np.int64)
    last = np.minimum(np.floor(centres + support + 0.5), in_len).astype(np.int64)  # exclusive
    taps = int(np.ceil(2 * support)) + 2
    idx = first[:, None] + np.arange(taps)[None, :]
    w = _lanczos((idx + 0.5 - centres[:, None]) / widen)
    w[idx >= last[:, None]] = 0.0
    w /= w.sum(axis=1, keepdims=True)
    return np.minimum(idx, in_len - 1), w


def _filter_axis(a: np.ndarray, in_box: tuple[float, float], out_len: int, axis: int) -> np.ndarray:
    idx, w = _lanczos_weights(a.shape[axis], in_box[0], in_box[1], out_len)
    shape = [1] * a.ndim
    shape[axis] = out_len
    w = w.astype(np.float32)
    out = np.take(a, idx[:, 0], axis=axis) * w[:, 0].reshape(shape)
    for k in range(1, idx.shape[1]):
        out += np.take(a, idx[:, k], axis=axis) * w[:, k].reshape(shape)
    return out


def resize_cover(arr: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """(H, W[, C]) -> (size[1], size[0][, C]) covering size, centre cropped.

    Colour comes back as float32 in the input's units (Lanczos rings slightly past the input range:
    clip before storing); nearest keeps the input dtype."""
    a = np.asarray(arr)
    h, w = a.shape[:2]
    _, (left, top, right, bottom) = cover_crop_box((w, h), size)
    if nearest:
        xi = np.clip(np.floor(_centres(left, right, size[0])).astype(np.int64), 0, w - 1)
        yi = np.clip(np.floor(_centres(top, bottom, size[1])).astype(np.int64), 0, h - 1)
        return a[yi][:, xi]
    a = a.astype(np.float32)
    # The axis that shrinks most first: the second pass then runs on the smaller array.
    if h / size[1] >= w / size[0]:
        return _filter_axis(_filter_axis(a, (top, bottom), size[1], 0), (left, right), size[0], 1)
    return _filter_axis(_filter_axis(a, (left, right), size[0], 1), (top, bottom), size[1], 0)


def resize_cover_uint8(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """8-bit colour through the same rule, rounded and clipped."""
    return np.clip(np.round(resize_cover(arr, size)), 0, 255).astype(np.uint8)
