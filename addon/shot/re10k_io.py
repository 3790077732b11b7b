"""RealEstate10K camera files <-> keyframes on a Blender camera.

Import keys the camera at consecutive frames from the scene's first frame,
poses relative to the file's first camera, placed where the reference camera
stands (the photo's camera at the origin, looking along +Y). Export writes the
camera as Blender evaluates it.
"""

from __future__ import annotations

import numpy as np
from mathutils import Matrix

from ..compat import remove_fcurves
from ..realcam_core.camera import REFERENCE_C2W_BLENDER_WORLD, blender_from_opencv_c2w, relative_to_first
from ..realcam_core.re10k import from_track, read_re10k, write_re10k
from . import shots
from .photo_scene import apply_intrinsics


def import_file(scene, cam, path: str, scale: float = 1.0) -> int:
    cams = read_re10k(path)
    w, h = scene.render.resolution_x, scene.render.resolution_y  # the generation size (100 %)
    c2ws = np.stack([f.c2w() for f in cams.frames])
    c2ws[:, :3, 3] *= scale
    rel = relative_to_first(c2ws)
    remove_fcurves(cam, ("location", "rotation_euler", "rotation_quaternion"))
    remove_fcurves(cam.data, ("lens", "shift_x", "shift_y"))
    cam.rotation_mode = "XYZ"
    unit = shots.metres_per_unit(scene)
    for i, (frame, m) in enumerate(zip(cams.frames, rel, strict=True)):
        f = scene.frame_start + i
        cam.matrix_world = Matrix(blender_from_opencv_c2w(REFERENCE_C2W_BLENDER_WORLD @ m, unit).tolist())
        cam.keyframe_insert("location", frame=f)
        cam.keyframe_insert("rotation_euler", frame=f)
        apply_intrinsics(cam.data, scene, frame.intrinsics(w, h))
        for prop in ("lens", "shift_x", "shift_y"):
            cam.data.keyframe_insert(prop, frame=f)
    scene.frame_end = scene.frame_start + len(cams.frames) - 1
    return len(cams.frames)


def export_file(path: str, Ks, rel_c2ws, fps: float, source: str) -> None:
    write_re10k(path, from_track(rel_c2ws, Ks, fps, source=source))
