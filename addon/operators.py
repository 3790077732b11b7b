"""Operators: what the artist's buttons (and scripts) call."""

from __future__ import annotations

import os
import random

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import backend_status, drift, flows, moves, presets, re10k_io, shots, takes
from .paths import job_root
from .realcam_core.camera import CameraError
from .tasks import RUNNER


def _run(op, context, name: str, shot_id: str, make_gen):
    """Start a task (interactive) or run it to the end (headless, no event loop)."""
    busy = RUNNER.active(shot_id)
    if busy:
        op.report({"WARNING"}, f"RealCam is busy with {busy[0].name} for this shot; wait or cancel it")
        return {"CANCELLED"}
    task = flows.start(name, shot_id, make_gen)
    if RUNNER.blocking:
        RUNNER.run_until_done(task)
        if task.error:
            op.report({"ERROR"}, f"RealCam {name}: {task.error}")
            return {"CANCELLED"}
        if task.stage == "cancelled":
            op.report({"WARNING"}, f"RealCam {name}: cancelled")
            return {"CANCELLED"}
        op.report({"INFO"}, f"RealCam {name}: {task.message or 'done'}")
    return {"FINISHED"}


def _shot(op, context):
    """The shot the operator works on (the active scene), or None with the reason reported."""
    scene = context.scene
    if not shots.is_shot(scene):
        op.report({"ERROR"}, f"scene {scene.name!r} is not a RealCam shot: import a photo, or go to a shot")
        return None
    return scene


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
        description="Your own depth (.npy metres, 16-bit PNG mm, EXR): no backend needed",
    )
    focal_px: FloatProperty(
        name="Focal (px)",
        default=0.0,
        min=0.0,
        description="Focal length in pixels of the photo; 0: EXIF, the model, or 90 degrees",
    )
    model: StringProperty(name="Model", default="", description="Video model the shot is set up for")
    depth_model: StringProperty(
        name="Depth model", default="", description="Depth model the backend uses; empty: the preferences' choice"
    )
    width: IntProperty(name="Width", default=0, min=0, description="Generation width; 0: the model's native size")
    height: IntProperty(name="Height", default=0, min=0, description="Generation height; 0: the model's native size")
    frames: IntProperty(name="Frames", default=0, min=0, description="Frame range length; 0: up to 49")
    replace: BoolProperty(
        name="Replace this shot's photo",
        default=False,
        description="Put the photo into the active shot (its camera, moves, props and takes stay), not a new shot",
    )

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
            scene = _shot(self, context)
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
        return _run(
            self,
            context,
            "import",
            replace.id if replace else "import",
            lambda task: flows.import_photo(task, bpy.context, *args, replace=replace, depth_model=depth_model),
        )


class REALCAM_OT_preset(bpy.types.Operator):
    """Add a camera move over the shot's frame range, on top of what the camera's rig does (ordinary keyframes)"""

    bl_idname = "realcam.preset"
    bl_label = "Camera Move Preset"
    bl_options = {"REGISTER", "UNDO"}

    kind: EnumProperty(name="Move", items=presets.PRESETS)
    amount: FloatProperty(
        name="Amount",
        default=0.0,
        min=0.0,
        description="Metres (dolly, truck, pedestal), degrees (pan, tilt, orbit) or lens factor (zoom); "
        "0: scaled to the photo's depth",
    )
    duration: FloatProperty(
        name="Duration",
        default=0.0,
        min=0.0,
        description="How long the move takes from the shot's start frame, then it holds; 0: the whole shot",
    )
    duration_unit: EnumProperty(
        name="Unit", items=(("FRAMES", "Frames", "Duration in frames"), ("SECONDS", "Seconds", "Duration in seconds"))
    )

    def execute(self, context):
        scene = context.scene
        cam = scene.camera
        if cam is None:
            self.report({"ERROR"}, "the scene has no active camera: import a photo first")
            return {"CANCELLED"}
        if RUNNER.active(scene.realcam.shot_id or None) and shots.is_shot(scene):
            self.report({"WARNING"}, "RealCam is reading or rendering this shot; wait or cancel it")
            return {"CANCELLED"}
        try:
            frames = presets.duration_frames(scene, self.duration, self.duration_unit)
            done = presets.apply(scene, cam, self.kind, self.amount, frames)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        if shots.is_shot(scene):
            shots.mark_edited(scene)  # a new move: the preview is out of date (also without a viewport update)
            moves.measure(scene)  # the combined move's extent, for the panel
        unit = {"metres": " m", "degrees": " degrees", "factor": "x"}[presets.unit_of(self.kind)]
        self.report(
            {"INFO"},
            f"{self.kind.replace('_', ' ').lower()} {done['amount']:.3g}{unit} on {done['holder']}, "
            f"frames {scene.frame_start}-{done['stop']}",
        )
        return {"FINISHED"}


