"""The scene camera, frame by frame as Blender evaluates it, in the shared conventions.

Constraints, parents, follow-path and an animated focal length all count:
every frame is set and the evaluated camera read. This runs on the main thread
as a task generator, one frame per slice, so the UI keeps its turn.

The generation size is the shot's resolution at 100 %: the percentage is the
artist's draft setting for their own renders, and both the preview and the
job ignore it. Positions leave in metres whatever the unit scale.
"""

from __future__ import annotations

import numpy as np

from ..realcam_core.camera import (
    BlenderCamera,
    CameraError,
    intrinsics_from_blender,
    opencv_c2w_from_blender,
    relative_to_first,
)
from . import shots

__all__ = ["CameraError", "check_camera", "check_moves", "read_track"]


def check_camera(scene):
    cam = scene.camera
    if cam is None or cam.type != "CAMERA":
        raise CameraError("the scene has no active camera: import a photo, or set one (Scene properties > Camera)")
    kind = cam.data.type
    if kind == "ORTHO":
        raise CameraError(
            f"camera {cam.name!r} is orthographic; video models need a perspective camera: set its Type to "
            "Perspective (Camera properties > Lens)"
        )
    if kind == "PANO":
        raise CameraError(
            f"camera {cam.name!r} is panoramic; video models need a perspective camera: set its Type to "
            "Perspective (Camera properties > Lens)"
        )
    return cam


def generation_size(scene) -> tuple[int, int]:
    return scene.render.resolution_x, scene.render.resolution_y


def blender_camera(cam_eval, scene) -> BlenderCamera:
    r = scene.render
    data = cam_eval.data
    return BlenderCamera(
        lens=data.lens,
        sensor_width=data.sensor_width,
        sensor_height=data.sensor_height,
        sensor_fit=data.sensor_fit,
        shift_x=data.shift_x,
        shift_y=data.shift_y,
        resolution_x=r.resolution_x,
        resolution_y=r.resolution_y,
        pixel_aspect_x=r.pixel_aspect_x,
        pixel_aspect_y=r.pixel_aspect_y,
    )


def read_track(ref, frames, on_frame=None):
    """Task generator -> (intrinsics per frame, relative c2w per frame), the frame restored after.

    ref: a shots.ShotRef (resolved after every yield). on_frame(depsgraph, index) sees
    each evaluated frame (the preview's fingerprint is gathered there)."""
    scene = ref.scene
    cam_name = check_camera(scene).name
    unit = shots.metres_per_unit(scene)  # metres per Blender unit
    current = scene.frame_current, scene.frame_subframe
    Ks, c2ws = [], []
    try:
        for i, f in enumerate(frames):
            scene = ref.scene
            cam = check_camera(scene)
            if cam.name != cam_name:
                raise CameraError(
                    f"the active camera changed from {cam_name!r} to {cam.name!r} while it was read: keep the "
                    "camera while RealCam reads it, then try again"
                )
            scene.frame_set(f)
            depsgraph = shots.depsgraph(scene)
            cam_eval = cam.evaluated_get(depsgraph)
            Ks.append(intrinsics_from_blender(blender_camera(cam_eval, scene)))
            c2ws.append(opencv_c2w_from_blender(np.array(cam_eval.matrix_world), unit))
            if on_frame is not None:
                on_frame(depsgraph, i)
            yield None
    finally:
        try:
            ref.scene.frame_set(current[0], subframe=current[1])
        except shots.ShotGone:
            pass
    return Ks, relative_to_first(c2ws)


class _Held:
    """A scene held as read_track's reference: right when nothing runs between frames."""

    def __init__(self, scene):
        self.scene = scene


def read_track_now(scene, frames):
    """read_track run to its end on the calling thread, for measuring a shot's camera alone (a few ms a frame)."""
    gen = read_track(_Held(scene), frames)
    try:
        while True:
            next(gen)
    except StopIteration as done:
        return done.value


def evaluated_matrix(scene, ob, frame: int):
    """ob's world matrix at frame as Blender evaluates it (rig, constraints, parents); the frame restored."""
    current = scene.frame_current, scene.frame_subframe
    scene.frame_set(frame)
    try:
        return ob.evaluated_get(shots.depsgraph(scene)).matrix_world.copy()
    finally:
        scene.frame_set(current[0], subframe=current[1])


def check_moves(cam_name: str, frames, Ks, rel) -> None:
    """A generation needs a camera move (or a zoom); a still camera is most likely a forgotten key."""
    if all(np.allclose(m, np.eye(4), atol=1e-6) for m in rel) and len(set(Ks)) == 1:
        raise CameraError(
            f"camera {cam_name!r} does not move between frames {frames[0]} and {frames[-1]}: key a move "
            "(or apply a preset) first"
        )
