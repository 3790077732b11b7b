"""The RealCam panel (3D view sidebar) and progress in the status bar.

In a shot: the shot (photo, what the model will make, props), camera moves,
generation settings, whether the preview is up to date, Preview / Generate and
progress, the active take's scores. Elsewhere: Import and the file's shots.
"""

import json
import textwrap

import bpy

from ..backend import status as backend_status
from ..edit import drift, takes
from ..realcam_core.addon_only import progress
from ..realcam_core.models import known_model
from ..shot import fixes as fixes
from ..shot import moves, shots
from ..shot.presets import PRESETS
from ..tasks import RUNNER


def _task(context):
    """The task the panel and status bar follow: the shot's; outside a shot the latest of the import and of a
    task on the scene itself (RE10K export of any camera)."""
    scene = context.scene
    sid = scene.realcam.shot_id
    if sid:
        return RUNNER.last(sid)
    found = [t for t in (RUNNER.last("import"), RUNNER.last(scene.name)) if t is not None]
    return max(found, key=RUNNER.tasks.index) if found else None


def _shown(t):
    """What a task shows: "Stage k of n: <label>: <detail>" and its fraction (realcam_core.addon_only.progress)."""
    return progress.describe(t.stage, t.step, t.total, t.eta_s, t.message, getattr(t, "stages", ()))


def _progress_text(t) -> str:
    return _shown(t).text


def task_lines(t) -> list[tuple[str, str]]:
    """The panel's lines for a task, as (kind, text): "progress" (the bar's text), "label" lines, "error" lines.
    One place for the panel, the status bar and the tests."""
    if t is None:
        return []
    if not t.done:
        return [("progress", _progress_text(t))]
    name = t.name[:1].upper() + t.name[1:]
    if t.error:
        return [("error", f"{name} stopped: {t.error}")]
    if t.stage == "done" and t.message:
        return [("label", f"{name}: {t.message}")]  # what came of it ("<take> ghost: 4 keyed frames, ...")
    return [("label", f"{name}: {t.stage}")]


def what_the_model_makes(context, scene) -> list[str]:
    """The panel's lines on what Generate will make for this shot, and how it plays."""
    name = shots.model_name(scene, context)
    r = scene.render
    fps = r.fps / r.fps_base
    n = scene.frame_end - scene.frame_start + 1
    span = f"{scene.frame_start}-{scene.frame_end}"
    lines = [f"{name}: {r.resolution_x}x{r.resolution_y}, {n} frames ({span}) at {fps:.6g} fps"]
    known = known_model(name)
    if known is not None:
        spec = known.spec
        if abs(spec.native_fps - fps) > 0.01:
            lines.append(f"the model's own rate is {spec.native_fps:g} fps; your {fps:.6g} fps plays each frame as one")
        problems = spec.problems(r.resolution_x, r.resolution_y, n)
        lines += problems
    if r.resolution_percentage != 100:
        lines.append(f"resolution {r.resolution_percentage} % is for your renders; the model makes the full size")
    return lines


def _wrapped(layout, text: str, icon: str = "NONE", width: int = 60) -> None:
    for i, line in enumerate(textwrap.wrap(text, width) or [""]):
        layout.label(text=line, icon=icon if i == 0 else ("BLANK1" if icon != "NONE" else "NONE"))


