"""Rendering the preview: the shot's frame range unlit at the generation size, alpha = covered.

It renders the shot's scene, which holds only the photo's mesh, its camera and
what the artist put into the shot (shot/shots.py). Rendering borrows the shot's
render settings and gives every one back afterwards; so it does with the lens and
image effects that would change the preview's pixels (effects.py). Each preview
gets its own folder; the frames are named after the scene frame numbers.
"""

from __future__ import annotations

import os

import bpy

from ..compat import eevee_engine_id, output_side_settings, still_image_output
from . import effects


class Saved(dict):
    """Setting path -> the artist's value, and the effects switched off outside the render settings."""

    effects = None


# Attribute path -> value while the preview renders. Besides the output: every render setting that changes the
# pixels of a frame (effects.py says why), off.
def _preview_settings(scene, folder: str, engine: str) -> dict:
    settings = {
        "render.engine": eevee_engine_id() if engine == "EEVEE" else "BLENDER_WORKBENCH",
        "render.film_transparent": True,
        "render.filter_size": 0.0,  # one sharp sample per pixel: the unmoved frame is the photo
        "render.use_sequencer": False,
        "render.use_compositing": False,
        "render.resolution_percentage": 100,
        "render.use_file_extension": True,
        "render.use_overwrite": True,
        "render.filepath": os.path.join(folder, "####"),
        **still_image_output("PNG"),
        "render.image_settings.color_mode": "RGBA",
        "render.image_settings.color_depth": "8",
        "view_settings.view_transform": "Standard",
        "view_settings.look": "None",
        "view_settings.exposure": 0.0,
        "view_settings.gamma": 1.0,
        "view_settings.use_curve_mapping": False,
        "display_settings.display_device": "sRGB",
        "render.image_settings.color_management": "FOLLOW_SCENE",  # not the output's own view transform
        "render.dither_intensity": 0.0,  # no noise added to the 8-bit frames
        "render.use_motion_blur": False,
        "render.use_stamp": False,  # burnt-in text
        "render.use_freestyle": False,
        "render.use_border": False,  # a render region would leave the rest empty
        "render.use_multiview": False,  # stereo writes two files per frame
        "frame_step": 1,  # every frame of the shot
    }
    if "use_white_balance" in scene.view_settings.bl_rna.properties:  # 4.3+
        settings["view_settings.use_white_balance"] = False
    if engine == "EEVEE":
        settings["eevee.taa_render_samples"] = 1
        settings["eevee.use_overscan"] = False  # it shifts the screen-space effects and the frame's edge pixels
        if "use_shadows" in scene.eevee.bl_rna.properties:  # 4.2+
            # The photo's mesh is unlit, so shadows change no preview pixel, yet 5.0's Eevee spends most of a
            # small frame on them (docs/benchmarks.md).
            settings["eevee.use_shadows"] = False
    else:
        settings.update(
            {"display.shading.light": "FLAT", "display.shading.color_type": "VERTEX", "display.render_aa": "OFF"}
        )
        for name in ("use_dof", "show_cavity", "show_object_outline", "show_shadows", "show_xray"):
            settings[f"display.shading.{name}"] = False
    return settings


def _resolve(scene, path):
    obj = scene
    parts = path.split(".")
    for p in parts[:-1]:
        obj = getattr(obj, p)
    return obj, parts[-1]


def swap_settings(scene, folder: str, engine: str = "EEVEE") -> dict:
    """Apply the preview settings; returns what to put back.

    Everything is read before anything changes (changing the format changes which colour depths are
    allowed), and a setting Blender refuses puts back what was already changed."""
    wanted = _preview_settings(scene, folder, engine)
    saved = Saved()
    for path in [*wanted, *output_side_settings(scene)]:
        obj, attr = _resolve(scene, path)
        saved[path] = getattr(obj, attr)
    try:
        for path, value in wanted.items():
            obj, attr = _resolve(scene, path)
            setattr(obj, attr, value)
        saved.effects = effects.switch_off(scene)
    except BaseException:
        restore_settings(scene, saved)
        raise
    return saved


def restore_settings(scene, saved: dict) -> None:
    effects.give_back(getattr(saved, "effects", None))
    # Engine first: engine-specific settings only accept values for their engine. Then in the order saved:
    # media type before file format before colour depth, FFmpeg settings after the format.
    for path in sorted(saved, key=lambda p: p != "render.engine"):
        obj, attr = _resolve(scene, path)
        try:
            setattr(obj, attr, saved[path])
        except (TypeError, ValueError, AttributeError):
            pass
    # A camera given back is an edit of the shot's objects (shots.on_depsgraph_update) that Blender would report
    # at its next update, after the preview was noted as current, making it stale: reported now, it comes before.
    for layer in scene.view_layers:
        layer.update()


def frame_files(scene) -> list[str]:
    return [f"{f:04d}.png" for f in range(scene.frame_start, scene.frame_end + 1)]


class RenderWatch:
    """Follows an interactive (INVOKE) render through Blender's render handlers."""

    def __init__(self):
        self.finished = False
        self.cancelled = False

    def __enter__(self):
        bpy.app.handlers.render_complete.append(self._complete)
        bpy.app.handlers.render_cancel.append(self._cancel)
        return self

    def __exit__(self, *exc):
        for lst, fn in (
            (bpy.app.handlers.render_complete, self._complete),
            (bpy.app.handlers.render_cancel, self._cancel),
        ):
            if fn in lst:
                lst.remove(fn)

    def _complete(self, *args):
        self.finished = True

    def _cancel(self, *args):
        self.finished = self.cancelled = True
