"""Scene fixes after import: calibrate the shot's scale, and change the photo's focal length.

Scale: the photo's depth is an estimate. The artist picks two points on the photo's
mesh (the 3D cursor, snapped with Shift+right-click) and types their true
distance, or types a factor; the shot then changes as if the depth model had
said s times the depth: the mesh about the photo camera, the camera's keyed
moves about where it starts, the clip range, the median depth, and the depth the
job bundle carries (the shot's `depth_scale`, applied when the bundle is
written: the scene folder's files stay as imported, and an undo puts all of it
back at once).

Focal: a new focal in pixels re-projects the mesh (each pixel keeps its depth,
lateral positions scale by f_old / f_new), sets the camera's lens, scales lens
keys by the same ratio (a zoom stays the same zoom), and becomes the photo's
intrinsics for the first-frame check (the shot's `photo_focal_px`).
"""

from __future__ import annotations

import math
import os

import bpy
import numpy as np
from mathutils import Vector

from .. import compat, paths
from ..realcam_core.addon_only.calibration import (
    CalibrationError,
    check_scale,
    refocused,
    scale_from_points,
    with_focal,
)
from ..realcam_core.camera import blender_from_intrinsics
from ..tasks import RUNNER
from . import moves, photo_scene, presets, shots

MIN_LENS_MM = 1.0  # Blender's smallest focal length (Camera.lens hard minimum)
SAME_FOCAL_PX = 0.05  # a typed focal this close to the imported one means the imported one
ON_MESH = 0.05  # a picked point farther than this (of its distance to the camera) from any vertex is not on the photo


class FixError(Exception):
    """Why a fix was not applied, written for the artist."""


def check_shot(shot, task=None):
    """The shot's photo mesh object, or FixError saying what is missing. task: the caller's own task (fitting the
    shot to a model applies a focal as part of it), which does not count as busy."""
    rc = shot.realcam
    ob = rc.photo_mesh
    if ob is None or ob.type != "MESH" or ob.data is None:
        raise FixError(f"shot {shot.name!r} has no photo mesh: import a photo first (RealCam > Import Photo)")
    folder = paths.resolve(rc.scene_folder)
    if not rc.scene_folder or not os.path.isfile(os.path.join(folder, "intrinsics.json")):
        raise FixError(
            f"the shot's scene folder {folder or '(none)'} is missing: open the project where its realcam folder "
            "is, or import the photo again"
        )
    if [t for t in RUNNER.active(rc.shot_id) if t is not task]:
        raise FixError("RealCam is reading or rendering this shot; wait or cancel it, then apply the fix")
    return ob


def _rebuild(shot, transform) -> None:
    if photo_scene.rebuild_faces(shot, transform) is None:
        raise FixError(
            "the photo's mesh is not the grid the import made (vertices or colours changed): import the photo again"
        )


# ------------------------------------------------------------------ scale


def pick_point(shot, which: str, world) -> Vector:
    """Store the 3D cursor (world) as point A or B, in the photo mesh's own frame (so it follows the mesh)."""
    ob = check_shot(shot)
    local = ob.matrix_world.inverted() @ Vector(world)
    n = len(ob.data.vertices)
    verts = np.empty(n * 3, np.float32)
    ob.data.attributes["position"].data.foreach_get("vector", verts)
    gap = float(np.sqrt(((verts.reshape(n, 3) - np.array(local, np.float32)) ** 2).sum(1).min()))
    if gap > ON_MESH * max(local.length, 1e-6):
        raise FixError(
            f"the 3D cursor is not on the photo's mesh ({length_text(shot, gap)} from it): "
            "snap it there with Shift+right-click in the 3D view, then set the point again"
        )
    rc = shot.realcam
    setattr(rc, f"scale_{which.lower()}", local)
    setattr(rc, f"scale_{which.lower()}_set", True)
    return local


