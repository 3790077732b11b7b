"""Previews along known camera moves, rendered through the add-on, with their cameras as RE10K files.

Usage: python move_previews.py ZIP SAMPLES_DIR OUT_DIR WIDTH HEIGHT FRAMES MOVE [MOVE ...]
Writes OUT_DIR/<MOVE>/frames/0001.png ... and OUT_DIR/<MOVE>/cameras.txt, and OUT_DIR/depth.npy.
"""

import os
import shutil
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, samples, out, w, h, frames, *moves = sys.argv[1:]
pkg = harness.start(zip_path)
p = harness.prefs(pkg)
p.auto_start, p.job_folder = False, os.path.join(out, "jobs")
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
bpy.ops.realcam.import_photo(**harness.room_photo(samples, width=int(w), height=int(h), frames=int(frames)))
scene = bpy.context.scene
shutil.copy(os.path.join(scene.realcam.scene_folder, "depth.npy"), os.path.join(out, "depth.npy"))
cam = scene.camera
start_pose, lens = cam.matrix_world.copy(), cam.data.lens
for move in moves:
    # Presets add up (dolly, then pan: both); each preview here shows one move alone.
    cam.animation_data_clear()
    cam.data.animation_data_clear()
    cam.matrix_world, cam.data.lens = start_pose, lens
    bpy.ops.realcam.preset(kind=move)
    bpy.ops.realcam.preview()
    folder = os.path.join(out, move)
    os.makedirs(folder, exist_ok=True)
    shutil.copytree(scene.realcam.preview_folder, os.path.join(folder, "frames"))
    bpy.ops.realcam.export_re10k(filepath=os.path.join(folder, "cameras.txt"))
