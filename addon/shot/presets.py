"""Camera move presets: ordinary keyframes the artist edits afterwards, on top of whatever the camera's rig does.

A preset is a move in the camera's own frame, from nothing at the first frame
of the shot to its amount at the last (or after its duration, then held), applied after the rig: a camera on a
path, parented or aimed by a Track To keeps doing all that and also dollies or
pans. Presets add up (dolly, then pan: both), and never bake the evaluated
camera into its own transform (that made rigged cameras jump).

Where the keys go ("the holder"): on the camera itself when nothing after its
own transform moves it (no constraints); else on an empty, "RealCam move",
that a Copy Transforms constraint at the end of the camera's stack applies
after everything else (mix "after original": camera = rig x empty).

Amounts: metres for dolly, truck and pedestal, degrees for pan, tilt and orbit,
a lens factor for zoom; 0 picks one scaled to the photo's median depth. Metres
are converted to the shot's Blender units.
"""

from __future__ import annotations

import math

import bpy
from mathutils import Euler, Matrix, Quaternion, Vector

from .. import compat
from . import camera_track, shots

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

DOLLY, TRUCK, PEDESTAL = 0.25, 0.15, 0.10  # of the median depth, when no amount is given
PAN, TILT, ORBIT = 15.0, 10.0, 20.0  # degrees
ZOOM = 1.5
MOVE_CONSTRAINT = "RealCam move"


def unit_of(kind: str) -> str:
    if kind.startswith(("PAN", "TILT", "ORBIT")):
        return "degrees"
    if kind.startswith("ZOOM"):
        return "factor"
    return "metres"


def default_amount(kind: str, depth_m: float) -> float:
    return {
        "DOLLY": DOLLY * depth_m,
        "TRUCK": TRUCK * depth_m,
        "PEDESTAL": PEDESTAL * depth_m,
        "PAN": PAN,
        "TILT": TILT,
        "ORBIT": ORBIT,
        "ZOOM": ZOOM,
    }[kind.split("_")[0]]


def delta(kind: str, t: float, amount: float, up: Vector, depth_bu: float) -> tuple[Matrix, float]:
    """The move at fraction t (0..1) in the camera's own frame (x right, y up, -z forward, Blender units),
    and the lens factor. up: the world's up in the camera's frame at the first frame."""
    sign = -1.0 if kind.endswith(("_OUT", "_LEFT", "_DOWN")) else 1.0
    family = kind.split("_")[0]
    if family == "ZOOM":
        factor = amount if kind == "ZOOM_IN" else 1.0 / amount
        return Matrix.Identity(4), factor**t
    a = amount * t
    if family == "DOLLY":
        return Matrix.Translation((0.0, 0.0, -sign * a)), 1.0
    if family == "TRUCK":
        return Matrix.Translation((sign * a, 0.0, 0.0)), 1.0
    if family == "PEDESTAL":
        return Matrix.Translation(up * (sign * a)), 1.0
    if family == "PAN":  # left turns counter-clockwise seen from above
        return Matrix.Rotation(math.radians(-sign * a), 4, up), 1.0
    if family == "TILT":
        return Matrix.Rotation(math.radians(sign * a), 4, Vector((1.0, 0.0, 0.0))), 1.0
    if family == "ORBIT":  # around a point straight ahead at the photo's depth
        pivot = Vector((0.0, 0.0, -depth_bu))
        turn = Matrix.Rotation(math.radians(sign * a), 4, up)
        return Matrix.Translation(pivot) @ turn @ Matrix.Translation(-pivot), 1.0
    raise ValueError(f"unknown preset {kind!r}")


def holder_of(cam, collection=None):
    """The object whose transform keys carry the moves (see the module docstring)."""
    others = [c for c in cam.constraints if c.name != MOVE_CONSTRAINT and c.enabled]
    con = cam.constraints.get(MOVE_CONSTRAINT)
    if not others:
        return cam
    if con is None or con.target is None:
        empty = bpy.data.objects.new(f"{MOVE_CONSTRAINT} {cam.name}", None)
        empty.empty_display_size = 0.2
        for coll in [collection] if collection is not None else cam.users_collection:
            coll.objects.link(empty)
        con = con or cam.constraints.new("COPY_TRANSFORMS")
        con.name = MOVE_CONSTRAINT
        con.target = empty
        con.mix_mode = "AFTER_FULL"
        con.target_space = con.owner_space = "WORLD"
    index = list(cam.constraints).index(con)
    if index != len(cam.constraints) - 1:
        cam.constraints.move(index, len(cam.constraints) - 1)  # after the whole rig
    return con.target


