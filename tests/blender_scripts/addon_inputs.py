"""Photos and options the import must read right or refuse, without a backend (the artist's own depth map).

Usage: python addon_inputs.py ZIP SAMPLES_DIR INPUTS_DIR OUT_JSON WORK_DIR
INPUTS_DIR holds room_linear.exr (the sample photo, scene-linear), room_rot6.jpg (stored turned, EXIF
orientation 6), room_exif28.jpg (EXIF 35 mm focal 28 mm) and depth8.png (an 8-bit PNG).
"""

import json
import os
import sys

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, samples, inputs, out_json, work = sys.argv[1:6]
pkg = harness.start(zip_path)
paths = harness.module(pkg, "paths")
p = harness.prefs(pkg)
p.auto_start, p.job_folder = False, os.path.join(work, "jobs")
base = harness.room_photo(samples, frames=5)  # a model known to the add-on: no backend asked
report = {}


def imported(name, **kw):
    res, err = harness.run_op(bpy.ops.realcam.import_photo, **{**base, **kw})
    scene = bpy.context.scene
    out = {"result": sorted(res), "error": err}
    if err is None:
        folder = bpy.path.abspath(scene.realcam.scene_folder)
        px = harness.pixels(os.path.join(folder, "image.png"), "Non-Color")[..., :3]
        np.save(os.path.join(work, name + ".npy"), px)
        out.update(
            folder=folder,
            shot=scene.name,
            intrinsics=json.load(open(os.path.join(folder, "intrinsics.json"))),
        )
    return out


report["jpeg"] = imported("jpeg")
report["exr"] = imported("exr", filepath=os.path.join(inputs, "room_linear.exr"))
report["rot6"] = imported("rot6", filepath=os.path.join(inputs, "room_rot6.jpg"))
res, err = harness.run_op(
    bpy.ops.realcam.import_photo, **{**base, "filepath": os.path.join(inputs, "room_exif28.jpg"), "focal_px": 0.0}
)
report["exif28"] = {
    "error": err,
    "intrinsics": json.load(
        open(os.path.join(bpy.path.abspath(bpy.context.scene.realcam.scene_folder), "intrinsics.json"))
    ),
}

# Refusals: nothing made, nothing left.
scenes_dir = os.path.join(work, "jobs", "scenes")
before = (sorted(os.listdir(scenes_dir)), sorted(s.name for s in bpy.data.scenes), len(bpy.data.objects))
res, err = harness.run_op(bpy.ops.realcam.import_photo, **{**base, "height": 0})
report["width_only"] = {"result": sorted(res), "error": err}
res, err = harness.run_op(bpy.ops.realcam.import_photo, **{**base, "depth_map": os.path.join(inputs, "depth8.png")})
report["depth8"] = {"result": sorted(res), "error": err}
after = (sorted(os.listdir(scenes_dir)), sorted(s.name for s in bpy.data.scenes), len(bpy.data.objects))
report["refusals_left_nothing"] = before == after

# Three imports in a row (within a second or two): three shots, three folders.
folders = []
for _ in range(3):
    harness.run_op(bpy.ops.realcam.import_photo, **base)
    folders.append(bpy.context.scene.realcam.scene_folder)
report["three_folders"] = folders
same = os.path.join(work, "same")
report["same_name"] = [os.path.basename(paths.unique_folder(same, "room-20250101-000000")) for _ in range(3)]
harness.dump(out_json, report)