def length_text(shot, value_bu: float) -> str:
    """A length in Blender units as the file shows lengths (its unit system and scale)."""
    us = shot.unit_settings
    if us.system == "NONE":
        return f"{value_bu:.3f}"
    return bpy.utils.units.to_string(us.system, "LENGTH", value_bu * (us.scale_length or 1.0), precision=3)


def measured(shot) -> float | None:
    """|B - A| in Blender units, or None until both points are set."""
    rc = shot.realcam
    if not (rc.scale_a_set and rc.scale_b_set):
        return None
    return (Vector(rc.scale_b) - Vector(rc.scale_a)).length


def factor_from_points(shot) -> float:
    rc = shot.realcam
    if not (rc.scale_a_set and rc.scale_b_set):
        raise FixError(
            "set points A and B first: snap the 3D cursor (Shift+right-click) onto the photo's mesh, then press "
            "Point A from cursor; again for B"
        )
    try:
        return scale_from_points(rc.scale_a, rc.scale_b, rc.scale_real)
    except CalibrationError as e:
        raise FixError(str(e)) from None


def _owners(cam, holder) -> list:
    return [cam] if holder == cam else [cam, holder]


def _animated(ob) -> bool:
    """Whether anything may move ob over time: keys, drivers, NLA strips or a constraint."""
    ad = ob.animation_data
    if ad is not None and (ad.action is not None or len(ad.drivers) or any(t.strips for t in ad.nla_tracks)):
        return True
    return any(c.enabled for c in ob.constraints)


def _not_scaled(cam, holder) -> list[str]:
    """What moves the camera that a scale cannot reach: the artist is told."""
    out = []
    for c in cam.constraints:
        if c.enabled and c.name != presets.MOVE_CONSTRAINT:
            out.append(f"constraint {c.name!r}")
    ob = cam
    while ob.parent is not None:
        # A parent that stands still needs no scaling (the camera's own keys carry the move about its start): naming
        # it would have the artist scale it by hand and move the camera off the photo.
        by_part = ob.parent_type != "OBJECT"  # a bone or vertex parent: its motion cannot be told from here
        ob = ob.parent
        if by_part or _animated(ob):
            out.append(f"parent {ob.name!r}")
    for who in _owners(cam, holder):
        ad = who.animation_data
        if ad is not None and ad.drivers and any(d.data_path in ("location", "delta_location") for d in ad.drivers):
            out.append(f"location drivers of {who.name!r}")
        if ad is not None and any(t.strips for t in ad.nla_tracks):
            out.append(f"NLA strips of {who.name!r}")
        for fc in compat.fcurve_collection(who) or ():
            if fc.data_path == "delta_location":
                out.append(f"delta location keys of {who.name!r}")
                break
            if fc.data_path == "location" and len(fc.modifiers):
                out.append(f"F-curve modifiers on {who.name!r}'s location")
                break
    return out


def apply_scale(shot, s: float) -> dict:
    """Scale the shot by s (see the module doc); returns what was done and what could not be scaled."""
    ob = check_shot(shot)
    try:
        s = check_scale(s)
    except CalibrationError as e:
        raise FixError(str(e)) from None
    rc = shot.realcam
    _rebuild(shot, lambda verts: verts * np.float32(s))
    cam = shot.camera
    keys, missed = 0, []
    if cam is not None and cam.type == "CAMERA":
        con = cam.constraints.get(presets.MOVE_CONSTRAINT)
        holder = con.target if con is not None and con.enabled and con.target is not None else cam
        for who in _owners(cam, holder):
            keys += photo_scene.scale_keys(who, "location", s, shot.frame_start)
        missed = _not_scaled(cam, holder)
        cam.data.clip_start *= s
        cam.data.clip_end *= s
    else:
        missed.append("the shot has no camera")
    for which in ("scale_a", "scale_b"):
        setattr(rc, which, Vector(getattr(rc, which)) * s)
    rc.depth_scale *= s
    rc.median_depth *= s
    rc.fix_note = "Not rescaled: " + ", ".join(missed) if missed else ""
    shot.frame_set(shot.frame_current)
    shots.mark_edited(shot)
    moves.measure(shot)  # the move's extent in metres changed with it
    return {"scale": s, "total": rc.depth_scale, "keys": keys, "not_scaled": missed, "mesh": ob.name}


