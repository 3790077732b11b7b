"""The RealCam panel (3D view sidebar) and progress in the status bar."""

import textwrap

import bpy

from .presets import PRESETS
from .tasks import RUNNER


def _task(context):
    mine = [t for t in RUNNER.tasks if t.scene_name == context.scene.name]
    return mine[-1] if mine else None


def _progress_text(t) -> str:
    text = t.stage
    if t.total:
        text += f" {t.step}/{t.total}"
    if t.eta_s:
        text += f", {t.eta_s:.0f} s left"
    return text


class REALCAM_PT_main(bpy.types.Panel):
    bl_label = "RealCam"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "RealCam"

    def draw(self, context):
        layout = self.layout
        rc = context.scene.realcam
        layout.operator("realcam.import_photo", icon="IMAGE_DATA")
        if rc.photo:
            layout.label(text=f"Photo: {bpy.path.basename(rc.photo)}", icon="CHECKMARK")

        box = layout.box()
        box.label(text="Camera move")
        grid = box.grid_flow(columns=2, align=True)
        for ident, label, _ in PRESETS:
            grid.operator("realcam.preset", text=label).kind = ident
        row = box.row(align=True)
        row.operator("realcam.import_re10k", text="Import RE10K")
        row.operator("realcam.export_re10k", text="Export RE10K")

        box = layout.box()
        box.prop(rc, "model")
        box.prop(rc, "prompt")
        box.prop(rc, "negative_prompt")
        row = box.row()
        row.prop(rc, "seed")
        row.prop(rc, "steps")
        box.prop(rc, "guidance")
        row = box.row()
        row.prop(rc, "sns_enabled")
        sub = row.row()
        sub.enabled = rc.sns_enabled
        sub.prop(rc, "sns_threshold")
        box.prop(rc, "camera_condition")

        box.prop(rc, "evaluate")

        task = _task(context)
        busy = task is not None and not task.done
        col = layout.column(align=True)
        col.enabled = not busy
        col.operator("realcam.preview", icon="RENDER_ANIMATION")
        col.operator("realcam.generate", icon="SEQUENCE")
        if task is not None:
            if busy:
                layout.progress(factor=task.fraction, type="BAR", text=_progress_text(task))
                layout.operator("realcam.cancel", icon="CANCEL")
            elif task.error:
                for i, line in enumerate(textwrap.wrap(task.error, 60)):
                    layout.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
            else:
                layout.label(text=f"{task.name}: {task.stage}", icon="INFO")
        _draw_take_scores(layout, context)


def _draw_take_scores(layout, context):
    """Camera accuracy of the active take strip, when the backend measured it."""
    import json

    sed = context.scene.sequence_editor
    strip = sed.active_strip if sed else None
    raw = strip.get("realcam") if strip is not None else None
    if not raw:
        return
    acc = json.loads(raw).get("camera_accuracy")
    if not acc:
        return
    box = layout.box()
    box.label(text=f"Camera accuracy of {strip.name}")
    if "error" in acc:
        box.label(text=acc["error"][:80], icon="ERROR")
        return
    box.label(text=f"RotErr {acc['RotErr']:.3f}  TransErr {acc['TransErr']:.3f}  CamMC {acc['CamMC']:.3f}")
    if acc.get("TransErr_metric") is not None:
        box.label(text=f"metric TransErr {acc['TransErr_metric']:.3f} m  CamMC {acc['CamMC_metric']:.3f}")
    box.label(text=f"{acc['registered']} of {acc['frames']} frames registered")


def draw_status(self, context):
    task = _task(context)
    if task is not None and not task.done:
        self.layout.progress(factor=task.fraction, type="RING", text=f"RealCam {task.name}: {_progress_text(task)}")


def menu_import(self, context):
    self.layout.operator("realcam.import_photo", text="Photo as RealCam scene")


CLASSES = (REALCAM_PT_main,)


def register():
    bpy.types.STATUSBAR_HT_header.append(draw_status)
    bpy.types.TOPBAR_MT_file_import.append(menu_import)


def unregister():
    bpy.types.STATUSBAR_HT_header.remove(draw_status)
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
