"""In-betweens: a transition shot that goes from one shot's photo to another's, and its place in the edit.

A transition is a shot scene of its own (shots.py), made from shot A to shot B:
- both photos in one world: A's photo collection (its mesh and camera) and B's, each shown through a collection
  instance ("RealCam from A", "RealCam to B", tagged realcam_placement), so nothing in the transition can move
  the shots' own objects. A's world is the transition's; the artist aligns B by moving "RealCam to B" (or
  leaves it where it is when both shots share a world), and the preview renders both meshes;
- its camera starts where A's photo was taken (A's first frame is A's photo) and ends where B's was, as placed,
  with each photo's focal; "Key the ends" keys both again after B was moved;
- its reference photo and depth are A's (the take's first frame is A's photo), and B's photo goes with the job as
  the bundle's last_image: the take's last frame arrives at B's photo (a first + last frame model is given it, the
  others hold their last latent frame to it: realcam_core.windows);
- in the edit it sits between the shots: its frame range follows A's, and B's strips (and B's later takes) move
  to follow it (each shot's `edit_offset`: where its frames sit in the edit, edit/sequencer.py).
"""

from __future__ import annotations

import bpy
from mathutils import Matrix

from ..realcam_core.camera import REFERENCE_C2W_BLENDER_WORLD, blender_from_intrinsics, blender_from_opencv_c2w
from . import camera_track, photo_scene, shots

PLACEMENT = "realcam_placement"  # "from" / "to" on a transition's instances of the two photo collections
POSE_TOLERANCE = 1e-4  # of a Blender unit (and radians): the camera's ends against the photos' cameras


class TransitionError(ValueError):
    """A transition that cannot be made or generated, written for the artist."""


def is_transition(scene) -> bool:
    return shots.is_shot(scene) and bool(scene.realcam.transition_to)


def ends(scene):
    """(shot A, shot B) of a transition; TransitionError when either is gone."""
    rc = scene.realcam
    a, b = shots.find(rc.transition_from), shots.find(rc.transition_to)
    if a is None or b is None:
        raise TransitionError(
            f"the transition {scene.name!r} lost one of its shots ({'from' if a is None else 'to'}): make it again "
            "from the two shots"
        )
    return a, b


def candidates(shot) -> list:
    """Shots a transition from `shot` can go to: other shots with a photo (transitions themselves excluded)."""
    return [s for s in shots.all_shots() if s != shot and s.realcam.scene_folder and not is_transition(s)]


def _reference() -> Matrix:
    return Matrix(blender_from_opencv_c2w(REFERENCE_C2W_BLENDER_WORLD).tolist())


def photo_pose(shot, placement=None) -> Matrix:
    """Where shot's photo was taken (the camera's world matrix at its first frame, without scale): its mesh's
    placement times the reference camera; through a collection instance `placement` in another scene."""
    mesh = shot.realcam.photo_mesh
    if mesh is None:
        raise TransitionError(f"shot {shot.name!r} has no photo mesh: import its photo again")
    m = mesh.matrix_world.copy()
    if placement is not None:
        offset = Matrix.Translation(-placement.instance_collection.instance_offset)
        m = placement.matrix_world @ offset @ m
    loc, rot, _ = m.decompose()
    return Matrix.LocRotScale(loc, rot, None) @ _reference()


def photo_lens(shot, cam_data) -> float:
    """The lens (mm) on cam_data's sensor that sees shot's photo at its size."""
    K = photo_scene.photo_intrinsics(shot.realcam)
    return blender_from_intrinsics(K, cam_data.sensor_fit, cam_data.sensor_width, cam_data.sensor_height).lens


def _placement(scene, role: str):
    coll = scene.realcam.photo_collection
    found = [ob for ob in (coll.objects if coll else ()) if ob.get(PLACEMENT) == role and ob.instance_collection]
    if not found:
        raise TransitionError(f"the transition {scene.name!r} lost its placement of the {role!r} photo: make it again")
    return found[0]


def placements(scene):
    """The transition's instances of A's and B's photo collections (tagged, so renaming them is fine)."""
    return _placement(scene, "from"), _placement(scene, "to")


def check_pair(a, b) -> None:
    if a == b:
        raise TransitionError("a transition goes from one shot to another: pick a different shot")
    for s in (a, b):
        if not s.realcam.scene_folder or s.realcam.photo_mesh is None:
            raise TransitionError(f"shot {s.name!r} has no photo: import one first")
    ka, kb = photo_scene.photo_intrinsics(a.realcam), photo_scene.photo_intrinsics(b.realcam)
    if (ka.width, ka.height) != (kb.width, kb.height):
        raise TransitionError(
            f"{a.name!r} is {ka.width}x{ka.height} and {b.name!r} {kb.width}x{kb.height}: a transition needs both "
            "photos at one size (import the second at the first's size)"
        )


