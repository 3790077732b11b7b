"""Shots: each imported photo is a Blender scene of its own; previews and takes live in one edit scene.

Why a scene per shot (the way previs is done in Blender) rather than collections
and view layers in the artist's scene:
- Isolation: the shot scene holds the photo's mesh and camera, and what the
  artist puts in on purpose (a props collection, linked, not copied). The
  preview renders that scene, so the default cube, the artist's set and other
  photos' meshes are never in it, and each shot's reference, depth, folder and
  preview stay its own whichever camera is active elsewhere.
- Settings: size and frame count are per scene in Blender. The shot gets the
  model's size and frame range while the artist's scene keeps its own; the shot
  takes the file's start frame, frame rate and unit scale.
- The edit: previews and takes are strips in a separate edit scene, so a 3D
  scene never has strips and F12 there renders the 3D scene, not the sequencer.
  A take is made for its shot's frame rate and a scene plays at one rate, so
  there is an edit per frame rate ("RealCam Edit", "RealCam Edit 25 fps"): each
  take plays there frame for frame at its own rate, as a previs artist expects
  (a take retimed into an edit of another rate would drop or repeat frames).
- Undo, saving and moving projects need nothing special: scenes are ordinary
  data. Tasks refer to a shot by its id (`ShotRef`), never by a Python
  reference held across a tick, which undo would leave dangling.
"""

from __future__ import annotations

import os
import uuid

import bpy
import numpy as np
from mathutils import Matrix

from .. import compat, paths
from ..edit import sequencer
from ..extension import prefs
from ..preview import fingerprint
from ..realcam_core.camera import REFERENCE_C2W_BLENDER_WORLD, blender_from_opencv_c2w
from ..realcam_core.models import DEFAULT_VIDEO_MODEL

EDIT_SCENE_NAME = "RealCam Edit"


class ShotGone(RuntimeError):
    """The shot a task works on was deleted or undone."""


def is_shot(scene) -> bool:
    return scene is not None and bool(scene.realcam.shot_id)


def find(shot_id: str):
    for s in bpy.data.scenes:
        if s.realcam.shot_id == shot_id:
            return s
    return None


def all_shots() -> list:
    return [s for s in bpy.data.scenes if is_shot(s)]


class ShotRef:
    """A shot by id: resolved on every use, so it survives undo and renames."""

    def __init__(self, scene):
        if not is_shot(scene):
            raise ShotGone(f"scene {scene.name!r} is not a RealCam shot: import a photo first (RealCam > Import Photo)")
        self.id = scene.realcam.shot_id
        self.name = scene.name

    @property
    def scene(self):
        s = find(self.id)
        if s is None:
            raise ShotGone(f"the shot {self.name!r} is gone (deleted, or its import was undone)")
        self.name = s.name
        return s


class SceneRef:
    """A scene that is not a shot, by name (RE10K export works on any camera)."""

    def __init__(self, scene):
        self.id = self.name = scene.name

    @property
    def scene(self):
        s = bpy.data.scenes.get(self.name)
        if s is None:
            raise ShotGone(f"scene {self.name!r} is gone")
        return s


def label(scene) -> str:
    """The shot's name as folder and strip names use it: without "RealCam ", only safe characters."""
    name = scene.name[len("RealCam ") :] if scene.name.startswith("RealCam ") else scene.name
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "shot"


def model_name(scene, context=None) -> str:
    """The video model the shot is made for: its own, else the preferences' default, else the add-on's."""
    return scene.realcam.model or prefs(context).model or DEFAULT_VIDEO_MODEL


def photo_size(scene) -> tuple[int, int] | None:
    """The shot's photo's own size (width, height as displayed): kept on the shot once read, else read from the
    photo file; None when neither is there (a moved photo in a file that never read it)."""
    rc = scene.realcam
    if rc.photo_size[0] > 0 and rc.photo_size[1] > 0:
        return int(rc.photo_size[0]), int(rc.photo_size[1])
    from . import photo_source

    path = bpy.path.abspath(rc.photo) if rc.photo else ""
    if not path or not os.path.isfile(path):
        return None
    try:
        return photo_source.photo_size(path)
    except photo_source.PhotoError:
        return None


