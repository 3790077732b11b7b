"""A loop: the camera path closed, so the shot's last frame's camera is its first's, and a take made with the shot's
Loop setting ends on the photo it starts from (the backend holds or gives it its end; realcam_core.windows).

Closing keys the object that carries the camera's moves (the camera itself, or the "RealCam move" empty applied
after its rig, presets.holder_of) at the last frame so that the camera, as Blender evaluates it with its whole rig,
stands where it stood at the first: the holder enters the camera's world matrix on the right (camera = rig x
holder), so its new basis there is basis x (camera at the end)^-1 x (camera at the start). A lens that changed
over the shot is keyed back too. Ordinary keys: the artist can edit or undo them.
"""

from __future__ import annotations

from .. import compat
from . import camera_track, shots
from .presets import _basis_at, _key, holder_of


def close(scene) -> dict:
    """Key the camera at the shot's last frame to its pose (and lens) at the first; what was done."""
    cam = scene.camera
    if cam is None or cam.type != "CAMERA":
        raise ValueError("the shot has no active camera to close the loop of")
    start, end = scene.frame_start, scene.frame_end
    if end <= start:
        raise ValueError("the frame range has a single frame: a loop needs at least two")
    first = camera_track.evaluated_matrix(scene, cam, start)
    last = camera_track.evaluated_matrix(scene, cam, end)
    gap = (last.translation - first.translation).length
    holder = holder_of(cam, scene.realcam.photo_collection if shots.is_shot(scene) else None)
    current = scene.frame_current, scene.frame_subframe
    try:
        scene.frame_set(end)  # the Euler angles keyed next stay continuous with the end's
        target = _basis_at(holder, end) @ last.inverted() @ first
        _key(holder, end, target, None)
        lens = {fc.data_path: fc for fc in compat.fcurve_collection(cam.data) or ()}.get("lens")
        if lens is not None and abs(lens.evaluate(end) - lens.evaluate(start)) > 1e-6:
            cam.data.lens = lens.evaluate(start)
            cam.data.keyframe_insert("lens", frame=end)
    finally:
        scene.frame_set(current[0], subframe=current[1])
    if shots.is_shot(scene):
        shots.mark_edited(scene)
    return {"holder": holder.name, "frame": end, "moved": gap}
