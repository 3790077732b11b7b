"""Whether a preview is out of date: a fingerprint of everything it shows, gathered while the camera is read; and
a quick state of what decides it, read without stepping frames, for the panel after an undo or on opening a file."""

from __future__ import annotations

import hashlib
import os
import zlib

import bpy
import numpy as np

from ..compat import action_fcurves

GEOMETRY_TYPES = {"MESH", "CURVE", "SURFACE", "META", "FONT", "CURVES", "POINTCLOUD", "VOLUME", "GREASEPENCIL"}


class Fingerprint:
    """What a preview shows, gathered while the camera track is read frame by frame.

    The shot's settings (size, range, frame rate, units, camera, engine), its
    reference files, every object it holds (visibility included), each rendered
    object's world matrix at every frame, and geometry: the photo's mesh once
    (it never deforms), every other object's evaluated geometry at every frame
    (props may be animated). Two previews with the same fingerprint show the
    same thing; anything else that changed makes the preview out of date."""

    def __init__(self, shot, engine: str, scene_folder: str):
        rc = shot.realcam
        self.photo = rc.photo_mesh.name if rc.photo_mesh is not None else ""
        self.parts: list = [head(shot, engine, scene_folder).encode()]

    def frame(self, depsgraph, index: int) -> None:
        for inst in depsgraph.object_instances:
            ob = inst.object
            if ob.type in GEOMETRY_TYPES:
                self.parts.append(ob.name.encode())
                self.parts.append(np.array(inst.matrix_world, np.float64).round(7).tobytes())
        for ob in depsgraph.objects:
            if ob.type in GEOMETRY_TYPES and (index == 0 or ob.name != self.photo):
                self.parts.append(_geometry(ob))

    def track(self, Ks, c2ws) -> None:
        for K, m in zip(Ks, c2ws, strict=True):
            self.parts.append(np.array([K.fx, K.fy, K.cx, K.cy, K.width, K.height], np.float64).tobytes())
            self.parts.append(np.round(np.asarray(m, np.float64), 9).tobytes())

    def digest(self) -> str:
        """The fingerprint (hashing the photo's mesh takes a while: call it in a worker thread)."""
        h = hashlib.sha1()
        for p in self.parts:
            h.update(p if isinstance(p, bytes) else memoryview(np.ascontiguousarray(p)).cast("B"))
        return h.hexdigest()


