"""Operators of Generate: the shot's preview and take, cancelling them, the seed and the prompt."""

from __future__ import annotations

import random

import bpy
from bpy.props import EnumProperty

from ...flows import generate, preview
from ...shot import shots
from ...tasks import RUNNER
from .common import active_shot, run_task


class REALCAM_OT_preview(bpy.types.Operator):
    """Render the shot's frame range as seen through its camera (seconds, no diffusion)"""

    bl_idname = "realcam.preview"
    bl_label = "Render Preview"

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        ref = shots.ShotRef(scene)
        return run_task(self, "preview", ref.id, lambda task: preview.preview_task(task, bpy.context, ref))


class REALCAM_OT_generate(bpy.types.Operator):
    """Send the camera and the preview to the backend and bring the video back into the edit"""

    bl_idname = "realcam.generate"
    bl_label = "Generate"

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        ref = shots.ShotRef(scene)
        return run_task(self, "generate", ref.id, lambda task: generate.generate(task, bpy.context, ref))


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


class REALCAM_OT_seed(bpy.types.Operator):
    """A new seed for the next take: a random one, or the next number"""

    bl_idname = "realcam.seed"
    bl_label = "Seed"
    bl_options = {"REGISTER", "UNDO"}

    # Each button names its action; without one (a script, F3) it is Next, never the last button's (SKIP_SAVE).
    action: EnumProperty(
        items=[("RANDOM", "Random", "A random seed"), ("NEXT", "Next", "The seed plus one")],
        default="NEXT",
        options={"SKIP_SAVE"},
    )

    def execute(self, context):
        scene = active_shot(self, context)
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
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        rc = scene.realcam
        if rc.prompt_text is None:
            text = bpy.data.texts.new(f"{scene.name} prompt")
            text.from_string(rc.prompt)
            rc.prompt_text = text
        self.report({"INFO"}, f"the prompt is the text {rc.prompt_text.name!r}: edit it in a Text Editor")
        return {"FINISHED"}


CLASSES = (
    REALCAM_OT_preview,
    REALCAM_OT_generate,
    REALCAM_OT_cancel,
    REALCAM_OT_seed,
    REALCAM_OT_prompt_text,
)