def set_frames_and_size(scene, frames: int, size) -> None:
    """The shot's frame range (from its first frame) and generation size (at 100 %) for a model."""
    scene.frame_end = scene.frame_start + int(frames) - 1
    r = scene.render
    r.resolution_x, r.resolution_y = int(size[0]), int(size[1])


def metres_per_unit(scene) -> float:
    """Metres per Blender unit: the shot's, fixed when its mesh was built; else the scene's unit scale."""
    if is_shot(scene):
        return scene.realcam.metres_per_unit or 1.0
    return scene.unit_settings.scale_length or 1.0


def file_settings(scene) -> dict:
    """What a new shot takes from the scene the artist imported from: start frame, frame rate, units."""
    r, u = scene.render, scene.unit_settings
    return {
        "fps": r.fps,
        "fps_base": r.fps_base,
        "frame_start": scene.frame_start,
        "unit_system": u.system,
        "scale_length": u.scale_length or 1.0,
        "length_unit": u.length_unit,
    }


def create(source: dict, base: str):
    """A new, empty shot scene with the file's start frame, frame rate and units (file_settings)."""
    shot = bpy.data.scenes.new(f"RealCam {base}")
    shot.render.fps, shot.render.fps_base = source["fps"], source["fps_base"]
    shot.frame_start = shot.frame_current = source["frame_start"]
    us = shot.unit_settings
    us.system, us.scale_length = source["unit_system"], source["scale_length"]
    try:
        us.length_unit = source["length_unit"]
    except TypeError:  # the unit list depends on the system
        pass
    rc = shot.realcam
    rc.shot_id = uuid.uuid4().hex
    rc.metres_per_unit = source["scale_length"]
    coll = bpy.data.collections.new(f"RealCam {base}")
    shot.collection.children.link(coll)
    rc.photo_collection = coll
    return shot


def delete(shot) -> None:
    """Remove a shot, with everything only it used: its photo's objects and data, its strips in every edit."""
    rc = shot.realcam
    sid = rc.shot_id
    for edit in edits():
        sequencer.remove(edit, [s for s in compat.all_strips(edit) if s.get("realcam_shot") == sid])
    coll = rc.photo_collection
    if coll is not None:
        for ob in list(coll.objects):
            data = ob.data
            bpy.data.objects.remove(ob)
            if data is not None and data.users == 0:
                for mat in getattr(data, "materials", []) or []:
                    if mat is not None and mat.users <= 1:
                        bpy.data.materials.remove(mat)
                _remove_data(data)
        bpy.data.collections.remove(coll)
    bpy.data.scenes.remove(shot)


def _remove_data(data) -> None:
    for kind, coll in ((bpy.types.Mesh, bpy.data.meshes), (bpy.types.Camera, bpy.data.cameras)):
        if isinstance(data, kind):
            coll.remove(data)
            return


def edits() -> list:
    """The file's edit scenes (one per frame rate)."""
    return [s for s in bpy.data.scenes if s.realcam.is_edit]


def fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def fps_text(scene) -> str:
    return f"{fps(scene):.6g} fps"


def same_rate(a, b) -> bool:
    return a.render.fps == b.render.fps and abs(a.render.fps_base - b.render.fps_base) < 1e-6