def create(a, b, frames: int):
    """A new transition shot from a to b over `frames` frames after a's; returns it (the caller shows it)."""
    check_pair(a, b)
    if frames < 2:
        raise TransitionError("a transition needs at least 2 frames")
    scene = shots.create(shots.file_settings(a), f"{shots.label(a)} to {shots.label(b)}")
    ra, rc = a.realcam, scene.realcam
    scene.frame_start = scene.frame_current = a.frame_end + 1
    scene.frame_end = a.frame_end + frames
    src, dst = a.render, scene.render
    dst.resolution_x, dst.resolution_y, dst.resolution_percentage = src.resolution_x, src.resolution_y, 100
    dst.pixel_aspect_x, dst.pixel_aspect_y = src.pixel_aspect_x, src.pixel_aspect_y
    for key in ("scene_folder", "photo", "median_depth", "metres_per_unit", "depth_scale", "photo_focal_px", "model"):
        setattr(rc, key, getattr(ra, key))
    rc.transition_from, rc.transition_to = ra.shot_id, b.realcam.shot_id
    rc.edit_offset = ra.edit_offset
    rc.edit_scene = shots.edit_scene(a)
    for shot, role in ((a, "from"), (b, "to")):
        inst = bpy.data.objects.new(f"RealCam {role} {shots.label(shot)}", None)
        inst[PLACEMENT] = role
        inst.instance_type = "COLLECTION"
        inst.instance_collection = shot.realcam.photo_collection
        rc.photo_collection.objects.link(inst)
    src_cam = a.camera.data if a.camera is not None and a.camera.type == "CAMERA" else None
    data = src_cam.copy() if src_cam is not None else bpy.data.cameras.new(f"RealCam {scene.name}")
    data.animation_data_clear()
    cam = bpy.data.objects.new(f"RealCam Camera {shots.label(a)} to {shots.label(b)}", data)
    cam.rotation_mode = "QUATERNION"  # the ends' turn interpolates without Euler flips
    rc.photo_collection.objects.link(cam)
    scene.camera = cam
    key_ends(scene)
    return scene


def key_ends(scene) -> dict:
    """Key the transition's camera at its first frame to A's photo and at its last to B's, as placed."""
    a, b = ends(scene)
    pa, pb = placements(scene)
    cam = scene.camera
    if cam is None or cam.type != "CAMERA":
        raise TransitionError(f"the transition {scene.name!r} has no camera: make it again")
    for frame, shot, placement in ((scene.frame_start, a, pa), (scene.frame_end, b, pb)):
        m = photo_pose(shot, placement)
        cam.matrix_world = m  # the transition camera has no parent or constraints: its basis is its world matrix
        cam.keyframe_insert("location", frame=frame)
        cam.keyframe_insert("rotation_quaternion", frame=frame)
        cam.data.lens = photo_lens(shot, cam.data)
        cam.data.keyframe_insert("lens", frame=frame)
    scene.frame_set(scene.frame_current)
    shots.mark_edited(scene)
    return {"from": a.name, "to": b.name, "frames": [scene.frame_start, scene.frame_end]}


def end_problem(scene) -> str | None:
    """Why the transition's camera does not start at A's photo and end at B's (as placed now), or None."""
    a, b = ends(scene)
    pa, pb = placements(scene)
    for frame, shot, placement, which in ((scene.frame_start, a, pa, "first"), (scene.frame_end, b, pb, "last")):
        want = photo_pose(shot, placement)
        got = camera_track.evaluated_matrix(scene, scene.camera, frame)
        loc, rot, _ = got.decompose()
        moved = (loc - want.translation).length
        turned = rot.rotation_difference(want.to_quaternion()).angle
        if moved > POSE_TOLERANCE * max(1.0, want.translation.length) or turned > POSE_TOLERANCE:
            return (
                f"the transition's camera at its {which} frame ({frame}) is not where {shot.name!r}'s photo was "
                f"taken as placed now ({moved:.3g} units, {turned:.3g} rad off): press Key the ends"
            )
    return None


def last_image(scene) -> str:
    """B's photo, the take's last frame (the scene folder's image.png)."""
    import os

    from .. import paths

    _, b = ends(scene)
    return os.path.join(paths.resolve(b.realcam.scene_folder), "image.png")


def arrange(scene) -> int:
    """Put B after the transition in the edit: its strips moved, its later takes landing there. Returns the frames
    B moved by (0 when it already follows)."""
    from ..edit import sequencer

    _, b = ends(scene)
    follow = scene.frame_end + scene.realcam.edit_offset + 1
    offset = follow - b.frame_start
    delta = offset - b.realcam.edit_offset
    if delta:
        edit = shots.edit_scene(b, create=False)
        if edit is not None:
            sequencer.shift_shot(edit, b.realcam.shot_id, delta)
        b.realcam.edit_offset = offset
    return delta