class REALCAM_OT_preview(bpy.types.Operator):
    """Render the shot's frame range as seen through its camera (seconds, no diffusion)"""

    bl_idname = "realcam.preview"
    bl_label = "Render Preview"

    def execute(self, context):
        scene = _shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        ref = shots.ShotRef(scene)
        return _run(self, context, "preview", ref.id, lambda task: flows.preview_task(task, bpy.context, ref))


class REALCAM_OT_generate(bpy.types.Operator):
    """Send the camera and the preview to the backend and bring the video back into the edit"""

    bl_idname = "realcam.generate"
    bl_label = "Generate"

    def execute(self, context):
        scene = _shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        ref = shots.ShotRef(scene)
        return _run(self, context, "generate", ref.id, lambda task: flows.generate(task, bpy.context, ref))


class REALCAM_OT_cancel(bpy.types.Operator):
    """Stop RealCam's running operation on this shot (the backend job is cancelled too)"""

    bl_idname = "realcam.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        scene = context.scene
        keys = [scene.realcam.shot_id] if scene.realcam.shot_id else ["import", scene.name]  # as the panel follows
        active = [t for k in keys for t in RUNNER.active(k)]
        for t in active:
            t.cancel()
        return {"FINISHED"} if active else {"CANCELLED"}


class REALCAM_OT_show_shot(bpy.types.Operator):
    """Go to a shot (or the edit): make it the window's scene"""

    bl_idname = "realcam.show_shot"
    bl_label = "Go to Shot"

    scene: StringProperty(name="Scene")

    def execute(self, context):
        target = bpy.data.scenes.get(self.scene)
        if target is None:
            self.report({"ERROR"}, f"no scene {self.scene!r} (renamed or deleted?): pick one from the panel's list")
            return {"CANCELLED"}
        shots.show(context, target)
        return {"FINISHED"}


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
            self.report({"ERROR"}, "the scene has no active camera to key: set one (Scene properties > Camera)")
            return {"CANCELLED"}
        try:
            n = re10k_io.import_file(scene, scene.camera, bpy.path.abspath(self.filepath), self.scale)
        except OSError as e:
            self.report({"ERROR"}, f"cannot read {self.filepath} ({e.strerror or e}): pick an existing camera file")
            return {"CANCELLED"}
        except ValueError as e:
            self.report(
                {"ERROR"},
                f"{e}: pick a RealEstate10K camera file (a line per frame: timestamp, fx fy cx cy, 0 0, a 3x4 pose)",
            )
            return {"CANCELLED"}
        if shots.is_shot(scene):
            shots.mark_edited(scene)
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
        if scene.camera is None:
            self.report({"ERROR"}, "the scene has no active camera to export: set one (Scene properties > Camera)")
            return {"CANCELLED"}
        ref = shots.ShotRef(scene) if shots.is_shot(scene) else _SceneRef(scene)

        def gen(task):
            frames, Ks, rel, _ = yield from flows.read_track(task, bpy.context, ref, photo_checks=False)
            sc = ref.scene
            name = os.path.splitext(os.path.basename(bpy.data.filepath))[0] or "blender"
            try:
                re10k_io.export_file(
                    path, Ks, rel, sc.render.fps / sc.render.fps_base, f"blender:{name}:{sc.name}".replace(" ", "_")
                )
            except OSError as e:
                raise flows.FlowError(
                    f"could not write {path}: {e.strerror or e}: pick another file or folder in the export dialog"
                ) from None
            task.report("done", message=f"{len(frames)} cameras written to {path}")

        return _run(self, context, "export", getattr(ref, "id", scene.name), gen)


