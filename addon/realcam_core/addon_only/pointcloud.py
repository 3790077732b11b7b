"""A metric depth map as points and a grid mesh (pure numpy).

One point per pixel, at the pixel centre, in the reference camera's OpenCV
frame. Grid faces join 2x2 blocks of neighbouring pixels, except across depth
discontinuities, so what the photo never saw stays empty instead of being
bridged by stretched faces.
"""

from __future__ import annotations

import numpy as np

from ..camera import Intrinsics

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


def _keep_mask(depth, max_depth_ratio: float, valid) -> np.ndarray:
    """(H-1, W-1) bool: which 2x2 pixel blocks become faces."""
    d = np.asarray(depth, dtype=np.float32)
    ok = valid_depth(d) if valid is None else np.asarray(valid, dtype=bool)
    safe = np.where(ok, d, np.float32(1.0))
    corners = (safe[:-1, :-1], safe[:-1, 1:], safe[1:, 1:], safe[1:, :-1])
    dmin = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
    dmax = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    return ok[:-1, :-1] & ok[:-1, 1:] & ok[1:, 1:] & ok[1:, :-1] & (dmax <= dmin * max_depth_ratio)


def grid_faces(depth, max_depth_ratio: float = DEFAULT_MAX_DEPTH_RATIO, valid=None) -> np.ndarray:
    """(N, 4) int32 quads (vertex index = row * W + col), counter-clockwise as seen
    from the camera in Blender, skipping blocks that span a discontinuity."""
    return grid_topology(depth, max_depth_ratio, valid)[0]


def grid_topology(depth, max_depth_ratio: float = DEFAULT_MAX_DEPTH_RATIO, valid=None):
    """Faces, edges and each face corner's edge of the grid mesh, all int32, built in numpy.

    Handing Blender the edges (instead of asking it to derive them) is what makes
    a 1920x1080 import fast. Corners run top-left, bottom-left, bottom-right,
    top-right (facing the camera in Blender); corner i's edge joins corner i and i+1.
    """
    h, w = np.asarray(depth).shape
    keep = _keep_mask(depth, max_depth_ratio, valid)
    # Edge (r, c)-(r, c+1) exists when a face above or below it does; (r, c)-(r+1, c) when one left or right does.
    horiz = np.zeros((h, w - 1), bool)
    horiz[:-1] |= keep
    horiz[1:] |= keep
    vert = np.zeros((h - 1, w), bool)
    vert[:, :-1] |= keep
    vert[:, 1:] |= keep
    hk = np.flatnonzero(horiz).astype(np.int32)
    vk = np.flatnonzero(vert).astype(np.int32)
    n_h = len(hk)
    edges = np.empty((n_h + len(vk), 2), np.int32)
    edges[:n_h, 0] = hk + hk // (w - 1)  # flat (h, w-1) index -> vertex index
    edges[:n_h, 1] = edges[:n_h, 0] + 1
    edges[n_h:, 0] = vk  # (h-1, w) shares the vertex grid's row stride
    edges[n_h:, 1] = vk + w
    hid = np.cumsum(horiz.ravel(), dtype=np.int32) - 1
    vid = np.cumsum(vert.ravel(), dtype=np.int32) - 1 + n_h
    f = np.flatnonzero(keep).astype(np.int32)  # flat (h-1, w-1) face index
    tl = f + f // (w - 1)
    faces = np.empty((len(f), 4), np.int32)
    faces[:, 0] = tl
    faces[:, 1] = tl + w
    faces[:, 2] = tl + w + 1
    faces[:, 3] = tl + 1
    corner_edges = np.empty((len(f), 4), np.int32)
    corner_edges[:, 0] = vid[tl]
    corner_edges[:, 1] = hid[f + (w - 1)]
    corner_edges[:, 2] = vid[tl + 1]
    corner_edges[:, 3] = hid[f]
    return faces, edges, corner_edges


def blender_world_points(points_cv) -> np.ndarray:
    """OpenCV camera-frame points -> Blender world of the reference camera (x, z, -y)."""
    p = np.asarray(points_cv)
    out = np.empty_like(p)
    out[..., 0] = p[..., 0]
    out[..., 1] = p[..., 2]
    out[..., 2] = -p[..., 1]
    return out