class REALCAM_PT_main(bpy.types.Panel):
    bl_label = "RealCam"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "RealCam"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        rc = scene.realcam
        _draw_backend(layout)
        _draw_import(layout, rc, shots.is_shot(scene))
        if not shots.is_shot(scene):
            _draw_task(layout, _task(context))  # an import, or an export of this scene's camera
            self._draw_shots(layout, context)
            return
        box = layout.box()
        box.label(text=f"Shot {scene.name}", icon="SCENE_DATA")
        if rc.photo:
            box.label(text=f"Photo: {bpy.path.basename(rc.photo)}, median depth {rc.median_depth:.2f} m")
        for i, line in enumerate(what_the_model_makes(context, scene)):
            _wrapped(box, line, "INFO" if i == 0 else "NONE")
        box.prop(rc, "props")
        box.prop(rc, "depth_edge")
        _draw_fixes(box, scene)

        box = layout.box()
        box.label(text="Camera move (adds to the rig; Amount, Duration in the last-operation panel)")
        grid = box.grid_flow(columns=2, align=True)
        for ident, label, _ in PRESETS:
            grid.operator("realcam.preset", text=label).kind = ident
        _draw_move(box, scene)
        row = box.row(align=True)
        row.operator("realcam.import_re10k", text="Import RE10K")
        row.operator("realcam.export_re10k", text="Export RE10K")

        box = layout.box()
        name = shots.model_name(scene, context)
        box.prop(rc, "model_choice")
        box.label(text=f"Models: {backend_status.models_source()}")
        for line in backend_status.model_lines(name):
            _wrapped(box, line)

        box = layout.box()
        box.label(text="Prompt and seed")
        if rc.prompt_text is not None:
            box.prop(rc, "prompt_text")
            for line in rc.prompt_text.as_string().rstrip().splitlines()[:4]:
                _wrapped(box, line)
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

        state = shots.preview_state(scene)
        if state == "stale":
            layout.label(text="Preview out of date: Generate renders it again", icon="ERROR")
        elif state == "none":
            layout.label(text="No preview yet: Generate renders one", icon="INFO")
        else:
            layout.label(text="Preview up to date", icon="CHECKMARK")

        task = _task(context)
        busy = task is not None and not task.done
        col = layout.column(align=True)
        col.enabled = not busy
        col.operator("realcam.preview", icon="RENDER_ANIMATION")
        col.operator("realcam.generate", icon="SEQUENCE")
        _draw_task(layout, task)
        if rc.job_id and not busy:
            _wrapped(layout, f"A take's job ({rc.job_id[:8]}) is recorded: it is picked up when the file is opened")
        edit = rc.edit_scene
        if edit is not None:
            layout.operator("realcam.show_shot", text=f"Edit: {edit.name}", icon="SEQ_SEQUENCER").scene = edit.name
            _draw_take_scores(layout, edit)
        _draw_takes(layout, rc)

    def _draw_shots(self, layout, context):
        shot_list = shots.all_shots()
        if shot_list:
            box = layout.box()
            box.label(text="Shots in this file")
            for s in shot_list:
                box.operator("realcam.show_shot", text=s.name, icon="SCENE_DATA").scene = s.name
        if context.scene.realcam.is_edit:
            _draw_take_scores(layout, context.scene)


def _draw_task(layout, task) -> None:
    """A task's progress bar and Cancel while it runs; how it ended after."""
    for kind, text in task_lines(task):
        if kind == "progress":
            shown = _shown(task)
            layout.progress(factor=shown.fraction, type="BAR", text=text[:80])
            if len(text) > 80:
                _wrapped(layout, text)
            layout.operator("realcam.cancel", icon="CANCEL")
        elif kind == "error":
            _wrapped(layout, text, "ERROR")
        else:
            layout.label(text=text, icon="INFO")


def _draw_backend(layout) -> None:
    """Whether the backend answers and on which device, with Start and Test connection."""
    box = layout.box()
    st = backend_status.STATUS
    task = RUNNER.last(backend_status.TASK_KEY)
    if task is not None and not task.done:
        box.label(text=f"Backend: {task.stage}...", icon="TIME")
    else:
        icon = {"ok": "CHECKMARK", "down": "ERROR"}.get(st["state"], "QUESTION")
        _wrapped(box, backend_status.summary(), icon)
        if st["state"] == "ok":
            _wrapped(box, "on " + backend_status.device_text((st["health"] or {}).get("device_info")))
        if task is not None and task.error:
            _wrapped(box, task.error, "ERROR")
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


def _draw_takes(layout, rc) -> None:
    """The shot's takes, the selected one's details, and what can be done with it."""
    box = layout.box()
    box.label(text=f"Takes ({len(rc.takes)})", icon="SEQUENCE")
    if not len(rc.takes):
        box.label(text="none yet: Generate makes one")
        return
    box.template_list("REALCAM_UL_takes", "", rc, "takes", rc, "takes_index", rows=3)
    if not 0 <= rc.takes_index < len(rc.takes):
        return
    item = rc.takes[rc.takes_index]
    col = box.column(align=True)
    col.label(text=item.name)
    for line in takes.summary(item):
        _wrapped(col, line)
    row = box.row(align=True)
    row.operator("realcam.take_load", text="Load settings", icon="IMPORT")
    row.operator("realcam.take_open_folder", text="Open folder", icon="FILE_FOLDER")
    row.operator("realcam.take_delete", text="Delete", icon="TRASH")
    row = box.row(align=True)  # see the drift
    row.operator("realcam.take_compare", text="Difference", icon="SEQ_SPLITVIEW").mode = "DIFFERENCE"
    row.operator("realcam.take_compare", text="Blend", icon="OVERLAY").mode = "BLEND"
    row.operator("realcam.take_compare", text="Side by side", icon="SEQ_PREVIEW").mode = "SIDE_BY_SIDE"
    row.operator("realcam.take_compare", text="", icon="X").mode = "OFF"
    box.operator("realcam.take_ghost", text="Ghost camera", icon="CAMERA_DATA")
    for line in drift.ghost_lines(item):
        _wrapped(box, line)


