"""Operators of the shot: import a photo as a shot (or into one), go to a shot, delete one (and the strips of shots
deleted otherwise)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ...edit import sequencer, takes
from ...flows import import_photo
from ...shot import camera_track, shots
from ...tasks import RUNNER
from .common import active_shot, run_task

# Options that belong to one photo: Blender must not fill them in from the last import (SKIP_SAVE), or a second
# photo would silently get the first one's depth map and focal, and one "Replace this shot's photo" would turn every
# later Import Photo into a replace. The panel's button and the file browser's sidebar pass them each time.
PER_PHOTO = {"SKIP_SAVE"}


class REALCAM_OT_import_photo(bpy.types.Operator, ImportHelper):
    """Import a photo as a shot of its own: a metric point-cloud scene with a camera that sees exactly the photo"""

    bl_idname = "realcam.import_photo"
    bl_label = "Import Photo"
    # No UNDO here: the shot is built after this returns; the task pushes the one undo step when it is.
    bl_options = {"REGISTER"}

    filter_glob: StringProperty(default="*.jpg;*.jpeg;*.png;*.tif;*.tiff;*.webp;*.exr", options={"HIDDEN"})
    depth_map: StringProperty(
        name="Depth map",
        subtype="FILE_PATH",
        default="",
        options=PER_PHOTO,
        description="Your own depth (.npy metres, 16-bit PNG mm, EXR): no backend needed",
    )
    focal_px: FloatProperty(
        name="Focal (px)",
        default=0.0,
        min=0.0,
        options=PER_PHOTO,
        description="Focal length in pixels of the photo; 0: EXIF, the model, or 90 degrees",
    )
    model: StringProperty(name="Model", default="", options=PER_PHOTO, description="Video model the shot is set up for")
    depth_model: StringProperty(
        name="Depth model",
        default="",
        options=PER_PHOTO,
        description="Depth model the backend uses; empty: the preferences' choice",
    )
    width: IntProperty(
        name="Width", default=0, min=0, options=PER_PHOTO, description="Generation width; 0: the model's native size"
    )
    height: IntProperty(
        name="Height", default=0, min=0, options=PER_PHOTO, description="Generation height; 0: the model's native size"
    )
    frames: IntProperty(
        name="Frames", default=0, min=0, options=PER_PHOTO, description="Frame range length; 0: up to 49"
    )
    replace: BoolProperty(
        name="Replace this shot's photo",
        default=False,
        options=PER_PHOTO,
        description="Put the photo into the active shot (its camera, moves, props and takes stay), not a new shot",
    )

    def draw(self, context):
        """The file browser's sidebar: the options for this photo; Replace only in a shot, naming it."""
        layout = self.layout
        col = layout.column()
        col.prop(self, "depth_map")
        col.prop(self, "focal_px")
        row = col.row(align=True)
        row.prop(self, "width")
        row.prop(self, "height")
        col.prop(self, "frames")
        col.prop(self, "model")
        col.prop(self, "depth_model")
        if shots.is_shot(context.scene):
            col.prop(self, "replace", text=f"Replace the photo of {context.scene.name}")

    def execute(self, context):
        if bool(self.width) != bool(self.height):
            self.report(
                {"ERROR"},
                f"a generation size needs both width and height (got {self.width}x{self.height}); "
                "set both, or neither for the model's native size",
            )
            return {"CANCELLED"}
        replace = None
        if self.replace:
            scene = active_shot(self, context)
            if scene is None:
                return {"CANCELLED"}
            replace = shots.ShotRef(scene)
        size = (self.width, self.height) if self.width else None
        args = (
            bpy.path.abspath(self.filepath),
            bpy.path.abspath(self.depth_map) if self.depth_map else "",
            self.focal_px,
            self.model,
            size,
            self.frames,
        )
        depth_model = self.depth_model
        # Tasks outlive the operator: they use bpy.context, never the operator's context.
        return run_task(
            self,
            "import",
            replace.id if replace else "import",
            lambda task: import_photo.import_photo(task, bpy.context, *args, replace=replace, depth_model=depth_model),
        )


