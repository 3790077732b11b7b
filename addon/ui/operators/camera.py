"""Operators of the camera move: presets, a move from a clip, measuring the move, RealEstate10K camera files."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ...flows import re10k_export, track_clip
from ...realcam_core import api
from ...shot import moves, presets, re10k_io, shots
from ...tasks import RUNNER
from .common import active_shot, run_task


class REALCAM_OT_preset(bpy.types.Operator):
    """Add a camera move over the shot's frame range, on top of what the camera's rig does (ordinary keyframes)"""

    bl_idname = "realcam.preset"
    bl_label = "Camera Move Preset"
    bl_options = {"REGISTER", "UNDO"}

    # Each button names its move; Amount and Duration are set in the last-operation panel for that move. None is
    # carried over from the last preset (SKIP_SAVE): an amount in metres would become degrees on a pan. The unit the
    # duration is typed in is kept, as a preference.
    kind: EnumProperty(name="Move", items=presets.PRESETS, options={"SKIP_SAVE"})
    amount: FloatProperty(
        name="Amount",
        default=0.0,
        min=0.0,
        options={"SKIP_SAVE"},
        description="Metres (dolly, truck, pedestal), degrees (pan, tilt, orbit) or lens factor (zoom); "
        "0: scaled to the photo's depth",
    )
    duration: FloatProperty(
        name="Duration",
        default=0.0,
        min=0.0,
        options={"SKIP_SAVE"},
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


# What describes one clip (its lens, its depth) is not remembered for the next clip, as Blender remembers the
# last values of an operator's other properties.
ONE_CLIP = {"SKIP_SAVE"}


class REALCAM_OT_move_from_clip(bpy.types.Operator, ImportHelper):
    """Give the shot's camera the move of a reference clip: tracked on the backend (in metres when its scale is
    found), keyed on top of the camera's rig from the shot's first frame"""

    bl_idname = "realcam.move_from_clip"
    bl_label = "Camera Move from Clip"
    # No UNDO here: the keys come after the clip is tracked; the task pushes the one undo step then.
    bl_options = {"REGISTER"}

    filter_glob: StringProperty(
        default=";".join(f"*{e}" for e in api.TRACK_VIDEO_EXTENSIONS + api.TRACK_FRAME_EXTENSIONS), options={"HIDDEN"}
    )
    focal_px: FloatProperty(
        name="Focal (px)",
        default=0.0,
        min=0.0,
        description="The clip's focal length in pixels; 0: estimated",
        options=ONE_CLIP,
    )
    fov: FloatProperty(
        name="Field of view",
        default=0.0,
        min=0.0,
        max=179.0,
        description="The clip's horizontal field of view in degrees (instead of the focal); 0: estimated",
        options=ONE_CLIP,
    )
    depth_map: StringProperty(
        name="Depth map",
        subtype="FILE_PATH",
        default="",
        description="Metric depth of one of the clip's frames (.npy metres, 16-bit PNG mm, EXR); empty: the "
        "backend's depth model",
        options=ONE_CLIP,
    )
    clip_fps: FloatProperty(
        name="Frame rate",
        default=0.0,
        min=0.0,
        max=999.0,
        description="A folder of frames' rate; 0: the scene's. A video keeps its own",
        options=ONE_CLIP,
    )
    depth_frame: IntProperty(
        name="Depth frame", default=0, min=0, description="The clip frame the depth is for", options=ONE_CLIP
    )
    relative: BoolProperty(
        name="No metric scale",
        default=False,
        description="Skip depth: the move is sized by the photo's median depth instead of metres",
        options=ONE_CLIP,
    )
    timing: EnumProperty(
        name="Timing",
        items=(
            ("CLIP", "Clip's speed", "Shot frame = first frame + clip time x the scene's frame rate; held at the end"),
            ("STRETCH", "Fit to shot", "The whole clip spread over the shot's frame range"),
        ),
        options=ONE_CLIP,
    )

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        clip = bpy.path.abspath(self.filepath)
        if os.path.isfile(clip) and clip.lower().endswith(api.TRACK_FRAME_EXTENSIONS):
            clip = os.path.dirname(clip)  # an image of a folder of frames: the folder is the clip
        if not os.path.exists(clip):
            self.report({"ERROR"}, f"no clip at {clip!r}: pick a video file, or an image of a folder of frames")
            return {"CANCELLED"}
        if os.path.isfile(clip) and not clip.lower().endswith(api.TRACK_VIDEO_EXTENSIONS):
            self.report(
                {"ERROR"},
                f"{os.path.basename(clip)} is neither a video ({', '.join(api.TRACK_VIDEO_EXTENSIONS)}) nor a frame "
                "of a folder of frames (.png, .jpg): pick one of those",
            )
            return {"CANCELLED"}
        if self.focal_px and self.fov:
            self.report({"ERROR"}, "give the clip's lens one way: Focal (px) or Field of view, not both")
            return {"CANCELLED"}
        depth_map = bpy.path.abspath(self.depth_map) if self.depth_map else None
        if depth_map and self.relative:
            self.report({"ERROR"}, "No metric scale skips depth: clear the depth map, or untick No metric scale")
            return {"CANCELLED"}
        if depth_map and not os.path.isfile(depth_map):
            self.report({"ERROR"}, f"no depth map at {depth_map!r}: pick the file, or leave it empty")
            return {"CANCELLED"}
        options = {
            "focal_px": self.focal_px or None,
            "fov": self.fov or None,
            "depth_frame": self.depth_frame,
            "relative": self.relative,
        }
        if os.path.isdir(clip):  # frames carry no rate: a studio's plate is shot at the project's
            options["fps"] = self.clip_fps or scene.render.fps / scene.render.fps_base
        ref = shots.ShotRef(scene)
        timing = self.timing
        return run_task(
            self,
            "camera move from clip",
            ref.id,
            lambda task: track_clip.track_task(task, bpy.context, ref, clip, options, depth_map, timing),
        )


class REALCAM_OT_measure_move(bpy.types.Operator):
    """Measure how far the shot's camera moves and turns over its frame range (after editing keys by hand)"""

    bl_idname = "realcam.measure_move"
    bl_label = "Measure Camera Move"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return shots.is_shot(context.scene)

    def execute(self, context):
        ext = moves.measure(context.scene)
        if ext is None:
            self.report({"ERROR"}, "the shot has no perspective camera to measure")
            return {"CANCELLED"}
        self.report({"INFO"}, ext.text())
        return {"FINISHED"}