def edit_scene(shot, create: bool = True):
    """The edit scene of the shot's frame rate, whose sequencer holds its preview and takes (made on first use)."""
    rc = shot.realcam
    edit = rc.edit_scene
    if edit is None or edit.name not in bpy.data.scenes or not edit.realcam.is_edit or not same_rate(edit, shot):
        edit = next((s for s in edits() if same_rate(s, shot)), None)
    if edit is None and create:
        name = f"{EDIT_SCENE_NAME} {fps_text(shot)}" if edits() else EDIT_SCENE_NAME
        edit = bpy.data.scenes.new(name)
        edit.realcam.is_edit = True
        r, sr = edit.render, shot.render
        r.fps, r.fps_base = sr.fps, sr.fps_base
        r.resolution_x, r.resolution_y, r.resolution_percentage = sr.resolution_x, sr.resolution_y, 100
        edit.frame_start, edit.frame_end = shot.frame_start, shot.frame_end
        edit.sequence_editor_create()
    if edit is not None:
        if rc.edit_scene != edit:
            rc.edit_scene = edit
        compat.show_in_sequencer(bpy.context, edit)
    return edit


def link_props(shot) -> None:
    """Show the props collection the panel names in the shot (and only that one)."""
    rc = shot.realcam
    children = shot.collection.children
    old = bpy.data.collections.get(rc.props_linked) if rc.props_linked else None
    if old is not None and old != rc.props and old.name in children:
        children.unlink(old)
    rc.props_linked = ""
    new = rc.props
    if new is not None:
        if new.name not in children:
            children.link(new)
        rc.props_linked = new.name
    mark_edited(shot)


def show(context, shot) -> None:
    """Make the shot (or an edit) the scene of the window that showed the scene it was made from; an edit is also
    what the sequencer shows (5.x shows the workspace's sequencer scene, not the window's)."""
    wm = context.window_manager
    windows = list(wm.windows) if wm else []
    if context.window is not None:
        windows.insert(0, context.window)
    if shot.realcam.is_edit:
        compat.show_in_sequencer(context, shot, replace=True)
    for w in windows:
        if w.scene != shot:
            w.scene = shot
        return


# Where the photo's mesh goes: where the camera stands at the shot's first frame (the first frame of a take is the
# photo). The mesh follows that frame while it is where RealCam last put it (a rig or keys moved the camera); once
# the artist moved the mesh, RealCam leaves it there and says so (the panel, Preview, Generate), and Put Photo at
# Camera puts it back. Where RealCam put it is kept on the shot, so undo and reopening keep it with the mesh.
PLACED, IN_PLACE, MOVED = "placed", "in place", "moved by the artist"


def _same_place(a, b) -> bool:
    a, b = np.array(a, np.float64), np.array(b, np.float64)
    return bool(np.allclose(a, b, atol=1e-5 * max(1.0, float(np.abs(a[:3, 3]).max()))))


def record_placement(shot) -> None:
    """Note where the photo's mesh is as where RealCam put it."""
    rc = shot.realcam
    if rc.photo_mesh is not None:
        rc.photo_placed = [v for row in rc.photo_mesh.matrix_world for v in row]
        rc.photo_placed_set = True


def photo_moved(shot) -> bool:
    """Whether the artist moved the photo's mesh since RealCam placed it."""
    rc = shot.realcam
    if rc.photo_mesh is None or not rc.photo_placed_set:
        return False  # a shot from an older add-on: RealCam places it (and notes it) at the next preview
    placed = np.array(rc.photo_placed, np.float64).reshape(4, 4)
    return not _same_place(rc.photo_mesh.matrix_world, placed)


def anchor_photo(shot, camera_start: Matrix, force: bool = False) -> str:
    """Place the photo's mesh where the camera stands at the shot's first frame (see above).

    Returns PLACED (it moved there), IN_PLACE (it was there), or MOVED (the artist moved it elsewhere and it stays;
    force puts it back)."""
    mesh = shot.realcam.photo_mesh
    if mesh is None:
        return IN_PLACE
    loc, rot, _ = camera_start.decompose()
    ref = Matrix(blender_from_opencv_c2w(REFERENCE_C2W_BLENDER_WORLD).tolist())
    target = Matrix.LocRotScale(loc, rot, None) @ ref.inverted()
    if _same_place(mesh.matrix_world, target):
        if photo_moved(shot) or not shot.realcam.photo_placed_set:
            record_placement(shot)  # moved along with the camera: where the first frame sees it
        return IN_PLACE
    if photo_moved(shot) and not force:
        return MOVED
    mesh.matrix_world = target
    record_placement(shot)
    return PLACED