def _basis_at(ob, frame: float) -> Matrix:
    """ob's own transform (location, rotation, scale) at frame, from its F-curves where animated."""
    fcurves = compat.fcurve_collection(ob)
    by_path = {}
    for fc in fcurves or ():
        by_path[(fc.data_path, fc.array_index)] = fc

    def value(path, i, current):
        fc = by_path.get((path, i))
        return fc.evaluate(frame) if fc is not None else current

    loc = Vector([value("location", i, ob.location[i]) for i in range(3)])
    scale = Vector([value("scale", i, ob.scale[i]) for i in range(3)])
    mode = ob.rotation_mode
    if mode == "QUATERNION":
        rot = Quaternion([value("rotation_quaternion", i, ob.rotation_quaternion[i]) for i in range(4)]).normalized()
    elif mode == "AXIS_ANGLE":
        aa = [value("rotation_axis_angle", i, ob.rotation_axis_angle[i]) for i in range(4)]
        rot = Quaternion(Vector(aa[1:]), aa[0])
    else:
        rot = Euler([value("rotation_euler", i, ob.rotation_euler[i]) for i in range(3)], mode).to_quaternion()
    return Matrix.LocRotScale(loc, rot, scale)


def _key_frames(ob, start: int, end: int) -> list[int]:
    """The first and last frame, and every frame in between where ob's transform is already keyed."""
    frames = {start, end}
    for fc in compat.fcurve_collection(ob) or ():
        if fc.data_path in ("location", "rotation_euler", "rotation_quaternion", "rotation_axis_angle"):
            frames.update(round(k.co[0]) for k in fc.keyframe_points if start < k.co[0] < end)
    return sorted(frames)


def _key(ob, frame: int, m: Matrix, prev_euler) -> Euler | None:
    """Key ob's location and rotation (in its own rotation mode) to m; Euler angles kept continuous."""
    loc, rot, _ = m.decompose()
    ob.location = loc
    ob.keyframe_insert("location", frame=frame)
    mode = ob.rotation_mode
    if mode == "QUATERNION":
        ob.rotation_quaternion = rot
        ob.keyframe_insert("rotation_quaternion", frame=frame)
        return None
    if mode == "AXIS_ANGLE":
        axis, angle = rot.to_axis_angle()
        ob.rotation_axis_angle = (angle, *axis)
        ob.keyframe_insert("rotation_axis_angle", frame=frame)
        return None
    e = rot.to_euler(mode, prev_euler if prev_euler is not None else ob.rotation_euler)
    ob.rotation_euler = e
    ob.keyframe_insert("rotation_euler", frame=frame)
    return e


def duration_frames(scene, duration: float, unit: str) -> int:
    """A duration in frames ("FRAMES") or seconds ("SECONDS", at the scene's rate); 0 stays 0 (the whole shot)."""
    if duration <= 0:
        return 0
    if unit == "SECONDS":
        return max(1, round(duration * scene.render.fps / scene.render.fps_base))
    return max(1, round(duration))


def apply(scene, cam, kind: str, amount: float = 0.0, duration: int = 0) -> dict:
    """Add a move to the camera from the shot's start frame over `duration` frames (0: to its end frame),
    held after that; returns what was done (for the report)."""
    start_f, end_f = scene.frame_start, scene.frame_end
    if end_f <= start_f:
        raise ValueError("the frame range has a single frame: a move needs at least two")
    stop_f = min(end_f, start_f + duration) if duration > 0 else end_f
    mpu = shots.metres_per_unit(scene)
    depth_m = scene.realcam.median_depth or 3.0
    amount = amount or default_amount(kind, depth_m)
    if unit_of(kind) == "metres":
        amount /= mpu
    # The world's up in the camera's frame where the move starts (pedestal, pan and orbit turn around it).
    start_world = camera_track.evaluated_matrix(scene, cam, start_f)
    up = (start_world.to_quaternion().inverted() @ Vector((0.0, 0.0, 1.0))).normalized()
    zoom = kind.startswith("ZOOM")
    holder = cam if zoom else holder_of(cam, scene.realcam.photo_collection if shots.is_shot(scene) else None)
    frames = sorted(set(_key_frames(holder, start_f, end_f)) | {stop_f})
    bases = {f: _basis_at(holder, f) for f in frames}
    lens_keys = {}
    if zoom:
        lens_fc = {fc.data_path: fc for fc in compat.fcurve_collection(cam.data) or ()}.get("lens")
        for f in frames:
            lens_keys[f] = lens_fc.evaluate(f) if lens_fc is not None else cam.data.lens
    prev = None
    for f in frames:
        t = min(1.0, (f - start_f) / (stop_f - start_f))  # the move is done at stop_f, then holds
        d, factor = delta(kind, t, amount, up, depth_m / mpu)
        if lens_keys:
            cam.data.lens = lens_keys[f] * factor
            cam.data.keyframe_insert("lens", frame=f)
        else:
            loc, rot, _ = bases[f].decompose()
            prev = _key(holder, f, Matrix.LocRotScale(loc, rot, None) @ d, prev)
    scene.frame_set(scene.frame_current)
    amount_out = amount * (mpu if unit_of(kind) == "metres" else 1)
    return {"holder": holder.name, "frames": frames, "amount": amount_out, "stop": stop_f}
