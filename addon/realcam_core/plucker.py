"""Plücker ray maps: how a camera-conditioned video model is told the camera (pure numpy).

The convention is the one the Wan2.2-Fun Control-Camera models were trained
with (VideoX-Fun's ray maps), in the project's camera conventions (camera.py):

* per frame: intrinsics fx, fy, cx, cy in pixels of the generation size, the
  ray of pixel (column i, row j) through its centre (i + 0.5, j + 0.5), and a
  camera-to-world 4x4 in OpenCV axes relative to frame 0;
* per pixel six channels: the moment o x d (3), then the direction d (3), with
  o the camera centre and d the unit-length ray direction, both in frame-0
  coordinates. Nothing else is normalised: the moments carry the track's own
  translation units (metres in a job bundle).

Latent grouping, for video VAEs that compress time 4x and keep the first frame
alone: latent frame 0 holds frame 0 four times, latent frame k >= 1 holds
frames 4k-3 .. 4k; channel c of the j-th of those frames (oldest first) lands
on channel 4c + j. The map stays at pixel resolution; the model's adapter
does the spatial reduction.
"""

from __future__ import annotations

import numpy as np

from .camera import relative_to_first

RAY_CHANNELS = 6  # moment (3), direction (3)


def plucker_frame(intrinsics, c2w, height: int, width: int) -> np.ndarray:
    """(6, H, W) float32 ray map of one camera: channels (o x d, d).

    intrinsics: fx, fy, cx, cy in pixels; c2w: 4x4 relative to the reference camera.
    Computed plane by plane in float32 (a 1280x704 frame in a few milliseconds)."""
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    c2w = np.asarray(c2w, dtype=np.float64)
    x = ((np.arange(width) + 0.5 - cx) / fx).astype(np.float32)[None, :]
    y = ((np.arange(height) + 0.5 - cy) / fy).astype(np.float32)[:, None]
    inv_norm = 1.0 / np.sqrt(x * x + y * y + np.float32(1.0))  # unit length of (x, y, 1)
    rot, o = c2w[:3, :3].astype(np.float32), c2w[:3, 3].astype(np.float32)
    out = np.empty((RAY_CHANNELS, height, width), np.float32)
    for i in range(3):  # d = R (x, y, 1) / |(x, y, 1)|
        out[3 + i] = (rot[i, 0] * x + rot[i, 1] * y + rot[i, 2]) * inv_norm
    d = out[3:]
    out[0] = o[1] * d[2] - o[2] * d[1]  # moment o x d
    out[1] = o[2] * d[0] - o[0] * d[2]
    out[2] = o[0] * d[1] - o[1] * d[0]
    return out


def latent_frame_sources(frames: int, temporal: int = 4) -> list[tuple[int, ...]]:
    """Which pixel frames feed each latent frame: [(0, 0, 0, 0), (1, 2, 3, 4), (5, 6, 7, 8), ...]."""
    if frames < 1 or (frames - 1) % temporal:
        raise ValueError(f"{frames} frames cannot be grouped {temporal} per latent frame (need {temporal}k+1)")
    groups = [(0,) * temporal]
    groups += [tuple(range(1 + temporal * k, 1 + temporal * (k + 1))) for k in range((frames - 1) // temporal)]
    return groups


def group_frames(rays) -> np.ndarray:
    """(T, 6, H, W) ray maps of one latent frame's pixel frames -> (6T, H, W), channel 4c + j for T = 4."""
    rays = np.asarray(rays)
    t, c, h, w = rays.shape
    return rays.transpose(1, 0, 2, 3).reshape(c * t, h, w)


def latent_camera_input(intrinsics, c2w, height: int, width: int, latent_frame: int, temporal: int = 4):
    """(6 * temporal, H, W) float32 camera input of one latent frame of a track (F = temporal * k + 1).

    Built one latent frame at a time: the whole map of a 121-frame 1280x704 track is 2.6 GB."""
    k = np.asarray(intrinsics, dtype=np.float64)
    rel = relative_to_first(np.asarray(c2w, dtype=np.float64))
    sources = latent_frame_sources(len(rel), temporal)[latent_frame]
    maps = {f: plucker_frame(k[f], rel[f], height, width) for f in set(sources)}
    return group_frames(np.stack([maps[f] for f in sources]))
