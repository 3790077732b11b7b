"""A metric depth map as points and a grid mesh (pure numpy).

One point per pixel, at the pixel centre, in the reference camera's OpenCV
frame. Grid faces join 2x2 blocks of neighbouring pixels, except across depth
discontinuities, so what the photo never saw stays empty instead of being
bridged by stretched faces.
"""

from __future__ import annotations

import numpy as np

from .camera import Intrinsics

# Two neighbours belong to the same surface when the far one is at most this
# much deeper than the near one (relative). 5% is a step of 10 cm at 2 m.
DEFAULT_MAX_DEPTH_RATIO = 1.05


def backproject_depth(depth, K: Intrinsics) -> np.ndarray:
    """(H, W, 3) float32 camera-frame points of a z-depth map (metres)."""
    d = np.asarray(depth, dtype=np.float32)
    h, w = d.shape
    if (w, h) != (K.width, K.height):
        raise ValueError(f"depth map is {w}x{h} but the intrinsics are for {K.width}x{K.height}")
    x = ((np.arange(w, dtype=np.float32) + 0.5 - K.cx) / K.fx)[None, :]
    y = ((np.arange(h, dtype=np.float32) + 0.5 - K.cy) / K.fy)[:, None]
    pts = np.empty((h, w, 3), dtype=np.float32)
    np.multiply(x, d, out=pts[..., 0])
    np.multiply(y, d, out=pts[..., 1])
    pts[..., 2] = d
    return pts


def valid_depth(depth) -> np.ndarray:
    d = np.asarray(depth)
    return np.isfinite(d) & (d > 0)


def grid_faces(depth, max_depth_ratio: float = DEFAULT_MAX_DEPTH_RATIO, valid=None) -> np.ndarray:
    """(N, 4) int32 quads (vertex index = row * W + col), counter-clockwise as seen
    from the camera in Blender, skipping blocks that span a discontinuity."""
    d = np.asarray(depth, dtype=np.float32)
    h, w = d.shape
    ok = valid_depth(d) if valid is None else np.asarray(valid, dtype=bool)
    safe = np.where(ok, d, np.float32(1.0))
    corners = (safe[:-1, :-1], safe[:-1, 1:], safe[1:, 1:], safe[1:, :-1])
    dmin = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
    dmax = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    keep = ok[:-1, :-1] & ok[:-1, 1:] & ok[1:, 1:] & ok[1:, :-1] & (dmax <= dmin * max_depth_ratio)
    rows, cols = np.nonzero(keep)
    tl = (rows * w + cols).astype(np.int32)
    # Image rows grow downward; in Blender the mesh faces the camera when its
    # corners run top-left, bottom-left, bottom-right, top-right.
    return np.stack([tl, tl + w, tl + w + 1, tl + 1], axis=1)


def blender_world_points(points_cv) -> np.ndarray:
    """OpenCV camera-frame points -> Blender world of the reference camera (x, z, -y)."""
    p = np.asarray(points_cv)
    out = np.empty_like(p)
    out[..., 0] = p[..., 0]
    out[..., 1] = p[..., 2]
    out[..., 2] = -p[..., 1]
    return out
