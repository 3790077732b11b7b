"""The Generate sub-panel: model, prompt and seed, settings, whether the preview is up to date, Preview and Generate."""

import bpy

from ...backend import status as backend_status
from ...shot import shots
from .common import InShot, current_task, wrapped
from .take_plan import take_lines


def draw_take_plan(layout, context, scene) -> None:
    """Loop, and how the take will be made (windows, its end) with what the model cannot do, before Generate."""
    row = layout.row(align=True)
    row.prop(scene.realcam, "loop")
    row.operator("realcam.close_loop", icon="FILE_REFRESH")
    for line, problem in take_lines(context, scene):
        wrapped(layout, line, "ERROR" if problem else "NONE")


class REALCAM_PT_generate(InShot, bpy.types.Panel):
    bl_label = "Generate"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        rc = scene.realcam
        box = layout.box()
        name = shots.model_name(scene, context)
        box.prop(rc, "model_choice")
        box.label(text=f"Models: {backend_status.models_source()}")
        for line in backend_status.model_lines(name):
            wrapped(box, line)

        box = layout.box()
        box.label(text="Prompt and seed")
        if rc.prompt_text is not None:
            box.prop(rc, "prompt_text")
            for line in rc.prompt_text.as_string().rstrip().splitlines()[:4]:
                wrapped(box, line)
        else:
            row = box.row(align=True)
            row.prop(rc, "prompt")
            row.operator("realcam.prompt_text", text="", icon="TEXT")
        box.prop(rc, "negative_prompt")
        row = box.row(align=True)
        row.prop(rc, "seed")
        row.operator("realcam.seed", text="Random", icon="FILE_REFRESH").action = "RANDOM"
        row.operator("realcam.seed", text="Next").action = "NEXT"
        row = box.row()
        row.prop(rc, "steps")
        row.prop(rc, "guidance")
        spec = backend_status.spec_for(name)
        if spec is not None:
            box.label(text=f"0 = {name}'s defaults: {spec.default_steps} steps, guidance {spec.default_guidance:g}")
        row = box.row()
        row.prop(rc, "sns_enabled")
        sub = row.row()
        sub.enabled = rc.sns_enabled
        sub.prop(rc, "sns_threshold")
        box.prop(rc, "camera_condition")
        box.prop(rc, "evaluate")
        draw_take_plan(box, context, scene)

        state = shots.preview_state(scene)
        if state == "stale":
            layout.label(text="Preview out of date: Generate renders it again", icon="ERROR")
        elif state == "none":
            layout.label(text="No preview yet: Generate renders one", icon="INFO")
        else:
            layout.label(text="Preview up to date", icon="CHECKMARK")
        task = current_task(context)
        busy = task is not None and not task.done
        col = layout.column(align=True)
        col.enabled = not busy  # the running task's progress and Cancel are in the main panel
        col.operator("realcam.preview", icon="RENDER_ANIMATION")
        col.operator("realcam.generate", icon="SEQUENCE")
        if rc.job_id and not busy:
            wrapped(layout, f"A take's job ({rc.job_id[:8]}) is recorded: it is picked up when the file is opened")


CLASSES = (REALCAM_PT_generate,)