def head(shot, engine: str, scene_folder: str) -> str:
    """The shot's settings, its reference files and the objects it holds (with their visibility)."""
    r, rc = shot.render, shot.realcam
    lines = [
        shot.camera.name if shot.camera else "",
        f"{r.resolution_x}x{r.resolution_y} {r.pixel_aspect_x}/{r.pixel_aspect_y}",
        f"{shot.frame_start}-{shot.frame_end} {r.fps}/{r.fps_base} {rc.metres_per_unit} {engine}",
    ]
    for name in ("image.png", "depth.npy"):
        try:
            st = os.stat(os.path.join(scene_folder, name))
            lines.append(f"{name} {st.st_size} {st.st_mtime_ns}")
        except OSError:
            lines.append(f"{name} missing")
    for ob in sorted(shot.objects, key=lambda o: o.name):
        lines.append(f"{ob.name} {ob.type} {ob.hide_render} {ob.hide_viewport} {ob.data.name if ob.data else ''}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the quick state

# Properties that follow the current frame or the evaluation, not the artist's edits.
_DERIVED = {"rna_type", "name", "name_full", "matrix_world", "matrix_local", "matrix_basis", "session_uid"}


def quick_state(shot, engine: str, scene_folder: str) -> str:
    """A digest of what decides the preview, read from the shot's data as it is stored (no frame is set, nothing is
    evaluated; a few milliseconds): the head, and for every object and its data their settings, constraints,
    modifiers, keys and drivers, and geometry. Values that animation writes at the current frame are left out (the
    keys stand for them), so scrubbing the timeline does not change it. Equal to the one kept when the preview was
    made: the preview shows the shot as it is (within what the fingerprint itself covers)."""
    h = hashlib.sha1(head(shot, engine, scene_folder).encode())
    for ob in sorted(shot.objects, key=lambda o: o.name):
        for block in (ob, ob.data):
            if block is not None:
                _block_state(h, block)
    return h.hexdigest()


def _block_state(h, block) -> None:
    fcurves, animated = _animation(block)
    h.update(_values(block, animated, "").encode())
    for coll in ("constraints", "modifiers"):
        for item in getattr(block, coll, ()):
            h.update(_values(item, animated, f'{coll}["{item.name}"].').encode())
    for fc in fcurves:
        keys = [(k.co[:], k.handle_left[:], k.handle_right[:], k.interpolation) for k in fc.keyframe_points]
        h.update(repr((fc.data_path, fc.array_index, fc.mute, fc.extrapolation, len(fc.modifiers), keys)).encode())
    ad = getattr(block, "animation_data", None)
    if ad is not None:
        for d in ad.drivers:
            targets = [
                (v.name, v.type, [(t.id.name if t.id else "", t.data_path, t.transform_type) for t in v.targets])
                for v in d.driver.variables
            ]
            h.update(repr((d.data_path, d.array_index, d.driver.type, d.driver.expression, targets)).encode())
    if isinstance(block, bpy.types.Mesh):
        co = np.empty(len(block.vertices) * 3, np.float32)
        position = block.attributes.get("position")  # an empty mesh has none
        if position is not None:  # it reads a 1280x704 photo's mesh in about 6 ms; vertices' "co" took 80
            position.data.foreach_get("vector", co)
        h.update(f"{len(block.vertices)} {len(block.polygons)} {zlib.adler32(memoryview(co).cast('B'))}".encode())
    elif isinstance(block, bpy.types.Curve):
        for s in block.splines:
            pts = [p.co[:] + p.handle_left[:] + p.handle_right[:] for p in s.bezier_points]
            h.update(repr((s.type, s.use_cyclic_u, pts, [p.co[:] for p in s.points])).encode())


def _animation(block):
    """(the F-curves of its action and NLA strips, the data paths they and its drivers write)."""
    ad = getattr(block, "animation_data", None)
    if ad is None:
        return [], set()
    actions = [ad.action] + [s.action for t in ad.nla_tracks for s in t.strips]
    fcurves = [fc for a in actions if a is not None for fc in action_fcurves(a)]
    return fcurves, {fc.data_path for fc in fcurves} | {d.data_path for d in ad.drivers}


def _values(struct, animated: set, prefix: str) -> str:
    """Every setting of a Blender struct that the artist sets (not derived, not animated), as text."""
    out = []
    for prop in struct.bl_rna.properties:
        ident = prop.identifier
        if ident in _DERIVED or prefix + ident in animated:
            continue
        if prop.type == "POINTER":
            value = getattr(struct, ident, None)
            if isinstance(value, bpy.types.ID):
                out.append(f"{ident}={value.name}")
        elif prop.type != "COLLECTION" and not prop.is_readonly:
            out.append(f"{ident}={_text(getattr(struct, ident, None))}")
    return ";".join(out)


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (str, int, bool)) or value is None:
        return repr(value)
    if isinstance(value, (set, frozenset)):
        return repr(sorted(value))
    try:
        return "(" + ",".join(_text(v) for v in value) + ")"
    except TypeError:
        return ""


def _geometry(ob_eval) -> np.ndarray:
    """Vertex positions and face count of an evaluated object (modifiers, shape keys applied)."""
    if ob_eval.type == "MESH":
        mesh, owned = ob_eval.data, False
    else:
        try:
            mesh, owned = ob_eval.to_mesh(), True
        except RuntimeError:
            return np.zeros(1, np.float32)
    try:
        if mesh is None:
            return np.zeros(1, np.float32)
        co = np.empty(len(mesh.vertices) * 3 + 1, np.float32)
        mesh.vertices.foreach_get("co", co[:-1])
        co[-1] = len(mesh.polygons)
        return co
    finally:
        if owned:
            ob_eval.to_mesh_clear()
