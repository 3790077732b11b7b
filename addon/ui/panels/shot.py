"""The Shot sub-panel (the photo, what the model will make, props, depth edge) and Scene fixes (scale, focal)."""

import bpy

from ...backend import status as backend_status
from ...shot import fixes, photo_scene, shots, transition
from .common import InShot, wrapped


class REALCAM_PT_shot(InShot, bpy.types.Panel):
    bl_label = "Shot"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        rc = scene.realcam
        layout.label(text=f"Shot {scene.name}", icon="SCENE_DATA")
        if rc.photo:
            layout.label(text=f"Photo: {bpy.path.basename(rc.photo)}, median depth {rc.median_depth:.2f} m")
        for i, line in enumerate(what_the_model_makes(context, scene)):
            wrapped(layout, line, "INFO" if i == 0 else "NONE")
        if shots.photo_moved(scene):
            box = layout.box()
            wrapped(
                box,
                "You moved the photo's mesh: RealCam leaves it where you put it, but a take's first frame is the "
                "photo, so Render Preview and Generate wait until it is back where the camera's first frame sees it "
                "(or move the camera instead: the photo follows its first frame)",
                "ERROR",
            )
            box.operator("realcam.place_photo", icon="CAMERA_DATA")
        layout.prop(rc, "props")
        layout.prop(rc, "depth_edge")
        layout.operator("realcam.shot_delete", text="Delete shot", icon="TRASH")
        draw_transition(layout, scene)


def draw_transition(layout, scene) -> None:
    """A transition: what it joins and how to align it; another shot: making a transition to a second one."""
    box = layout.box()
    if transition.is_transition(scene):
        try:
            a, b = transition.ends(scene)
        except transition.TransitionError as e:
            wrapped(box, str(e), "ERROR")
            return
        wrapped(box, f"Transition from {a.name} to {b.name}", "ARROW_LEFTRIGHT")
        wrapped(box, f"Move its placement of {b.name}'s photo to align it with {a.name}'s, then key the ends")
        box.operator("realcam.transition_ends", icon="KEYFRAME")
        return
    row = box.row(align=True)
    row.prop(scene.realcam, "transition_frames")
    row.operator_menu_enum("realcam.transition", "target", text="Transition to", icon="ARROW_LEFTRIGHT")


class REALCAM_PT_fixes(InShot, bpy.types.Panel):
    """Scale calibration and the photo's focal: rarely needed, so closed until opened."""

    bl_label = "Scene fixes"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        shot = context.scene
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


def what_the_model_makes(context, scene) -> list[str]:
    """The panel's lines on what Generate will make for this shot, and how it plays."""
    name = shots.model_name(scene, context)
    r = scene.render
    fps = r.fps / r.fps_base
    n = scene.frame_end - scene.frame_start + 1
    span = f"{scene.frame_start}-{scene.frame_end}"
    lines = [f"{name}: {r.resolution_x}x{r.resolution_y}, {n} frames ({span}) at {fps:.6g} fps"]
    spec = backend_status.spec_for(name)  # a folder the backend runs under that name, else the built-in one
    if spec is not None:
        if abs(spec.native_fps - fps) > 0.01:
            lines.append(f"the model's own rate is {spec.native_fps:g} fps; your {fps:.6g} fps plays each frame as one")
        problems = spec.problems(r.resolution_x, r.resolution_y, n)
        lines += problems
    if r.resolution_percentage != 100:
        lines.append(f"resolution {r.resolution_percentage} % is for your renders; the model makes the full size")
    if r.pixel_aspect_x != r.pixel_aspect_y:
        try:
            why = photo_scene.pixel_aspect_problem(scene, photo_scene.photo_intrinsics(scene.realcam))
        except OSError:  # the scene folder is missing: the panel says so elsewhere
            why = ""
        if why:
            lines.append(why[:1].upper() + why[1:] + "; Render Preview and Generate refuse it until then")
    return lines


CLASSES = (REALCAM_PT_shot, REALCAM_PT_fixes)
