"""The Camera move sub-panel: presets, a move from a clip (and what became of it), what the move amounts to and how
much the preview still sees, RE10K files."""

import textwrap

import bpy

from ...shot import clip_move, moves
from ...shot.presets import PRESETS
from .common import InShot


class REALCAM_PT_camera(InShot, bpy.types.Panel):
    bl_label = "Camera move"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        rc = scene.realcam
        layout.label(text="Camera move (adds to the rig; Amount, Duration in the last-operation panel)")
        grid = layout.grid_flow(columns=2, align=True)
        for ident, label, _ in PRESETS:
            grid.operator("realcam.preset", text=label).kind = ident
        layout.operator("realcam.move_from_clip", text="Camera move from clip", icon="FILE_MOVIE")
        for kind, text in clip_move.panel_lines(scene):
            for i, line in enumerate(textwrap.wrap(text, 60)):
                icon = ("ERROR" if kind == "warning" else "INFO") if i == 0 else "BLANK1"
                layout.label(text=line, icon=icon)
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
        for i, line in enumerate(textwrap.wrap(moves.warning(scene) or "", 60)):
            layout.label(text=line, icon="ERROR" if i == 0 else "BLANK1")
        row = layout.row(align=True)
        row.operator("realcam.import_re10k", text="Import RE10K")
        row.operator("realcam.export_re10k", text="Export RE10K")


CLASSES = (REALCAM_PT_camera,)