class REALCAM_OT_backend_status(bpy.types.Operator):
    """Ask the backend whether it answers, on which device it runs and which models it offers"""

    bl_idname = "realcam.backend_status"
    bl_label = "Test connection"

    start: BoolProperty(
        name="Start",
        default=False,
        description="Start the backend with the preferences' start command when none answers (this computer only)",
    )

    @classmethod
    def description(cls, context, props):
        if props.start:
            return "Start the backend with the start command of the preferences (when none answers), then ask it"
        return None

    def execute(self, context):
        url, token, _, command = flows._backend(context)
        log_dir = os.path.join(job_root(context), "logs")
        name = "start backend" if self.start else "test connection"
        return _run(
            self,
            context,
            name,
            backend_status.TASK_KEY,
            lambda task: backend_status.check_task(task, url, token, self.start, command, log_dir),
        )


class REALCAM_OT_seed(bpy.types.Operator):
    """A new seed for the next take: a random one, or the next number"""

    bl_idname = "realcam.seed"
    bl_label = "Seed"
    bl_options = {"REGISTER", "UNDO"}

    action: EnumProperty(
        items=[("RANDOM", "Random", "A random seed"), ("NEXT", "Next", "The seed plus one")], default="NEXT"
    )

    def execute(self, context):
        scene = _shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        rc = scene.realcam
        if self.action == "NEXT":
            rc.seed = rc.seed + 1
        else:
            old = rc.seed
            while rc.seed == old:  # "random" must change it
                rc.seed = random.randrange(0, 2**31 - 1)
        return {"FINISHED"}


class REALCAM_OT_prompt_text(bpy.types.Operator):
    """Keep the prompt in a text of the file (several lines; edit it in a Text Editor)"""

    bl_idname = "realcam.prompt_text"
    bl_label = "Prompt Text"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        scene = _shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        rc = scene.realcam
        if rc.prompt_text is None:
            text = bpy.data.texts.new(f"{scene.name} prompt")
            text.from_string(rc.prompt)
            rc.prompt_text = text
        self.report({"INFO"}, f"the prompt is the text {rc.prompt_text.name!r}: edit it in a Text Editor")
        return {"FINISHED"}


def _take(op, context):
    """(shot, index) of the take selected in the panel's list, or None with the reason reported."""
    scene = _shot(op, context)
    if scene is None:
        return None
    rc = scene.realcam
    if not 0 <= rc.takes_index < len(rc.takes):
        op.report({"ERROR"}, "no take selected: pick one in the shot's take list")
        return None
    return scene, rc.takes_index


class REALCAM_OT_take_load(bpy.types.Operator):
    """Set the panel's model, prompts, seed, steps, guidance and switches to what made the selected take"""

    bl_idname = "realcam.take_load"
    bl_label = "Load Settings from Take"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        found = _take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        done = takes.load_settings(scene, scene.realcam.takes[i])
        self.report({"INFO"}, f"loaded {', '.join(done)} from {scene.realcam.takes[i].name}")
        return {"FINISHED"}


class REALCAM_OT_take_open_folder(bpy.types.Operator):
    """Open the selected take's folder (video, result, bundle) in the file manager"""

    bl_idname = "realcam.take_open_folder"
    bl_label = "Open Folder"

    def execute(self, context):
        found = _take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        folder = takes.folder(scene.realcam.takes[i])
        if not folder or not os.path.isdir(folder):
            self.report(
                {"ERROR"},
                f"the take's folder {folder or '(none)'} is not there (moved or deleted?): put it back, "
                "or Delete the take from the list",
            )
            return {"CANCELLED"}
        bpy.ops.wm.path_open(filepath=folder)
        return {"FINISHED"}


