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


def face_mask(depth, max_depth_ratio: float = DEFAULT_MAX_DEPTH_RATIO, valid=None) -> np.ndarray:
    """(H-1, W) bool: whether the 2x2 pixel block whose top-left pixel is (r, c) becomes a face.

    The last column is always False: padded to the vertex grid's width, a block's flat index is its top-left
    vertex's index, which saves an integer division per face in grid_topology."""
    d = np.asarray(depth, dtype=np.float32)
    h, w = d.shape
    ok = valid_depth(d) if valid is None else np.asarray(valid, dtype=bool)
    # Unknown depth as NaN: min and max carry it, and a comparison with NaN is false, so a block touching
    # one is never a face without a separate validity test per corner.
    dn = np.where(ok, d, np.float32(np.nan))
    pair_min = np.minimum(dn[:, :-1], dn[:, 1:])  # horizontal pairs, then vertical pairs of those: 2x2 blocks
    pair_max = np.maximum(dn[:, :-1], dn[:, 1:])
    dmin = np.minimum(pair_min[:-1], pair_min[1:])
    dmax = np.maximum(pair_max[:-1], pair_max[1:])
    mask = np.zeros((h - 1, w), dtype=bool)
    with np.errstate(invalid="ignore"):
        np.less_equal(dmax, dmin * max_depth_ratio, out=mask[:, :-1])
    return mask


def _edge_masks(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat existence of each grid edge, in the padded layout of face_mask: horizontal (r, c)-(r, c+1) at
    r*W + c over H rows, vertical (r, c)-(r+1, c) at r*W + c over H-1 rows. An edge exists where a face uses it."""
    hm1, w = mask.shape
    horiz = np.zeros((hm1 + 1, w), dtype=bool)
    horiz[:-1] = mask  # the top edge of a face
    horiz[1:] |= mask  # its bottom edge
    vert = mask.copy()  # its left edge
    vert[:, 1:] |= mask[:, :-1]  # its right edge
    return horiz.ravel(), vert.ravel()


def topology_counts(mask: np.ndarray) -> tuple[int, int]:
    """(faces, edges) of the mesh face_mask describes: enough for Blender to allocate them before the arrays exist."""
    horiz, vert = _edge_masks(mask)
    return int(np.count_nonzero(mask)), int(np.count_nonzero(horiz)) + int(np.count_nonzero(vert))


def grid_topology(depth, max_depth_ratio: float = DEFAULT_MAX_DEPTH_RATIO, valid=None):
    """(faces (N, 4), edges (E, 2), corner_edges (N, 4)) of the grid mesh, all int32, built in numpy.

    Handing Blender the edges (instead of asking it to derive them) is what makes a 1920x1080 import fast.
    Corners run top-left, bottom-left, bottom-right, top-right (facing the camera in Blender); corner i's
    edge joins corner i and i+1. Edges: the horizontal ones row by row, then the vertical ones. The three
    arrays come from separate functions of the face mask, so they can be built in parallel."""
    mask = face_mask(depth, max_depth_ratio, valid)
    return grid_faces(mask), grid_edges(mask), grid_corner_edges(mask)


def grid_faces(mask: np.ndarray) -> np.ndarray:
    """(N, 4) int32 corner vertices of each face of a face_mask (the padded flat index is the top-left vertex)."""
    w = mask.shape[1]
    top_left = np.arange(mask.size, dtype=np.int32)[mask.ravel()]
    faces = np.empty((len(top_left), 4), dtype=np.int32)
    faces[:, 0] = top_left
    np.add(top_left, w, out=faces[:, 1])
    np.add(top_left, w + 1, out=faces[:, 2])
    np.add(top_left, 1, out=faces[:, 3])
    return faces


def grid_edges(mask: np.ndarray) -> np.ndarray:
    """(E, 2) int32 vertices of each edge a face of a face_mask uses: horizontal ones, then vertical ones."""
    w = mask.shape[1]
    horiz, vert = _edge_masks(mask)
    index = np.arange(len(horiz), dtype=np.int32)  # padded flat position = the vertex at its left or top end
    h_at = index[horiz]
    v_at = index[: len(vert)][vert]
    n_h = len(h_at)
    edges = np.empty((n_h + len(v_at), 2), dtype=np.int32)
    edges[:n_h, 0] = h_at
    np.add(h_at, 1, out=edges[:n_h, 1])
    edges[n_h:, 0] = v_at
    np.add(v_at, w, out=edges[n_h:, 1])
    return edges


def grid_corner_edges(mask: np.ndarray) -> np.ndarray:
    """(N, 4) int32 edge of each face corner (grid_faces' order; the edge to the next corner), as grid_edges
    numbers them: an edge's number is how many edges of its kind come before it (a running count, no search)."""
    m, w = mask.size, mask.shape[1]
    keep = mask.ravel()
    horiz, vert = _edge_masks(mask)
    h_id = np.cumsum(horiz, dtype=np.int32)
    h_id -= 1
    v_id = np.cumsum(vert, dtype=np.int32)
    v_id += h_id[-1]  # the vertical ones come after every horizontal one
    corner_edges = np.empty((int(np.count_nonzero(keep)), 4), dtype=np.int32)
    corner_edges[:, 0] = v_id[keep]  # left edge
    corner_edges[:, 1] = h_id[w:][keep]  # bottom edge
    np.add(corner_edges[:, 0], 1, out=corner_edges[:, 2])  # right edge: the next vertical one
    corner_edges[:, 3] = h_id[:m][keep]  # top edge
    return corner_edges
