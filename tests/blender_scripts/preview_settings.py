"""The preview borrows the render settings and gives every one back, whatever output the artist had.

Usage: python preview_settings.py ZIP OUT_JSON
Writes {setup/engine: {"error": ..., "applied": ..., "not_restored": {path: [before, after]}}}.
"""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, out_json = sys.argv[1:3]
pkg = harness.start(zip_path)
preview = harness.module(pkg, "preview.render")
STRUCTS = ("render", "render.image_settings", "render.ffmpeg", "view_settings", "eevee", "display.shading")


def settings(scene):
    """Every plain setting of the structs the preview touches, as text."""
    out = {}
    for path in STRUCTS:
        obj = scene
        for part in path.split("."):
            obj = getattr(obj, part)
        for prop in obj.bl_rna.properties:
            if prop.identifier == "rna_type" or prop.type in {"POINTER", "COLLECTION"}:
                continue
            value = getattr(obj, prop.identifier)
            out[f"{path}.{prop.identifier}"] = repr(value[:] if getattr(prop, "is_array", False) else value)
    return out


def image(fmt, depth=None, media="IMAGE"):
    def setup(scene):
        ims = scene.render.image_settings
        if hasattr(ims, "media_type"):  # 5.0+
            ims.media_type = media
        ims.file_format = fmt
        if depth:
            ims.color_depth = depth

    return setup


def video(scene):
    image("FFMPEG", media="VIDEO")(scene)
    ff = scene.render.ffmpeg
    ff.format, ff.codec, ff.constant_rate_factor = "MPEG4", "H264", "HIGH"


def cycles_jpeg(scene):
    image("JPEG")(scene)
    scene.render.image_settings.quality = 55
    scene.render.engine, scene.render.filter_size = "CYCLES", 2.5
    scene.view_settings.view_transform = "Filmic" if bpy.app.version < (4, 0) else "AgX"


SETUPS = {
    "video": video,
    "exr32": image("OPEN_EXR", "32"),
    "exr_multilayer": image("OPEN_EXR_MULTILAYER", "32", media="MULTI_LAYER_IMAGE"),
    "png16": image("PNG", "16"),
    "cycles_jpeg": cycles_jpeg,
}
report = {}
for name, setup in SETUPS.items():
    for engine in ("EEVEE", "WORKBENCH"):
        bpy.ops.wm.read_factory_settings()  # the default startup scene (cube, light, camera), as artists open Blender
        scene = bpy.context.scene
        setup(scene)
        before = settings(scene)
        entry = {"error": None, "applied": None}
        try:
            saved = preview.swap_settings(scene, os.path.dirname(out_json), engine)
            ims = scene.render.image_settings
            entry["applied"] = [scene.render.engine, ims.file_format, ims.color_mode, ims.color_depth]
            preview.restore_settings(scene, saved)
        except Exception as e:
            entry["error"] = f"{type(e).__name__}: {e}"
        after = settings(scene)
        entry["not_restored"] = {k: [v, after[k]] for k, v in before.items() if after[k] != v}
        report[f"{name}/{engine}"] = entry

# A setting Blender refuses half-way: what was already changed goes back.
bpy.ops.wm.read_factory_settings()  # the default startup scene (cube, light, camera), as artists open Blender
scene = bpy.context.scene
before = settings(scene)
original = preview._preview_settings
preview._preview_settings = lambda *a: {**original(*a), "render.image_settings.color_mode": "NO_SUCH_MODE"}
try:
    preview.swap_settings(scene, os.path.dirname(out_json), "EEVEE")
    refused = None
except TypeError as e:
    refused = str(e)
finally:
    preview._preview_settings = original
after = settings(scene)
report["refused"] = {"error": refused, "not_restored": {k: [v, after[k]] for k, v in before.items() if after[k] != v}}
harness.dump(out_json, report)
