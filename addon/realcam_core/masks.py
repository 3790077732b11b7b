"""Preview coverage masks for scene-constrained noise shaping (pure numpy).

The chain:

1. visible: a preview pixel is covered by the rendered scene (alpha, not
   colour, so black pixels of the photo are not mistaken for holes);
2. edge exclusion: a pixel is kept only if its whole 5x5 neighbourhood is
   visible, because depth is least reliable at discontinuities. Outside the
   image counts as visible: the frame border is not a depth edge;
3. latent grid: a latent cell is kept when at least the threshold (0.9) of
   its pixels are kept ("area" rule). For a video VAE with temporal
   compression, latent frame 0 holds pixel frame 0 alone and latent frame
   j >= 1 holds pixel frames (j-1)*t+1 .. j*t; their fractions are averaged
   before the threshold.

Upstream (RealCam-I2V on DynamiCrafter, 8x latents) instead samples the kept
mask bilinearly with align_corners=True and thresholds that point value: a
cell is decided by the 2x2 pixels around one sample point, and with
align_corners=True that point drifts from the cell's top-left corner (first
cell) to its bottom-right corner (last cell), so border cells are judged by
pixels at the image edge rather than their own middle. Point sampling also
ignores how much of the cell is covered: with the 5x5 erosion a cell needs
only 6x6 covered pixels around the sample point, 56% of an 8x8 cell and 14%
of Wan 2.2's 16x16 cell. Uncovered pixels are encoded as grey, so a shaped
cell that is mostly hole pulls the video toward grey at disocclusion borders.
The area rule means the same at every latent factor (at most 10% of a shaped
cell is hole or edge) and is therefore the default; "bilinear" (centred
point sampling, align_corners=False) is kept for comparison.
"""

from __future__ import annotations

import numpy as np

ALPHA_COVERED = 0.5  # fraction of full alpha at or above which a pixel is covered


def visible_from_alpha(alpha) -> np.ndarray:
    """Boolean coverage from an alpha channel (uint8 0-255, uint16, or float 0-1)."""
    a = np.asarray(alpha)
    if a.dtype == np.uint8:
        return a >= 128
    if a.dtype == np.uint16:
        return a >= 32768
    return a.astype(np.float32) >= ALPHA_COVERED


def erode(mask, size: int = 5) -> np.ndarray:
    """Keep a pixel only if every pixel of its size x size window is set.

    Works on (..., H, W); pixels outside the image count as set.
    """
    m = np.asarray(mask, dtype=bool)
    if size <= 1:
        return m.copy()
    r = size // 2
    pad = [(0, 0)] * (m.ndim - 2) + [(r, r), (r, r)]
    p = np.pad(m, pad, constant_values=True)
    h, w = m.shape[-2:]
    # Separable: a window is all-set iff each of its rows is, so AND along
    # x first, then along y. Cost 2*size passes instead of size**2.
    rows = np.ones(p.shape[:-1] + (w,), dtype=bool)
    for dx in range(size):
        rows &= p[..., dx : dx + w]
    out = np.ones(m.shape, dtype=bool)
    for dy in range(size):
        out &= rows[..., dy : dy + h, :]
    return out


def shaping_mask(alpha, edge_size: int = 5) -> np.ndarray:
    """Visible, non-edge pixels of preview frames (F, H, W) or one frame (H, W)."""
    return erode(visible_from_alpha(alpha), edge_size)


def _linear_resize_axis(a: np.ndarray, out_len: int, axis: int) -> np.ndarray:
    # Same sampling as torch.nn.functional.interpolate(mode="bilinear",
    # align_corners=False, antialias=False): each output sample sits at the
    # centre of its cell (upstream uses align_corners=True, see the module doc).
    in_len = a.shape[axis]
    scale = in_len / out_len
    src = (np.arange(out_len) + 0.5) * scale - 0.5
    src = np.clip(src, 0.0, None)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_len - 1)
    i1 = np.minimum(i0 + 1, in_len - 1)
    lam = src - i0
    shape = [1] * a.ndim
    shape[axis] = out_len
    lam = lam.reshape(shape)
    return np.take(a, i0, axis=axis) * (1.0 - lam) + np.take(a, i1, axis=axis) * lam


def _area_resize(a: np.ndarray, factor: int) -> np.ndarray:
    h, w = a.shape[-2:]
    lead = a.shape[:-2]
    return a.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


def downsample_spatial(mask, factor: int, mode: str = "area") -> np.ndarray:
    """Fraction-valued (..., H/f, W/f) grid from a (..., H, W) mask.

    "area": the fraction of each cell's pixels that are set (the default);
    "bilinear": the bilinear value at the centre of each cell (2x2 pixels,
    whatever the factor).
    """
    m = np.asarray(mask, dtype=np.float32)
    h, w = m.shape[-2:]
    if h % factor or w % factor:
        raise ValueError(f"mask size {w}x{h} is not a multiple of the latent factor {factor}")
    if mode == "area":
        return _area_resize(m, factor)
    if mode != "bilinear":
        raise ValueError(f"unknown downsampling mode {mode!r}")
    out = _linear_resize_axis(m, h // factor, m.ndim - 2)
    return _linear_resize_axis(out, w // factor, m.ndim - 1)


def latent_frame_groups(num_frames: int, temporal: int) -> list[range]:
    """Pixel frames held by each latent frame of a causal video VAE.

    temporal == 1 is a per-frame VAE (one latent frame per pixel frame).
    """
    if temporal <= 1:
        return [range(i, i + 1) for i in range(num_frames)]
    if (num_frames - 1) % temporal:
        raise ValueError(f"{num_frames} frames do not fit a {temporal}x temporal VAE (need {temporal}k+1)")
    groups = [range(0, 1)]
    for j in range(1, (num_frames - 1) // temporal + 1):
        groups.append(range((j - 1) * temporal + 1, j * temporal + 1))
    return groups


def latent_mask(mask, spatial: int, temporal: int = 1, threshold: float = 0.9, mode: str = "area") -> np.ndarray:
    """Boolean (F', H/s, W/s) latent mask from a (F, H, W) pixel mask."""
    m = np.asarray(mask)
    if m.ndim != 3:
        raise ValueError(f"expected a (frames, height, width) mask, got shape {m.shape}")
    grid = downsample_spatial(m, spatial, mode)
    groups = latent_frame_groups(m.shape[0], temporal)
    per_latent = np.stack([grid[g.start : g.stop].mean(axis=0) for g in groups])
    return per_latent >= threshold