class REALCAM_OT_import_re10k(bpy.types.Operator, ImportHelper):
    """Key the active camera from a RealEstate10K camera file"""

    bl_idname = "realcam.import_re10k"
    bl_label = "Import RealEstate10K Cameras"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.txt", options={"HIDDEN"})
    # A file's own: another file's scale is not carried over (SKIP_SAVE).
    scale: FloatProperty(
        name="Scale", default=1.0, min=1e-6, options={"SKIP_SAVE"}, description="Metres per unit of the file"
    )

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
    # Not the last export's file (SKIP_SAVE): exporting another shot would offer to overwrite that one's cameras.
    filepath: StringProperty(name="File Path", subtype="FILE_PATH", maxlen=1024, options={"SKIP_SAVE"})

    def invoke(self, context, event):
        if not self.filepath:
            self.filepath = export_path(context.scene)
        return super().invoke(context, event)

    def execute(self, context):
        path = bpy.path.abspath(self.filepath)
        _LAST_EXPORT_FOLDER[0] = os.path.dirname(path)
        scene = context.scene
        if scene.camera is None:
            self.report({"ERROR"}, "the scene has no active camera to export: set one (Scene properties > Camera)")
            return {"CANCELLED"}
        ref = shots.ShotRef(scene) if shots.is_shot(scene) else shots.SceneRef(scene)

        return run_task(
            self,
            "export",
            getattr(ref, "id", scene.name),
            lambda task: re10k_export.export_task(task, bpy.context, ref, path),
        )


# The folder of this session's last RE10K export: the next one is offered there, under its own scene's name.
_LAST_EXPORT_FOLDER = [""]


def export_path(scene) -> str:
    """Where Export RE10K offers to write a scene's cameras: the last export's folder (else the .blend's), the
    scene's name."""
    folder = _LAST_EXPORT_FOLDER[0] or os.path.dirname(bpy.data.filepath)
    return os.path.join(folder, f"{shots.label(scene)}_cameras.txt")


CLASSES = (
    REALCAM_OT_preset,
    REALCAM_OT_move_from_clip,
    REALCAM_OT_measure_move,
    REALCAM_OT_import_re10k,
    REALCAM_OT_export_re10k,
)