def depsgraph(scene):
    """The evaluated depsgraph of a scene, whether or not a window shows it."""
    with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
        return bpy.context.evaluated_depsgraph_get()


# ---------------------------------------------------------------- "preview out of date" in the panel
#
# Edits are seen as they happen (depsgraph updates on a shot's objects that change the quick state kept with the
# preview, preview/fingerprint.py): a shot edited since its preview was made (or found to match it: Generate) is
# out of date. An undo, a redo or opening a file is not an edit: Blender then reloads data, and what the shot holds
# is compared with the quick state instead, so ctrl-Z back to what the preview shows reads "up to date" again. The
# quick state is saved with the shot: it says the same after the file is reopened. Generate always checks the full
# fingerprint.

# Ids of the shots edited since their preview was made or matched.
_edited: set[str] = set()
# Set by an undo, redo or file load: the next depsgraph update is Blender reloading data, not an edit.
_reloaded = [False]


def mark_edited(shot) -> None:
    _edited.add(shot.realcam.shot_id)


def quick_state(shot) -> str:
    return fingerprint.quick_state(shot, prefs().preview_engine, paths.resolve(shot.realcam.scene_folder))


def note_preview(shot) -> None:
    """The shot's preview shows it as it is now (just rendered, or its fingerprint matched)."""
    rc = shot.realcam
    state = quick_state(shot)
    if rc.preview_quick_state != state:
        rc.preview_quick_state = state
    _edited.discard(rc.shot_id)


def forget_edits() -> None:
    _edited.clear()


def after_reload() -> None:
    """After an undo, a redo or opening a file: each shot's preview state from what the shot now holds (again at
    the depsgraph update that follows, which is Blender reloading, not an edit)."""
    _reloaded[0] = True
    _compare_with_previews()


def _compare_with_previews() -> None:
    for shot in all_shots():
        rc = shot.realcam
        if not rc.preview_quick_state:
            continue  # no quick state kept (no preview, or one from an older add-on): what was known stays
        if quick_state(shot) == rc.preview_quick_state:
            _edited.discard(rc.shot_id)
        else:
            _edited.add(rc.shot_id)


def on_depsgraph_update(scene, depsgraph) -> None:
    """Note edits of anything a shot shows: its objects, its props collection's objects."""
    if _reloaded[0]:
        _reloaded[0] = False
        _compare_with_previews()  # Blender reloading what an undo or a file restored: compare, do not count
        return
    shot_list = all_shots()
    if not shot_list:
        return
    touched = set()
    for u in depsgraph.updates:
        ob = u.id.original  # the updates hold evaluated copies, which belong to no scene
        if isinstance(ob, bpy.types.Object) and (u.is_updated_transform or u.is_updated_geometry):
            for s in ob.users_scene:
                if s.realcam.shot_id:
                    touched.add(s.realcam.shot_id)
        elif isinstance(ob, bpy.types.Collection):
            for s in shot_list:
                if ob == s.collection or ob in s.collection.children_recursive:
                    touched.add(s.realcam.shot_id)
    # An update that leaves a shot as its preview shows it is no edit: the add-on's own frame stepping (reading the
    # camera, rendering) leaves updates Blender reports later, at the next undo push or redraw. Only a shot that
    # reads up to date is compared, so an edit costs one quick state.
    for s in shot_list:
        rc = s.realcam
        if rc.shot_id in touched and rc.shot_id not in _edited:
            if not rc.preview_quick_state or quick_state(s) != rc.preview_quick_state:
                _edited.add(rc.shot_id)


def preview_state(shot) -> str:
    """'none', 'stale' (edited since, or found different after an undo or on opening) or 'current'."""
    rc = shot.realcam
    if not rc.preview_folder or not rc.preview_signature:
        return "none"
    if rc.preview_signature == "stale":  # written by an older add-on on saving
        return "stale"
    return "stale" if rc.shot_id in _edited else "current"
