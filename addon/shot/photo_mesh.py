"""The photo's grid mesh, written into Blender a slice at a time (import, Depth edge, scene fixes).

numpy builds the arrays (realcam_core.addon_only.pointcloud) in worker threads: the face mask and from it the
faces, edges and corner edges, the points, the colours, side by side. Meanwhile the main thread makes Blender
room for them (the points at once, the faces once their count is known) and then hands each array over in bulk
as it is ready (foreach_set into Blender's attribute arrays), one array or allocation per slice, so a timer
tick stays short and a cancel lands between slices. Until it is done the mesh has no users, so nothing draws,
saves or evaluates it half written; each slice finds it again by name and token, because an undo in between
frees it (the build then stops and says why) and a Python reference to a freed ID must never be touched.
"""

from __future__ import annotations

import ctypes
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass

import bpy
import numpy as np

from ..realcam_core.addon_only.pointcloud import (
    face_mask,
    grid_corner_edges,
    grid_edges,
    grid_faces,
    grid_vertices,
    topology_counts,
    valid_depth,
)
from ..realcam_core.camera import Intrinsics
from ..tasks import WaitFor

COLOR_ATTRIBUTE = "realcam_photo"
_TOKEN = "realcam_building"  # an ID property the mesh carries while it is being written


def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


SRGB_LUT = _srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0).astype(np.float32)
# Two channels per lookup: entry i holds the linear values of the two bytes of the uint16 i as they lie in memory
# (so byte order does not matter), as one 8-byte item. Half the gathers of a per-channel lookup, the slow part.
_PAIR_LUT = SRGB_LUT[np.arange(65536, dtype=np.uint16).view(np.uint8).reshape(-1, 2)].view(np.uint64).ravel()


class MeshGone(RuntimeError):
    """The mesh being written went away between two slices (an undo freed it)."""


def colors_linear(rgb: np.ndarray) -> np.ndarray:
    """(N, 4) float32 linear colours (alpha 1) of 8-bit sRGB pixels (H, W, 3)."""
    index = np.empty((rgb.shape[0] * rgb.shape[1], 4), dtype=np.uint8)
    index[:, :3] = rgb.reshape(-1, 3)
    index[:, 3] = 255  # SRGB_LUT[255] is exactly 1.0: the alpha
    return _PAIR_LUT[index.view(np.uint16)].view(np.float32)


@dataclass
class MeshParts:
    """The mesh's arrays, each a Future that a worker thread fills while the main thread writes the ones before."""

    n_points: int  # known up front: one per pixel
    counts: Future  # (faces, edges): enough for Blender to allocate them
    positions: Future  # (N, 3) float32, Blender units
    colors: Future  # (N, 4) float32, linear, unlit
    faces: Future  # pointcloud.grid_faces
    edges: Future  # pointcloud.grid_edges
    corner_edges: Future  # pointcloud.grid_corner_edges

    @classmethod
    def empty(cls, n_points: int) -> MeshParts:
        return cls(n_points, *(Future() for _ in range(6)))


def _in_worker(name: str, fn, *futures: Future) -> None:
    """fn() in a worker thread: it fills the futures; an error fails those it did not fill. A thread per part,
    not one for all: Blender's bulk calls on the main thread hold the GIL (tens of ms each), so a lone worker
    stalls at every numpy call's end; several keep their numpy loops going meanwhile (one worker measured slower)."""

    def run():
        try:
            fn()
        except BaseException as e:
            for f in futures:
                if not f.done():
                    f.set_exception(e)

    threading.Thread(target=run, name=f"realcam-{name}", daemon=True).start()


def _cut_faces(parts: MeshParts, depth: np.ndarray, max_depth_ratio: float) -> None:
    """Two worker threads: one makes the face mask, then the counts, faces and edges; the other the corner edges
    (the longest part) once the mask is there. Each part is handed over as it is done."""
    mask = Future()

    def faces_and_edges():
        mask.set_result(face_mask(depth, max_depth_ratio))
        parts.counts.set_result(topology_counts(mask.result()))
        parts.faces.set_result(grid_faces(mask.result()))
        parts.edges.set_result(grid_edges(mask.result()))

    def corner_edges():
        parts.corner_edges.set_result(grid_corner_edges(mask.result()))

    _in_worker("faces", faces_and_edges, mask, parts.counts, parts.faces, parts.edges)
    _in_worker("corner-edges", corner_edges, parts.corner_edges)