class REALCAM_UL_takes(bpy.types.UIList):
    """One row per take: its name (the strip's), and model, seed and time."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row()
        row.label(text=item.name, icon="FILE_MOVIE")
        row.label(text=takes.summary(item)[0])


def _draw_take_scores(layout, edit):
    """Camera accuracy of the edit's active take strip, when the backend measured it."""
    sed = edit.sequence_editor
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
        _wrapped(box, acc["error"], "ERROR")
        return
    box.label(text=f"RotErr {acc['RotErr']:.3f}  TransErr {acc['TransErr']:.3f}  CamMC {acc['CamMC']:.3f}")
    if acc.get("TransErr_metric") is not None:
        box.label(text=f"metric TransErr {acc['TransErr_metric']:.3f} m  CamMC {acc['CamMC_metric']:.3f}")
    box.label(text=f"{acc['registered']} of {acc['frames']} frames registered")


def draw_status(self, context):
    task = _task(context)
    if task is not None and not task.done:
        shown = _shown(task)
        self.layout.progress(factor=shown.fraction, type="RING", text=f"RealCam {task.name}: {shown.text}"[:100])


def menu_import(self, context):
    self.layout.operator("realcam.import_photo", text="Photo as RealCam shot")


def _draw_fixes(layout, shot) -> None:
    """The shot box's scale and focal rows (under Depth edge)."""
    rc = shot.realcam
    col = layout.column(align=True)
    col.label(text=fixes.scale_text(shot), icon="FIXED_SIZE")
    row = col.row(align=True)
    row.operator("realcam.scale_point", text="Point A from cursor").which = "A"
    row.operator("realcam.scale_point", text="Point B from cursor").which = "B"
    d = fixes.measured(shot)
    if d is None:
        col.label(text="Snap the 3D cursor onto the photo (Shift+right-click), then set A and B")
    else:
        col.label(text=f"A to B measures {fixes.length_text(shot, d)}")
    row = col.row(align=True)
    row.prop(rc, "scale_real")
    row.operator("realcam.apply_scale", text="Apply scale").source = "POINTS"
    row = col.row(align=True)
    row.prop(rc, "scale_factor")
    row.operator("realcam.apply_scale", text="Apply factor").source = "FACTOR"
    col = layout.column(align=True)
    col.label(text=fixes.photo_focal_text(shot), icon="CAMERA_DATA")
    row = col.row(align=True)
    row.prop(rc, "focal_input")
    row.operator("realcam.apply_focal", text="Apply focal")
    if rc.photo_focal_px > 0:
        row.operator("realcam.apply_focal", text="Imported", icon="LOOP_BACK").to_imported = True
    if rc.fix_note:
        col.label(text=rc.fix_note, icon="ERROR")


def _draw_move(layout, scene) -> None:
    """The move's extent and the last preview's coverage, in the panel's camera-move box."""
    rc = scene.realcam
    row = layout.row(align=True)
    ext = moves.extent_of(scene)
    row.label(text=f"Move: {ext.text()}" if ext else "Move: not measured", icon="ORIENTATION_VIEW")
    row.operator("realcam.measure_move", text="", icon="FILE_REFRESH")
    row = layout.row(align=True)
    if rc.preview_folder and rc.coverage >= 0:
        row.label(text=f"Last frame sees {rc.coverage:.0%} of the photo's scene")
    else:
        row.label(text="Coverage: after Preview")
    row.prop(rc, "coverage_threshold", text="Warn below")
    text = moves.warning(scene)
    for i, line in enumerate(textwrap.wrap(text or "", 60)):
        layout.label(text=line, icon="ERROR" if i == 0 else "BLANK1")


CLASSES = (REALCAM_UL_takes, REALCAM_PT_main)


def register():
    bpy.types.STATUSBAR_HT_header.append(draw_status)
    bpy.types.TOPBAR_MT_file_import.append(menu_import)


def unregister():
    bpy.types.STATUSBAR_HT_header.remove(draw_status)
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
