"""Picking models in a shot from the default startup file, without a backend (the photo's own depth map): each pick
is one undo step; MotionCtrl's assumed lens comes and goes; the Generate sub-panel draws its new settings.

Usage: python addon_model_fit.py ZIP SAMPLES_DIR OUT_JSON FREE_PORT
"""

import json
import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, samples, out_json, port = sys.argv[1:5]
pkg = harness.start(zip_path, empty=False)
photo_scene = harness.module(pkg, "shot.photo_scene")
p = harness.prefs(pkg)
p.backend_url, p.auto_start = f"http://127.0.0.1:{port}", False  # nothing answers: none is needed
bpy.ops.ed.undo_push(message="file opened")
report = {"blender": list(bpy.app.version)}


def state():
    s = bpy.data.scenes[report["shot"]]
    r = s.render
    return {
        "model": s.realcam.model,
        "frames": [s.frame_start, s.frame_end],
        "size": [r.resolution_x, r.resolution_y],
        "vertices": len(s.realcam.photo_mesh.data.vertices),
        "fx": round(photo_scene.photo_intrinsics(s.realcam).fx, 3),
        "imported_fx": round(photo_scene.photo_intrinsics(s.realcam, imported=True).fx, 3),
    }


cam_info = json.load(open(os.path.join(samples, "room_camera.json")))
res, err = harness.run_op(
    bpy.ops.realcam.import_photo,
    filepath=os.path.join(samples, "room.jpg"),
    depth_map=os.path.join(samples, "room_depth.png"),
    focal_px=cam_info["fx"],
    model="wan2.2-ti2v-5b",  # a built-in model: no backend needed; 128x96 is a size it makes
    width=128,
    height=96,
    frames=30,
)
report["import"] = err
report["shot"] = bpy.context.scene.name
states = [state()]
picks = []
for name in ("realcam-i2v-256", "motionctrl-256", "realcam-i2v-256", "wan2.2-ti2v-5b"):
    res, err = harness.gui_op(bpy.ops.realcam.choose_model, model=name)
    task = harness.last_task(pkg)
    picks.append({"result": sorted(res), "error": err or task.error, "message": task.message})
    states.append(state())
    if name == "motionctrl-256":
        report["panel_mc"] = harness.panel_lines(pkg, bpy.data.scenes[report["shot"]])
report["picks"], report["states"] = picks, states
undone = []
for _ in range(4):
    bpy.ops.ed.undo()
    undone.append(state())
report["undone"] = undone
report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