def scale_text(shot) -> str:
    s = shot.realcam.depth_scale
    if abs(s - 1.0) < 1e-6:
        return "Scale: as imported"
    return f"Scale ×{s:.4g} from calibration"


# ------------------------------------------------------------------ focal


def photo_focal_text(shot) -> str:
    rc = shot.realcam
    try:
        K = photo_scene.photo_intrinsics(rc)
        imported = photo_scene.photo_intrinsics(rc, imported=True)
    except OSError:
        return "Focal: scene folder missing"
    cam = shot.camera
    data = cam.data if cam is not None and cam.type == "CAMERA" else None
    mm = blender_from_intrinsics(K, data.sensor_fit, data.sensor_width, data.sensor_height).lens if data else None
    text = f"Focal {K.fx:.1f} px" + (f" ({mm:.2f} mm)" if mm else "")
    if rc.photo_focal_px > 0:
        text += f", imported {imported.fx:.1f} px"
    return text


def apply_focal(shot, fx: float, task=None) -> dict:
    """See the photo with focal fx (pixels): mesh, camera lens and its keys, the shot's photo intrinsics.
    task: the caller's own task, if it runs in one (check_shot)."""
    check_shot(shot, task)
    rc = shot.realcam
    old = photo_scene.photo_intrinsics(rc)
    imported = photo_scene.photo_intrinsics(rc, imported=True)
    if abs(fx - imported.fx) < SAME_FOCAL_PX:
        fx = imported.fx  # the imported focal typed as the panel shows it (rounded): back to exactly it
    try:
        new = with_focal(old, fx)
    except CalibrationError as e:
        raise FixError(str(e)) from None
    cam = shot.camera
    if cam is not None and cam.type == "CAMERA":
        # Blender's lens stops at 1 mm: a wider focal would be clamped, and the first frame would no longer be
        # the photo (Preview and Generate refuse it). Refused here, before anything changes.
        data = cam.data
        lens = blender_from_intrinsics(new, "AUTO", data.sensor_width or 36.0, data.sensor_height or 24.0).lens
        if lens < MIN_LENS_MM:
            raise FixError(
                f"focal {fx:g} px needs a {lens:.2f} mm lens on {cam.name!r}, below Blender's {MIN_LENS_MM:g} mm: "
                f"type a focal of at least {math.ceil(fx * MIN_LENS_MM / lens):.0f} px"
            )
    _rebuild(shot, lambda verts: refocused(verts, old, new))
    r = new.fx / old.fx
    keys, notes = 0, []
    if cam is not None and cam.type == "CAMERA":
        photo_scene.apply_intrinsics(cam.data, shot, new)
        keys = photo_scene.scale_keys(cam.data, "lens", r, None)  # a zoom keeps its factor
        ad = cam.data.animation_data
        if ad is not None and any(d.data_path == "lens" for d in ad.drivers):
            notes.append(f"a driver sets {cam.name!r}'s lens: make it give {cam.data.lens:.2f} mm at the first frame")
    else:
        notes.append("the shot has no camera")
    for which in ("scale_a", "scale_b"):  # the picked points follow their pixels
        setattr(rc, which, Vector(refocused([getattr(rc, which)], old, new)[0].tolist()))
    rc.photo_focal_px = 0.0 if abs(new.fx - imported.fx) < 1e-6 * imported.fx else new.fx
    rc.focal_input = new.fx  # the field shows the focal in use
    rc.fix_note = "; ".join(notes)
    shot.frame_set(shot.frame_current)
    shots.mark_edited(shot)
    return {"fx": new.fx, "ratio": r, "lens_keys": keys, "notes": notes}
