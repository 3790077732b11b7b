"""The Takes sub-panel (the edit, the take list, the selected take's details) and Drift (compare, ghost camera)."""

import json

import bpy

from ...edit import drift, sequencer, takes
from ...shot import shots
from .common import InShot, wrapped


class REALCAM_UL_takes(bpy.types.UIList):
    """One row per take: its name (the strip's), and model, seed and time; "files deleted" when its video is gone."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row()
        if takes.files_gone(item):
            row.label(text=item.name, icon="ERROR")
            row.label(text="files deleted")
            return
        row.label(text=item.name, icon="FILE_MOVIE")
        row.label(text=takes.summary(item)[0])


class REALCAM_PT_takes(InShot, bpy.types.Panel):
    bl_label = "Takes"

    def draw(self, context):
        layout = self.layout
        rc = context.scene.realcam
        edit = rc.edit_scene
        if edit is not None:
            layout.operator("realcam.show_shot", text=f"Edit: {edit.name}", icon="SEQ_SEQUENCER").scene = edit.name
            draw_edit_rate(layout, context.scene, edit)
            draw_take_scores(layout, edit)
        layout.label(text=f"Takes ({len(rc.takes)})", icon="SEQUENCE")
        if not len(rc.takes):
            layout.label(text="none yet: Generate makes one")
            return
        layout.template_list("REALCAM_UL_takes", "", rc, "takes", rc, "takes_index", rows=3)
        item = selected(rc)
        if item is None:
            return
        col = layout.column(align=True)
        col.label(text=item.name)
        gone = takes.files_gone(item)
        if gone:
            wrapped(
                col,
                f"Its folder is gone ({takes.folder(item) or 'none recorded'}): deleted outside Blender, or deleted "
                "and undone after the file was closed. Its strip shows nothing; Delete takes it off the list",
                "ERROR",
            )
        for line in takes.summary(item):
            wrapped(col, line)
        row = layout.row(align=True)
        row.operator("realcam.take_load", text="Load settings", icon="IMPORT")
        sub = row.row(align=True)
        sub.enabled = not gone
        sub.operator("realcam.take_open_folder", text="Open folder", icon="FILE_FOLDER")
        row.operator("realcam.take_delete", text="Delete", icon="TRASH")


class REALCAM_PT_drift(InShot, bpy.types.Panel):
    """How far the selected take drifted from the camera asked for: rarely needed, so closed until opened."""

    bl_label = "Drift"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        item = selected(context.scene.realcam)
        if item is None:
            layout.label(text="Select a take in the Takes list")
            return
        layout.label(text=item.name)
        row = layout.row(align=True)
        row.operator("realcam.take_compare", text="Difference", icon="SEQ_SPLITVIEW").mode = "DIFFERENCE"
        row.operator("realcam.take_compare", text="Blend", icon="OVERLAY").mode = "BLEND"
        row.operator("realcam.take_compare", text="Side by side", icon="SEQ_PREVIEW").mode = "SIDE_BY_SIDE"
        row.operator("realcam.take_compare", text="", icon="X").mode = "OFF"
        layout.operator("realcam.take_ghost", text="Ghost camera", icon="CAMERA_DATA")
        for line in drift.ghost_lines(item):
            wrapped(layout, line)


def selected(rc):
    """The take selected in the list, or None."""
    return rc.takes[rc.takes_index] if 0 <= rc.takes_index < len(rc.takes) else None


def draw_edit_rate(layout, shot, edit) -> None:
    """At which rate the shot's takes play, and where the edits of other rates (and this shot's older strips) are."""
    wrapped(layout, f"The edit plays at {shots.fps_text(edit)}, this shot's rate: each take frame for frame")
    others = [e for e in shots.edits() if e != edit]
    if others:
        names = ", ".join(f"{e.name} ({shots.fps_text(e)})" for e in others)
        wrapped(layout, f"Shots at other rates have their own edit: {names}")
    sid = shot.realcam.shot_id
    for e in others:
        n = len(sequencer.shot_strips(e, sid))
        if n:
            wrapped(layout, f"{n} earlier strips of this shot play in {e.name}, made before its rate changed", "INFO")


def draw_orphans(layout, edit) -> None:
    """The edit's strips of shots deleted with Blender's own Delete Scene, and the button that removes them."""
    left = sequencer.orphans(edit)
    if not left:
        return
    box = layout.box()
    names = ", ".join(sorted(s.name for s in left)[:3]) + (", ..." if len(left) > 3 else "")
    wrapped(box, f"{len(left)} strips of a shot that is gone (deleted as a scene): {names}", "ERROR")
    box.operator("realcam.edit_remove_orphans", text="Remove them", icon="TRASH")


def draw_take_scores(layout, edit):
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
        wrapped(box, acc["error"], "ERROR")
        return
    box.label(text=f"RotErr {acc['RotErr']:.3f}  TransErr {acc['TransErr']:.3f}  CamMC {acc['CamMC']:.3f}")
    if acc.get("TransErr_metric") is not None:
        box.label(text=f"metric TransErr {acc['TransErr_metric']:.3f} m  CamMC {acc['CamMC_metric']:.3f}")
    box.label(text=f"{acc['registered']} of {acc['frames']} frames registered")


CLASSES = (REALCAM_UL_takes, REALCAM_PT_takes, REALCAM_PT_drift)
