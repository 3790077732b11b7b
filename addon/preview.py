"""The preview: the shot's frame range rendered unlit at the generation size, alpha = covered.

It renders the shot's scene, which holds only the photo's mesh, its camera and
what the artist put into the shot (shots.py). Rendering borrows the shot's
render settings and gives every one back afterwards. Each preview gets its own
folder; the frames are named after the scene frame numbers. A Fingerprint of
everything the preview shows tells whether a preview is out of date.
"""

from __future__ import annotations

import hashlib
import os

import bpy
import numpy as np

from .compat import eevee_engine_id, output_side_settings, still_image_output


# Attribute path -> value while the preview renders.
def _preview_settings(scene, folder: str, engine: str) -> dict:
    settings = {
        "render.engine": eevee_engine_id() if engine == "EEVEE" else "BLENDER_WORKBENCH",
        "render.film_transparent": True,
        "render.filter_size": 0.0,  # one sharp sample per pixel: the unmoved frame is the photo
        "render.use_sequencer": False,
        "render.use_compositing": False,
        "render.resolution_percentage": 100,
        "render.use_file_extension": True,
        "render.use_overwrite": True,
        "render.filepath": os.path.join(folder, "####"),
        **still_image_output("PNG"),
        "render.image_settings.color_mode": "RGBA",
        "render.image_settings.color_depth": "8",
        "view_settings.view_transform": "Standard",
        "view_settings.look": "None",
        "view_settings.exposure": 0.0,
        "view_settings.gamma": 1.0,
    }
    if engine == "EEVEE":
        settings["eevee.taa_render_samples"] = 1
    else:
        settings.update(
            {"display.shading.light": "FLAT", "display.shading.color_type": "VERTEX", "display.render_aa": "OFF"}
        )
    return settings


def _resolve(scene, path):
    obj = scene
    parts = path.split(".")
    for p in parts[:-1]:
        obj = getattr(obj, p)
    return obj, parts[-1]


def swap_settings(scene, folder: str, engine: str = "EEVEE") -> dict:
    """Apply the preview settings; returns what to put back.

    Everything is read before anything changes (changing the format changes which colour depths are
    allowed), and a setting Blender refuses puts back what was already changed."""
    wanted = _preview_settings(scene, folder, engine)
    saved = {}
    for path in [*wanted, *output_side_settings(scene)]:
        obj, attr = _resolve(scene, path)
        saved[path] = getattr(obj, attr)
    try:
        for path, value in wanted.items():
            obj, attr = _resolve(scene, path)
            setattr(obj, attr, value)
    except BaseException:
        restore_settings(scene, saved)
        raise
    return saved


def restore_settings(scene, saved: dict) -> None:
    # Engine first: engine-specific settings only accept values for their engine. Then in the order saved:
    # media type before file format before colour depth, FFmpeg settings after the format.
    for path in sorted(saved, key=lambda p: p != "render.engine"):
        obj, attr = _resolve(scene, path)
        try:
            setattr(obj, attr, saved[path])
        except (TypeError, ValueError, AttributeError):
            pass


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


def frame_files(scene) -> list[str]:
    return [f"{f:04d}.png" for f in range(scene.frame_start, scene.frame_end + 1)]


class RenderWatch:
    """Follows an interactive (INVOKE) render through Blender's render handlers."""

    def __init__(self):
        self.finished = False
        self.cancelled = False

    def __enter__(self):
        bpy.app.handlers.render_complete.append(self._complete)
        bpy.app.handlers.render_cancel.append(self._cancel)
        return self

    def __exit__(self, *exc):
        for lst, fn in (
            (bpy.app.handlers.render_complete, self._complete),
            (bpy.app.handlers.render_cancel, self._cancel),
        ):
            if fn in lst:
                lst.remove(fn)

    def _complete(self, *args):
        self.finished = True

    def _cancel(self, *args):
        self.finished = self.cancelled = True