def photo_parts(rgb: np.ndarray, depth: np.ndarray, K: Intrinsics, max_depth_ratio: float) -> MeshParts:
    """Start the numpy work for a photo (uint8 (H, W, 3)) and its depth ((H, W), Blender units) in worker threads:
    the faces (_cut_faces), the points and their colours, side by side."""
    parts = MeshParts.empty(depth.size)

    def points():
        parts.positions.set_result(grid_vertices(np.where(valid_depth(depth), depth, 0.0).astype(np.float32), K))

    _cut_faces(parts, depth, max_depth_ratio)
    _in_worker("points", points, parts.positions)
    _in_worker("colours", lambda: parts.colors.set_result(colors_linear(rgb)), parts.colors)
    return parts


def mesh_parts(positions: np.ndarray, colors: np.ndarray, K: Intrinsics, max_depth_ratio: float) -> MeshParts:
    """An existing photo mesh's points and colours ((N, 3), (N, 4)) with its faces cut anew in worker threads:
    the camera looks along +Y, so a point's y is its depth."""
    parts = MeshParts.empty(len(positions))
    parts.positions.set_result(positions)
    parts.colors.set_result(colors)
    _cut_faces(parts, positions.reshape(K.height, K.width, 3)[..., 1], max_depth_ratio)
    return parts


def _find(name: str, token: str):
    mesh = bpy.data.meshes.get(name)
    if mesh is None or mesh.get(_TOKEN) != token:
        raise MeshGone(f"the photo's mesh {name!r} went away while it was being built (undone?): import again")
    return mesh


MESH_SLICES = 7  # progress steps of write_mesh


def write_mesh(name: str, parts: MeshParts, report=None):
    """Task steps: a new mesh `name` (no users) holding the parts; returns its name (Blender may have added a
    suffix). Room for the points and colours is made at once, for the faces once their count is known, while the
    worker threads build the arrays; each array is written in a slice of its own once its part is ready. A failure
    or cancel removes what was written. report(k, detail), if given, is called before step k of MESH_SLICES."""
    say = report or (lambda k, detail: None)
    token = uuid.uuid4().hex
    say(1, "room for the points")
    mesh = bpy.data.meshes.new(name)
    mesh[_TOKEN] = token
    name = mesh.name
    try:
        mesh.vertices.add(parts.n_points)
        yield None
        mesh = _find(name, token)
        mesh.color_attributes.new(COLOR_ATTRIBUTE, "FLOAT_COLOR", "POINT")
        yield WaitFor(parts.counts.done)
        say(2, "room for the faces")
        n_faces, n_edges = parts.counts.result()
        mesh = _find(name, token)
        mesh.edges.add(n_edges)
        yield None
        mesh = _find(name, token)
        mesh.loops.add(4 * n_faces)
        yield None
        mesh = _find(name, token)
        mesh.polygons.add(n_faces)
        _quad_offsets(mesh, n_faces)
        for k, (part, detail, attr, prop) in enumerate(
            (
                (parts.positions, "the points", "position", "vector"),
                (parts.colors, "the colours", COLOR_ATTRIBUTE, "color"),
                (parts.faces, "the faces", ".corner_vert", "value"),
                (parts.edges, "the edges", ".edge_verts", "value"),
                (parts.corner_edges, "the faces' edges", ".corner_edge", "value"),
            ),
            start=3,
        ):
            yield WaitFor(part.done)
            say(k, detail)
            mesh = _find(name, token)
            mesh.attributes[attr].data.foreach_set(prop, part.result().reshape(-1))
        mesh.color_attributes.active_color = mesh.color_attributes[COLOR_ATTRIBUTE]
        mesh.update()
        del mesh[_TOKEN]
    except BaseException:
        gone = bpy.data.meshes.get(name)
        if gone is not None and gone.get(_TOKEN) == token:
            bpy.data.meshes.remove(gone)
        raise
    return name


def _quad_offsets(mesh, n_faces: int) -> None:
    """Face i starts at corner 4i. foreach_set("loop_start") costs Blender a property call per face (about 0.1 s
    a million faces, a third of a 1920x1080 import), and Blender has no bulk API for face offsets. Since 4.0 a
    face's RNA pointer is its entry in the mesh's int offset array (made unique for writing by that very access),
    so the offsets are copied there in one go once the layout checks out, and read back through the API;
    anything else takes the slow, sure way."""
    if n_faces == 0:
        return
    offsets = np.arange(0, 4 * n_faces, 4, dtype=np.int32)
    polygons = mesh.polygons
    if n_faces >= 2:
        first = polygons[0].as_pointer()
        if polygons[1].as_pointer() - first == 4 and polygons[n_faces - 1].as_pointer() - first == 4 * (n_faces - 1):
            ctypes.memmove(first, offsets.ctypes.data, offsets.nbytes)
            probe = (1, n_faces // 2, n_faces - 1)
            if all(polygons[i].loop_start == 4 * i and polygons[i].loop_total == 4 for i in probe):
                return
    polygons.foreach_set("loop_start", offsets)