class REALCAM_OT_take_delete(bpy.types.Operator):
    """Delete the selected take: its strip in the edit and its folder on disk (asks first)"""

    bl_idname = "realcam.take_delete"
    bl_label = "Delete Take"
    bl_options = {"REGISTER", "UNDO"}

    # Set only by the confirmation dialog (or a script that means it): files deleted do not come back with undo.
    confirm: BoolProperty(name="Confirmed", default=False, options={"HIDDEN", "SKIP_SAVE"})

    def invoke(self, context, event):
        found = _take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        item = scene.realcam.takes[i]
        self.confirm = True  # execute runs only once the artist clicked Delete in the dialog
        return context.window_manager.invoke_confirm(
            self,
            event,
            title=f"Delete take {item.name}?",
            message=f"Its strip and its folder {takes.folder(item)} are deleted; undo does not bring files back",
            confirm_text="Delete",
            icon="WARNING",
        )

    def execute(self, context):
        found = _take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        if not self.confirm:
            self.report(
                {"ERROR"},
                "deleting a take removes its files for good: use the panel's Delete (it asks), or confirm=True",
            )
            return {"CANCELLED"}
        if RUNNER.active(scene.realcam.shot_id):
            self.report({"WARNING"}, "RealCam is working on this shot; wait or cancel it")
            return {"CANCELLED"}
        done = takes.delete(scene, i)
        self.report({"INFO"}, f"deleted take {done['name']}")
        return {"FINISHED"}


class REALCAM_OT_take_compare(bpy.types.Operator):
    """Show the selected take against the shot's preview in the edit: difference, blend or side by side"""

    bl_idname = "realcam.take_compare"
    bl_label = "Compare Take with Preview"
    bl_options = {"REGISTER", "UNDO"}

    mode: EnumProperty(
        name="Mode",
        items=[
            ("DIFFERENCE", "Difference", "A difference strip: black where the take matches the preview"),
            ("BLEND", "Blend", "The take and the preview at 50 % each"),
            ("SIDE_BY_SIDE", "Side by side", "Preview on the left, take on the right"),
            ("OFF", "Off", "Remove the comparison: the strips as they were"),
        ],
        default="DIFFERENCE",
    )

    def execute(self, context):
        found = _take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        try:
            drift.compare(scene, scene.realcam.takes[i].name, self.mode)
        except CameraError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}


class REALCAM_OT_take_ghost(bpy.types.Operator):
    """Add the camera COLMAP recovered from the selected take, keyed next to yours, to see where the video drifted"""

    bl_idname = "realcam.take_ghost"
    bl_label = "Ghost Camera of Take"

    def execute(self, context):
        found = _take(self, context)
        if found is None:
            return {"CANCELLED"}
        scene, i = found
        ref, take_name = shots.ShotRef(scene), scene.realcam.takes[i].name
        return _run(self, context, "ghost camera", ref.id, lambda task: drift.ghost_task(task, ref, take_name))


class _SceneRef:
    """A scene that is not a shot, by name (RE10K export works on any camera)."""

    def __init__(self, scene):
        self.id = self.name = scene.name

    @property
    def scene(self):
        s = bpy.data.scenes.get(self.name)
        if s is None:
            raise shots.ShotGone(f"scene {self.name!r} is gone")
        return s


CLASSES = (
    REALCAM_OT_import_photo,
    REALCAM_OT_show_shot,
    REALCAM_OT_preset,
    REALCAM_OT_preview,
    REALCAM_OT_generate,
    REALCAM_OT_cancel,
    REALCAM_OT_import_re10k,
    REALCAM_OT_export_re10k,
    REALCAM_OT_backend_status,
    REALCAM_OT_seed,
    REALCAM_OT_prompt_text,
    REALCAM_OT_take_load,
    REALCAM_OT_take_open_folder,
    REALCAM_OT_take_delete,
    REALCAM_OT_take_compare,
    REALCAM_OT_take_ghost,
)
