"""A metric depth map as the photo's grid mesh (pure numpy): what the add-on hands Blender.

One vertex per pixel, at the pixel centre (the outer ring on the frame's edge),
in Blender world axes with the reference camera at the origin looking along +Y.
Grid faces join 2x2 blocks of neighbouring pixels, except across depth
discontinuities, so what the photo never saw stays empty instead of being
bridged by stretched faces.
"""

from __future__ import annotations

import numpy as np

from ..camera import Intrinsics

# Two neighbours belong to the same surface when the far one is at most this
# much deeper than the near one (relative). 5% is a step of 10 cm at 2 m.
DEFAULT_MAX_DEPTH_RATIO = 1.05


def grid_vertices(depth: np.ndarray, K: Intrinsics) -> np.ndarray:
    """(H*W, 3) float32 Blender-world positions, written into one array (large temporaries are slow)."""
    h, w = depth.shape
    u = np.arange(w, dtype=np.float32) + 0.5
    v = np.arange(h, dtype=np.float32) + 0.5
    # Border vertices sit on the frame's edge, not half a pixel inside it.
    u[0], u[-1] = 0.0, float(w)
    v[0], v[-1] = 0.0, float(h)
    out = np.empty((h, w, 3), dtype=np.float32)
    # OpenCV (x, y, z) -> Blender (x, z, -y): see realcam_core.camera.REFERENCE_C2W_BLENDER_WORLD.
    np.multiply(((u - K.cx) / K.fx)[None, :], depth, out=out[..., 0])
    out[..., 1] = depth
    np.multiply((-(v - K.cy) / K.fy)[:, None], depth, out=out[..., 2])
    return out.reshape(-1, 3)


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
