"""Operators: what the artist's buttons (and scripts) call."""

from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import flows, presets, re10k_io
from .tasks import RUNNER, Task


def _run(op, context, name: str, make_gen):
    """Start a task (interactive) or run it to the end (headless, no event loop)."""
    scene = context.scene
    if RUNNER.active(scene.name):
        op.report({"WARNING"}, f"RealCam is busy with {RUNNER.active(scene.name)[0].name}; wait or cancel it")
        return {"CANCELLED"}
    task = Task(name, None, scene.name)
    task.gen = make_gen(task)
    RUNNER.start(task)
    if bpy.app.background:
        RUNNER.run_until_done(task)
        if task.error:
            op.report({"ERROR"}, f"RealCam {name}: {task.error}")
            return {"CANCELLED"}
        if task.stage == "cancelled":
            op.report({"WARNING"}, f"RealCam {name}: cancelled")
            return {"CANCELLED"}
        op.report({"INFO"}, f"RealCam {name}: done")
    return {"FINISHED"}


class REALCAM_OT_import_photo(bpy.types.Operator, ImportHelper):
    """Import a photo as a metric point-cloud scene with a camera that sees exactly the photo"""

    bl_idname = "realcam.import_photo"
    bl_label = "Import Photo"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.jpg;*.jpeg;*.png;*.tif;*.tiff;*.webp;*.exr", options={"HIDDEN"})
    depth_map: StringProperty(
        name="Depth map",
        subtype="FILE_PATH",
        default="",
        description="Your own depth (.npy metres, 16-bit PNG mm, EXR): no backend needed",
    )
    focal_px: FloatProperty(
        name="Focal (px)",
        default=0.0,
        min=0.0,
        description="Focal length in pixels of the photo; 0: EXIF, the model, or 90 degrees",
    )
    model: StringProperty(name="Model", default="", description="Video model the scene is set up for")
    width: IntProperty(name="Width", default=0, min=0, description="Generation width; 0: the model's native size")
    height: IntProperty(name="Height", default=0, min=0)
    frames: IntProperty(name="Frames", default=0, min=0, description="Frame range length; 0: up to 49")

    def execute(self, context):
        size = (self.width, self.height) if self.width and self.height else None
        return _run(
            self,
            context,
            "import",
            # Tasks outlive the operator: they use bpy.context, never the operator's context.
            lambda task: flows.import_photo(
                task,
                bpy.context,
                bpy.path.abspath(self.filepath),
                bpy.path.abspath(self.depth_map) if self.depth_map else "",
                self.focal_px,
                self.model,
                size,
                self.frames,
            ),
        )


class REALCAM_OT_preset(bpy.types.Operator):
    """Key a camera move over the scene's frame range (ordinary keyframes you can edit)"""

    bl_idname = "realcam.preset"
    bl_label = "Camera Move Preset"
    bl_options = {"REGISTER", "UNDO"}

    kind: EnumProperty(name="Move", items=presets.PRESETS)

    def execute(self, context):
        scene = context.scene
        cam = scene.camera
        if cam is None:
            self.report({"ERROR"}, "the scene has no active camera: import a photo first")
            return {"CANCELLED"}
        depth = scene.realcam.median_depth or 3.0
        presets.apply(scene, cam, self.kind, depth)
        return {"FINISHED"}


class REALCAM_OT_preview(bpy.types.Operator):
    """Render the camera's frame range with the scene as seen through it (seconds, no diffusion)"""

    bl_idname = "realcam.preview"
    bl_label = "Render Preview"

    def execute(self, context):
        return _run(self, context, "preview", lambda task: flows.render_preview(task, bpy.context, context.scene))


class REALCAM_OT_generate(bpy.types.Operator):
    """Send the camera and the preview to the backend and bring the video back into the sequencer"""

    bl_idname = "realcam.generate"
    bl_label = "Generate"

    def execute(self, context):
        return _run(self, context, "generate", lambda task: flows.generate(task, bpy.context, context.scene))


class REALCAM_OT_cancel(bpy.types.Operator):
    """Stop RealCam's running operation (the backend job is cancelled too)"""

    bl_idname = "realcam.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        active = RUNNER.active(context.scene.name)
        for t in active:
            t.cancel()
        return {"FINISHED"} if active else {"CANCELLED"}


class REALCAM_OT_import_re10k(bpy.types.Operator, ImportHelper):
    """Key the active camera from a RealEstate10K camera file"""

    bl_idname = "realcam.import_re10k"
    bl_label = "Import RealEstate10K Cameras"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.txt", options={"HIDDEN"})
    scale: FloatProperty(name="Scale", default=1.0, min=1e-6, description="Metres per unit of the file")

    def execute(self, context):
        scene = context.scene
        if scene.camera is None:
            self.report({"ERROR"}, "the scene has no active camera to key")
            return {"CANCELLED"}
        try:
            n = re10k_io.import_file(scene, scene.camera, bpy.path.abspath(self.filepath), self.scale)
        except (OSError, ValueError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"keyed {n} frames")
        return {"FINISHED"}


class REALCAM_OT_export_re10k(bpy.types.Operator, ExportHelper):
    """Write the active camera, as Blender evaluates it, as a RealEstate10K camera file"""

    bl_idname = "realcam.export_re10k"
    bl_label = "Export RealEstate10K Cameras"

    filename_ext = ".txt"
    filter_glob: StringProperty(default="*.txt", options={"HIDDEN"})

    def execute(self, context):
        path = bpy.path.abspath(self.filepath)
        scene = context.scene

        def gen(task):
            frames, Ks, rel = yield from flows.read_track(task, bpy.context, scene)
            name = os.path.splitext(os.path.basename(bpy.data.filepath))[0] or "blender"
            re10k_io.export_file(
                path,
                Ks,
                rel,
                scene.render.fps / scene.render.fps_base,
                f"blender:{name}:{scene.name}".replace(" ", "_"),
            )

        return _run(self, context, "export", gen)


CLASSES = (
    REALCAM_OT_import_photo,
    REALCAM_OT_preset,
    REALCAM_OT_preview,
    REALCAM_OT_generate,
    REALCAM_OT_cancel,
    REALCAM_OT_import_re10k,
    REALCAM_OT_export_re10k,
)
