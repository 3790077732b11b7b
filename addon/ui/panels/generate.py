"""The Generate sub-panel: model (what it is, needs and assumes of the camera; the shot fitted to it), prompt and
seed, settings, speed, whether the preview is up to date, Preview, Generate and Draft."""

import os

import bpy
import numpy as np

from ... import paths
from ...backend import status as backend_status
from ...realcam_core.addon_only import model_fit
from ...realcam_core.models import DRAFT_VIDEO_MODEL
from ...shot import photo_scene, shots
from .common import InShot, current_task, wrapped

SAMPLER_FAMILIES = ("wan-fun-camera",)  # as flows/generate.py sends it


class REALCAM_PT_generate(InShot, bpy.types.Panel):
    bl_label = "Generate"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        rc = scene.realcam
        name = shots.model_name(scene, context)
        spec = backend_status.spec_for(name)
        box = layout.box()
        box.operator_menu_enum("realcam.choose_model", "model", text=name, icon="SEQUENCE")
        box.label(text=f"Models: {backend_status.models_source()}")
        for line in backend_status.model_lines(name):
            wrapped(box, line)
        for line, icon in fit_lines(scene, name, spec):
            wrapped(box, line, icon)
        if fit_needed(scene, spec):
            box.operator("realcam.choose_model", text=f"Fit shot to {name}", icon="FULLSCREEN_ENTER").model = name
        draw_camera(box, scene, spec)

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
        fixed = spec is not None and spec.fixed_guidance is not None
        row.enabled = not fixed  # a distilled model runs its own steps at its own guidance
        row.prop(rc, "steps")
        row.prop(rc, "guidance")
        if fixed:
            box.label(
                text=f"Steps and guidance: fixed by {name} ({spec.default_steps} steps, guidance "
                f"{spec.fixed_guidance:g})"
            )
        elif spec is not None:
            box.label(text=f"0 = {name}'s defaults: {spec.default_steps} steps, guidance {spec.default_guidance:g}")
        row = box.row()
        row.prop(rc, "sns_enabled")
        sub = row.row()
        sub.enabled = rc.sns_enabled
        sub.prop(rc, "sns_threshold")
        box.prop(rc, "camera_condition")
        box.prop(rc, "evaluate")
        draw_speed(layout, rc)

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
        row = col.row(align=True)
        row.operator("realcam.generate", icon="SEQUENCE")
        if name != DRAFT_VIDEO_MODEL:
            row.operator("realcam.generate", text="Draft", icon="TIME").draft = True
            layout.label(text=f"Draft: one quick take with {DRAFT_VIDEO_MODEL}; the shot's model stays {name}")
        if rc.job_id and not busy:
            wrapped(layout, f"A take's job ({rc.job_id[:8]}) is recorded: it is picked up when the file is opened")


def fit_lines(scene, name: str, spec) -> list[tuple[str, str]]:
    """What keeps the shot from being the model's: its limits' objections (ModelSpec.problems: size, a shot
    longer than the model makes), and for a model not told the lens whether the shot sees the photo with it."""
    if spec is None:
        return []
    r = scene.render
    out = [(p, "ERROR") for p in spec.problems(r.resolution_x, r.resolution_y, scene.frame_end - scene.frame_start + 1)]
    lens = lens_state(scene, spec)
    if lens is not None:
        ok, assumed, fx = lens
        if assumed is None:
            out.append((f"{name} assumes a lens from the photo's size: Fit shot to {name} sets it", "ERROR"))
        elif ok:
            out.append((f"Lens: the shot sees the photo at {fx:.1f} px, the lens {name} assumes", "CHECKMARK"))
        else:
            out.append(
                (
                    f"The shot sees the photo at {fx:.1f} px, {name} assumes {assumed:.1f} px: Fit shot to {name} "
                    "(Generate refuses it as it is)",
                    "ERROR",
                )
            )
    return out


def lens_state(scene, spec):
    """(the shot's lens is the assumed one, the assumed focal or None when unknown, the shot's focal) for a model
    not told the lens; None for one that is. Reads the photo's size as the shot keeps it (no file in a draw)."""
    r = scene.render
    size = (r.resolution_x, r.resolution_y)
    if model_fit.assumed_focal(spec, size, (1, 1)) is None:
        return None
    rc = scene.realcam
    try:
        fx = photo_scene.photo_intrinsics(rc).fx
    except OSError:
        return None
    if rc.photo_size[0] <= 0 or rc.photo_size[1] <= 0:
        return False, None, fx
    assumed = model_fit.assumed_focal(spec, size, tuple(rc.photo_size))
    return model_fit.same_focal(fx, assumed), assumed, fx


def fit_needed(scene, spec) -> bool:
    if spec is None:
        return False
    r = scene.render
    if spec.problems(r.resolution_x, r.resolution_y, scene.frame_end - scene.frame_start + 1):
        return True
    lens = lens_state(scene, spec)
    return lens is not None and not lens[0]


# The depth the bundle will carry (the scene folder's, times the shot's scale), for the camera scale's default;
# kept between draws: (path, modified, scale) -> metres.
_DEPTH: dict = {}


def bundle_depth(scene):
    rc = scene.realcam
    path = os.path.join(paths.resolve(rc.scene_folder), "depth.npy") if rc.scene_folder else ""
    try:
        key = (path, os.stat(path).st_mtime, rc.depth_scale)
    except OSError:
        return None
    if key not in _DEPTH:
        _DEPTH.clear()
        try:
            _DEPTH[key] = np.load(path, allow_pickle=False).astype(np.float32) * np.float32(rc.depth_scale)
        except (OSError, ValueError):
            return None
    return _DEPTH[key]


def draw_camera(layout, scene, spec) -> None:
    """What the model assumes of the camera, the scale its moves enter at, and the settings for them."""
    rc = scene.realcam
    lines = backend_status.camera_lines(spec, rc.camera_scale, bundle_depth(scene))
    if not lines:
        return
    col = layout.column(align=True)
    for line in lines:
        wrapped(col, line, "CAMERA_DATA" if line is lines[0] else "NONE")
    col.prop(rc, "camera_scale")
    if spec.family in SAMPLER_FAMILIES:
        col.prop(rc, "sampler")


def draw_speed(layout, rc) -> None:
    """Speed settings of the full models (settings.speed): closed until opened, one line when set."""
    box = layout.box()
    box.prop(rc, "show_speed", icon="TRIA_DOWN" if rc.show_speed else "TRIA_RIGHT", emboss=False)
    on = [f"step cache {rc.step_cache} at {rc.cache_threshold:g}"] if rc.step_cache != "off" else []
    on += ["compile"] if rc.compile else []
    if not rc.show_speed:
        if on:
            box.label(text="Speed: " + ", ".join(on))
        return
    box.prop(rc, "step_cache")
    sub = box.row()
    sub.enabled = rc.step_cache != "off"
    sub.prop(rc, "cache_threshold")
    box.prop(rc, "compile")
    box.label(text="Speed: " + (", ".join(on) if on else "off (every step runs the whole model)"))


CLASSES = (REALCAM_PT_generate,)