class REALCAM_OT_show_shot(bpy.types.Operator):
    """Go to a shot (or the edit): make it the window's scene"""

    bl_idname = "realcam.show_shot"
    bl_label = "Go to Shot"

    scene: StringProperty(name="Scene", options={"SKIP_SAVE"})

    def execute(self, context):
        target = bpy.data.scenes.get(self.scene)
        if target is None:
            self.report({"ERROR"}, f"no scene {self.scene!r} (renamed or deleted?): pick one from the panel's list")
            return {"CANCELLED"}
        shots.show(context, target)
        return {"FINISHED"}


class REALCAM_OT_place_photo(bpy.types.Operator):
    """Put the photo's mesh back where the shot's camera stands at its first frame (the first frame is the photo)"""

    bl_idname = "realcam.place_photo"
    bl_label = "Put Photo at Camera"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        if RUNNER.active(scene.realcam.shot_id):
            self.report({"WARNING"}, "RealCam is working on this shot; wait or cancel it")
            return {"CANCELLED"}
        try:
            cam = camera_track.check_camera(scene)
        except camera_track.CameraError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if scene.realcam.photo_mesh is None:
            self.report({"ERROR"}, f"shot {scene.name!r} has no photo mesh: import its photo again (Replace)")
            return {"CANCELLED"}
        start = camera_track.evaluated_matrix(scene, cam, scene.frame_start)
        shots.anchor_photo(scene, start, force=True)
        self.report({"INFO"}, f"the photo is where {cam.name!r} stands at frame {scene.frame_start}")
        return {"FINISHED"}


class REALCAM_OT_shot_delete(bpy.types.Operator):
    """Delete this shot: its scene, photo mesh and camera, its preview and takes in the edit (asks first)"""

    bl_idname = "realcam.shot_delete"
    bl_label = "Delete Shot"
    bl_options = {"REGISTER", "UNDO"}

    confirm: BoolProperty(name="Confirmed", default=False, options={"HIDDEN", "SKIP_SAVE"})

    def invoke(self, context, event):
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        self.confirm = True  # execute runs only once the artist clicked Delete in the dialog
        return context.window_manager.invoke_confirm(
            self,
            event,
            title=f"Delete shot {scene.name}?",
            message=f"Its scene, its preview and its {len(scene.realcam.takes)} takes in the edit, and their "
            "folders are deleted; undo brings them back until the file is closed",
            confirm_text="Delete",
            icon="WARNING",
        )

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        if not self.confirm:
            self.report(
                {"ERROR"}, "deleting a shot deletes its takes: use the panel's Delete shot (it asks), or confirm=True"
            )
            return {"CANCELLED"}
        if RUNNER.active(scene.realcam.shot_id):
            self.report({"WARNING"}, "RealCam is working on this shot; wait or cancel it")
            return {"CANCELLED"}
        try:
            done = takes.delete_shot(context, scene)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"deleted shot {done['name']} and its {done['takes']} takes")
        return {"FINISHED"}


class REALCAM_OT_edit_remove_orphans(bpy.types.Operator):
    """Remove from this edit the previews and takes of shots that are gone (deleted with Blender's Delete Scene);
    their files stay on disk"""

    bl_idname = "realcam.edit_remove_orphans"
    bl_label = "Remove Strips of Deleted Shots"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        edit = context.scene
        if not edit.realcam.is_edit:
            self.report({"ERROR"}, f"scene {edit.name!r} is not a RealCam edit: go to the edit (a shot's Takes panel)")
            return {"CANCELLED"}
        removed = sequencer.remove(edit, sequencer.orphans(edit))
        self.report({"INFO"}, f"removed {len(removed)} strips of deleted shots")
        return {"FINISHED"}


CLASSES = (
    REALCAM_OT_import_photo,
    REALCAM_OT_show_shot,
    REALCAM_OT_place_photo,
    REALCAM_OT_shot_delete,
    REALCAM_OT_edit_remove_orphans,
)
