"""The photo's mesh as the add-on built it before issue 30 (commit 113aaed, addon/shot/photo_scene.py and
addon/realcam_core/addon_only/pointcloud.py): the reference the faster, sliced import must equal exactly.

Kept verbatim in what it computes (numpy only, except write_mesh, which takes bpy): its face topology, its
vertices and colours, and its way of writing them into Blender (loop starts through the API).
"""

import numpy as np


def topology(depth, max_depth_ratio=1.05, valid=None):
    """(faces (N, 4), edges (E, 2), corner_edges (N, 4)) int32, as grid_topology made them."""
    h, w = np.asarray(depth).shape
    d = np.asarray(depth, dtype=np.float32)
    ok = (np.isfinite(d) & (d > 0)) if valid is None else np.asarray(valid, dtype=bool)
    safe = np.where(ok, d, np.float32(1.0))
    corners = (safe[:-1, :-1], safe[:-1, 1:], safe[1:, 1:], safe[1:, :-1])
    dmin = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
    dmax = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    keep = ok[:-1, :-1] & ok[:-1, 1:] & ok[1:, 1:] & ok[1:, :-1] & (dmax <= dmin * max_depth_ratio)
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
    edges[:n_h, 0] = hk + hk // max(w - 1, 1)
    edges[:n_h, 1] = edges[:n_h, 0] + 1
    edges[n_h:, 0] = vk
    edges[n_h:, 1] = vk + w
    hid = np.cumsum(horiz.ravel(), dtype=np.int32) - 1
    vid = np.cumsum(vert.ravel(), dtype=np.int32) - 1 + n_h
    f = np.flatnonzero(keep).astype(np.int32)
    tl = f + f // max(w - 1, 1)
    faces = np.stack([tl, tl + w, tl + w + 1, tl + 1], axis=1).astype(np.int32).reshape(-1, 4)
    corner_edges = np.stack([vid[tl], hid[f + (w - 1)], vid[tl + 1], hid[f]], axis=1).astype(np.int32).reshape(-1, 4)
    return faces, edges, corner_edges


def vertices(depth, K):
    """(H*W, 3) float32, as grid_vertices made them (the outer ring on the frame's edge)."""
    h, w = depth.shape
    u = np.arange(w, dtype=np.float32) + 0.5
    v = np.arange(h, dtype=np.float32) + 0.5
    u[0], u[-1] = 0.0, float(w)
    v[0], v[-1] = 0.0, float(h)
    out = np.empty((h, w, 3), dtype=np.float32)
    np.multiply(((u - K.cx) / K.fx)[None, :], depth, out=out[..., 0])
    out[..., 1] = depth
    np.multiply((-(v - K.cy) / K.fy)[:, None], depth, out=out[..., 2])
    return out.reshape(-1, 3)


def _srgb_to_linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


SRGB_LUT = _srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0).astype(np.float32)


def colors(rgb):
    """(H*W, 4) float32 linear colours of uint8 sRGB pixels."""
    out = np.empty((rgb.shape[0] * rgb.shape[1], 4), dtype=np.float32)
    np.take(SRGB_LUT, rgb.reshape(-1, 3), out=out[:, :3], mode="clip")
    out[:, 3] = 1.0
    return out


def write_mesh(bpy, name, rgb, depth, K, max_depth_ratio):
    """The photo's mesh (depth in Blender units), written as build_mesh and _grid_mesh wrote it, without the
    material."""
    ok = np.isfinite(depth) & (depth > 0)
    verts = vertices(np.where(ok, depth, 0.0).astype(np.float32), K)
    faces, edges, corner_edges = topology(depth, max_depth_ratio, valid=ok)
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(verts))
    mesh.attributes["position"].data.foreach_set("vector", verts.ravel())
    mesh.edges.add(len(edges))
    mesh.attributes[".edge_verts"].data.foreach_set("value", edges.ravel())
    mesh.loops.add(faces.size)
    mesh.attributes[".corner_vert"].data.foreach_set("value", faces.ravel())
    mesh.attributes[".corner_edge"].data.foreach_set("value", corner_edges.ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 4, dtype=np.int32))
    mesh.update()
    attr = mesh.color_attributes.new("realcam_photo", "FLOAT_COLOR", "POINT")
    attr.data.foreach_set("color", colors(rgb).ravel())
    mesh.color_attributes.active_color = attr
    return mesh
