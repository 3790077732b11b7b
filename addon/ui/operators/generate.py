"""Operators of Generate: the shot's model (fitting the shot to it), preview and take (or a draft take), cancelling
them, the seed and the prompt."""

from __future__ import annotations

import random

import bpy
from bpy.props import BoolProperty, EnumProperty

from ...backend import status as backend_status
from ...flows import generate, model_fit, preview
from ...realcam_core.models import DRAFT_VIDEO_MODEL
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

    draft: BoolProperty(
        name="Draft",
        default=False,
        options={"SKIP_SAVE"},
        description=f"One quick take with the draft model ({DRAFT_VIDEO_MODEL}, a few steps); the shot keeps its model",
    )

    @classmethod
    def description(cls, context, properties):
        if properties.draft:
            return (
                f"One quick take with the draft model {DRAFT_VIDEO_MODEL} (its own few steps, no guidance); "
                "the shot's model stays as it is"
            )
        return cls.__doc__

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        ref = shots.ShotRef(scene)
        draft = self.draft
        name = "draft" if draft else "generate"
        return run_task(self, name, ref.id, lambda task: generate.generate(task, bpy.context, ref, draft))


# Blender keeps no copy of the strings an enum's items callback returns: they must outlive the call.
_MODEL_ITEMS: list = []


def _model_items(self, context):
    """The backend's models (the built-in list until one answered), and the shot's own if unlisted."""
    names = list(dict.fromkeys(m["name"] for m in backend_status.video_models()))  # a configured catalogue name once
    scene = getattr(context, "scene", None) if context is not None else None
    if scene is not None and shots.is_shot(scene):
        current = shots.model_name(scene, context)
        if current not in names:
            names.append(current)
    _MODEL_ITEMS[:] = [(n, n, "; ".join(backend_status.model_lines(n))) for n in names]
    return _MODEL_ITEMS


class REALCAM_OT_choose_model(bpy.types.Operator):
    """Make the shot the model's: its size and frame count (the photo imported again at another size) and, for a
    model not told the lens, the lens it assumes; one undo step"""

    bl_idname = "realcam.choose_model"
    bl_label = "Choose Model"
    bl_property = "model"
    # No UNDO here: a photo imported again lands after this returns; the task pushes the one undo step.
    bl_options = {"REGISTER"}

    # Each button and menu entry names its model; never the last fit's (SKIP_SAVE).
    model: EnumProperty(name="Model", items=_model_items, options={"SKIP_SAVE"})

    def execute(self, context):
        scene = active_shot(self, context)
        if scene is None:
            return {"CANCELLED"}
        ref, name = shots.ShotRef(scene), self.model
        return run_task(self, "fit", ref.id, lambda task: model_fit.fit_to_model(task, bpy.context, ref, name))


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
    REALCAM_OT_choose_model,
    REALCAM_OT_preview,
    REALCAM_OT_generate,
    REALCAM_OT_cancel,
    REALCAM_OT_seed,
    REALCAM_OT_prompt_text,
)
