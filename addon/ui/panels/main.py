"""The main RealCam panel: the backend, Import Photo, and what RealCam is doing; outside a shot, the file's shots.

In a shot its sub-panels follow (shot.py, camera.py, generate.py, takes.py). The running task is drawn here, above
them, whichever sub-panel started it (an import, a preview, a take, a ghost, an export), so no collapsed sub-panel
hides its progress and Cancel. The status bar shows it too (draw_status).
"""

import bpy

from ...backend import status as backend_status
from ...shot import shots
from ...tasks import RUNNER
from .common import Sidebar, current_task, draw_task, shown, wrapped
from .takes import draw_orphans, draw_take_scores


class REALCAM_PT_main(Sidebar, bpy.types.Panel):
    bl_label = "RealCam"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        in_shot = shots.is_shot(scene)
        _draw_backend(layout)
        _draw_import(layout, scene.realcam, in_shot)
        draw_task(layout, current_task(context))  # outside a shot: an import, or an export of this scene's camera
        if not in_shot:
            _draw_shots(layout, context)


def _draw_backend(layout) -> None:
    """Whether the backend answers and on which device, with Start and Test connection."""
    box = layout.box()
    st = backend_status.STATUS
    task = RUNNER.last(backend_status.TASK_KEY)
    if task is not None and not task.done:
        box.label(text=f"Backend: {task.stage}...", icon="TIME")
    else:
        icon = {"ok": "CHECKMARK", "down": "ERROR"}.get(st["state"], "QUESTION")
        wrapped(box, backend_status.summary(), icon)
        if st["state"] == "ok":
            wrapped(box, "on " + backend_status.device_text((st["health"] or {}).get("device_info")))
        if task is not None and task.error:
            wrapped(box, task.error, "ERROR")
    row = box.row(align=True)
    row.operator("realcam.backend_status", text="Start", icon="PLAY").start = True
    row.operator("realcam.backend_status", text="Test connection", icon="LINKED").start = False


def _draw_import(layout, rc, in_shot: bool) -> None:
    """Import Photo with its options: the button hands them to the operator (and its file browser)."""
    box = layout.box()
    op = box.operator("realcam.import_photo", icon="IMAGE_DATA")
    op.width, op.height, op.frames = rc.import_width, rc.import_height, rc.import_frames
    op.focal_px, op.depth_model = rc.import_focal_px, rc.import_depth_model
    op.depth_map = bpy.path.abspath(rc.import_depth_map) if rc.import_depth_map else ""
    box.prop(rc, "show_import_options", icon="TRIA_DOWN" if rc.show_import_options else "TRIA_RIGHT", emboss=False)
    if not rc.show_import_options:
        summary = next_import(rc)
        if summary:  # folded, what the next import uses is still in sight
            wrapped(box, summary, "INFO")
        return
    col = box.column(align=True)
    if not in_shot:
        col.prop(rc, "model_choice")  # a new shot is set up for this model
    row = col.row(align=True)
    row.prop(rc, "import_width")
    row.prop(rc, "import_height")
    col.prop(rc, "import_frames")
    col.prop(rc, "import_focal_px")
    col.prop(rc, "import_depth_model")
    col.prop(rc, "import_depth_map")
    if rc.import_depth_map or rc.import_focal_px:
        wrapped(col, "Depth map and focal belong to one photo: emptied once it is imported")


def next_import(rc) -> str:
    """What the next Import Photo uses from the folded import options, when any is set; "" when none is."""
    per_photo = []
    if rc.import_depth_map:
        per_photo.append(f"depth map {bpy.path.basename(rc.import_depth_map)}")
    if rc.import_focal_px:
        per_photo.append(f"focal {rc.import_focal_px:.1f} px")
    kept = []
    if rc.import_width or rc.import_height:
        kept.append(f"{rc.import_width}x{rc.import_height}")
    if rc.import_frames:
        kept.append(f"{rc.import_frames} frames")
    if rc.import_depth_model:
        kept.append(f"depth model {rc.import_depth_model}")
    parts = ([" and ".join(per_photo) + " (that photo only)"] if per_photo else []) + kept
    return "Next import: " + ", ".join(parts) if parts else ""


def _draw_shots(layout, context) -> None:
    """The file's shots, to go to one; in the edit scene, the active take's scores."""
    shot_list = shots.all_shots()
    if shot_list:
        box = layout.box()
        box.label(text="Shots in this file")
        for s in shot_list:
            box.operator("realcam.show_shot", text=s.name, icon="SCENE_DATA").scene = s.name
    if context.scene.realcam.is_edit:
        draw_orphans(layout, context.scene)
        draw_take_scores(layout, context.scene)


def draw_status(self, context):
    """The status bar's ring while a task runs."""
    task = current_task(context)
    if task is not None and not task.done:
        now = shown(task)
        self.layout.progress(factor=now.fraction, type="RING", text=f"RealCam {task.name}: {now.text}"[:100])


def menu_import(self, context):
    self.layout.operator("realcam.import_photo", text="Photo as RealCam shot")
