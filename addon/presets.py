"""Camera move presets: ordinary keyframes on the active camera, which the artist edits afterwards.

Magnitudes scale with the scene: distances are fractions of the photo's
median depth, so a dolly in a room and over a valley both feel like a dolly.
"""

from __future__ import annotations

import math

from mathutils import Matrix, Vector

from .compat import remove_fcurves

PRESETS = [
    ("DOLLY_IN", "Dolly in", "Move toward the scene"),
    ("DOLLY_OUT", "Dolly out", "Move away from the scene"),
    ("TRUCK_LEFT", "Truck left", "Slide left"),
    ("TRUCK_RIGHT", "Truck right", "Slide right"),
    ("PEDESTAL_UP", "Pedestal up", "Rise"),
    ("PEDESTAL_DOWN", "Pedestal down", "Sink"),
    ("PAN_LEFT", "Pan left", "Turn left on the spot"),
    ("PAN_RIGHT", "Pan right", "Turn right on the spot"),
    ("TILT_UP", "Tilt up", "Look up on the spot"),
    ("TILT_DOWN", "Tilt down", "Look down on the spot"),
    ("ORBIT_LEFT", "Orbit left", "Circle the subject to the left"),
    ("ORBIT_RIGHT", "Orbit right", "Circle the subject to the right"),
    ("ZOOM_IN", "Zoom in", "Longer focal length, camera still"),
    ("ZOOM_OUT", "Zoom out", "Shorter focal length, camera still"),
]

DOLLY, TRUCK, PEDESTAL = 0.25, 0.15, 0.10  # of the median depth
PAN, TILT, ORBIT = 15.0, 10.0, 20.0  # degrees
ZOOM = 1.5


def _end_pose(kind: str, start: Matrix, depth: float) -> tuple[Matrix, float]:
    """The camera's world matrix at the end of the move, and the lens factor."""
    loc, rot, _ = start.decompose()
    R = rot.to_matrix()
    right, back = R.col[0], R.col[2]  # Blender camera axes in the world
    forward = -back
    move = Vector((0, 0, 0))
    turn = Matrix.Identity(3)
    lens = 1.0
    if kind == "DOLLY_IN":
        move = forward * DOLLY * depth
    elif kind == "DOLLY_OUT":
        move = -forward * DOLLY * depth
    elif kind in ("TRUCK_LEFT", "TRUCK_RIGHT"):
        move = right * TRUCK * depth * (-1 if kind == "TRUCK_LEFT" else 1)
    elif kind in ("PEDESTAL_UP", "PEDESTAL_DOWN"):
        move = Vector((0, 0, 1)) * PEDESTAL * depth * (1 if kind == "PEDESTAL_UP" else -1)
    elif kind in ("PAN_LEFT", "PAN_RIGHT"):
        turn = Matrix.Rotation(math.radians(PAN if kind == "PAN_LEFT" else -PAN), 3, Vector((0, 0, 1)))
    elif kind in ("TILT_UP", "TILT_DOWN"):
        turn = Matrix.Rotation(math.radians(TILT if kind == "TILT_UP" else -TILT), 3, right)
    elif kind in ("ORBIT_LEFT", "ORBIT_RIGHT"):
        pivot = loc + forward * depth
        turn = Matrix.Rotation(math.radians(-ORBIT if kind == "ORBIT_LEFT" else ORBIT), 3, Vector((0, 0, 1)))
        move = (pivot + turn @ (loc - pivot)) - loc
    elif kind in ("ZOOM_IN", "ZOOM_OUT"):
        lens = ZOOM if kind == "ZOOM_IN" else 1.0 / ZOOM
    else:
        raise ValueError(f"unknown preset {kind!r}")
    new_rot = (turn @ R).to_quaternion()
    return Matrix.LocRotScale(loc + move, new_rot, None), lens


def apply(scene, cam, kind: str, depth: float) -> None:
    """Key the camera at the first and last frame of the scene range (clears its keys in between)."""
    start_f, end_f = scene.frame_start, scene.frame_end
    scene.frame_set(start_f)
    start = cam.matrix_world.copy()
    lens0 = cam.data.lens
    end, factor = _end_pose(kind, start, depth)
    remove_fcurves(cam, ("location", "rotation_euler", "rotation_quaternion"))
    remove_fcurves(cam.data, ("lens",))
    cam.rotation_mode = "XYZ"
    cam.matrix_world = start
    cam.keyframe_insert("location", frame=start_f)
    cam.keyframe_insert("rotation_euler", frame=start_f)
    cam.data.keyframe_insert("lens", frame=start_f)
    cam.matrix_world = end
    cam.keyframe_insert("location", frame=end_f)
    cam.keyframe_insert("rotation_euler", frame=end_f)
    cam.data.lens = lens0 * factor
    cam.data.keyframe_insert("lens", frame=end_f)
    scene.frame_set(start_f)
