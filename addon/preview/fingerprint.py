"""Whether a preview is out of date: a fingerprint of everything it shows, gathered while the camera is read."""

from __future__ import annotations

import hashlib
import os

import numpy as np

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
        r, rc = shot.render, shot.realcam
        self.photo = rc.photo_mesh.name if rc.photo_mesh is not None else ""
        head = [
            shot.camera.name if shot.camera else "",
            f"{r.resolution_x}x{r.resolution_y} {r.pixel_aspect_x}/{r.pixel_aspect_y}",
            f"{shot.frame_start}-{shot.frame_end} {r.fps}/{r.fps_base} {rc.metres_per_unit} {engine}",
        ]
        for name in ("image.png", "depth.npy"):
            try:
                st = os.stat(os.path.join(scene_folder, name))
                head.append(f"{name} {st.st_size} {st.st_mtime_ns}")
            except OSError:
                head.append(f"{name} missing")
        for ob in sorted(shot.objects, key=lambda o: o.name):
            head.append(f"{ob.name} {ob.type} {ob.hide_render} {ob.hide_viewport} {ob.data.name if ob.data else ''}")
        self.parts: list = ["\n".join(head).encode()]

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
