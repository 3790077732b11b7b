"""The artist's path in real Blender: import, preset, preview, generate (twice), RE10K round trip.

Usage: python addon_flow.py ZIP BACKEND_URL MODEL SAMPLES_DIR OUT_JSON WORK_DIR
"""

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, model, samples, out_json, work = sys.argv[1:7]
pkg = harness.start(zip_path)
p = harness.prefs(pkg)
p.backend_url = url
p.auto_start = False
p.job_folder = os.path.join(work, "jobs")
report = {"blender": list(bpy.app.version)}

res, err = harness.import_room(samples, model=model)
scene = bpy.context.scene
rc = scene.realcam
report["import"] = {
    "result": sorted(res),
    "error": err,
    "camera": scene.camera.name if scene.camera else None,
    "resolution": [scene.render.resolution_x, scene.render.resolution_y],
    "fps": scene.render.fps / scene.render.fps_base,
    "frames": [scene.frame_start, scene.frame_end],
    "mesh_vertices": len(rc.photo_mesh.data.vertices),
    "median_depth": rc.median_depth,
    "lens": scene.camera.data.lens,
}

# Preview of the unmoved camera: it must reproduce the photo.
scene.frame_end = 2
res, err = harness.run_op(bpy.ops.realcam.preview)
folder = rc.preview_folder
report["preview_still"] = {"result": sorted(res), "error": err, "folder": folder, "files": sorted(os.listdir(folder))}
prev = harness.pixels(os.path.join(folder, "0001.png"))
ref = harness.pixels(os.path.join(rc.scene_folder, "image.png"), "Non-Color")
report["psnr"] = harness.psnr(prev, ref)
report["covered_fraction"] = float((prev[..., 3] > 0.99).mean())

# A still camera cannot be generated.
res, err = harness.run_op(bpy.ops.realcam.generate)
report["still_generate"] = {"result": sorted(res), "error": err}

scene.frame_end = 9
harness.run_op(bpy.ops.realcam.preset, kind="DOLLY_IN")
cam = scene.camera
scene.frame_set(9)
report["preset_moved"] = list(cam.matrix_world.translation)
scene.frame_set(1)
rc.seed = 3
rc.steps = 2
res, err = harness.run_op(bpy.ops.realcam.generate)
report["generate1"] = {"result": sorted(res), "error": err}
rc.seed = 4
rc.camera_condition = False  # the panel's switch reaches the bundle
res, err = harness.run_op(bpy.ops.realcam.generate)
report["generate2"] = {"result": sorted(res), "error": err}

ws = bpy.context.workspace
report["scene"] = scene.name
report["edit"] = rc.edit_scene.name
report["sequencer_scene"] = ws.sequencer_scene.name if getattr(ws, "sequencer_scene", None) else None
strips = harness.strips(rc.edit_scene)
report["strips"] = [
    {
        "name": s.name,
        "type": s.type,
        "channel": s.channel,
        "start": s.frame_final_start,
        "duration": s.frame_final_duration,
        "realcam": s.get("realcam"),
    }
    for s in strips
]

# RealEstate10K: export, import onto another camera, export again: same cameras.
first = os.path.join(work, "cams1.txt")
second = os.path.join(work, "cams2.txt")
harness.run_op(bpy.ops.realcam.export_re10k, filepath=first)
cam2 = bpy.data.objects.new("Imported", bpy.data.cameras.new("Imported"))
scene.collection.objects.link(cam2)
scene.camera = cam2
cam2.data.sensor_width = 36.0
res, err = harness.run_op(bpy.ops.realcam.import_re10k, filepath=first)
harness.run_op(bpy.ops.realcam.export_re10k, filepath=second)
report["re10k"] = {"first": first, "second": second, "error": err}

# Parents and an animated focal length count: the camera is read as Blender evaluates it.
rig = bpy.data.objects.new("Rig", None)
scene.collection.objects.link(rig)
rig.location = (0.0, 0.0, 0.0)
rig.keyframe_insert("location", frame=1)
rig.location = (1.0, 0.0, 0.0)
rig.keyframe_insert("location", frame=9)
cam2.parent = rig
lens0 = cam2.data.lens
cam2.data.keyframe_insert("lens", frame=1)
cam2.data.lens = lens0 * 2
cam2.data.keyframe_insert("lens", frame=9)
third = os.path.join(work, "cams3.txt")
harness.run_op(bpy.ops.realcam.export_re10k, filepath=third)
report["re10k"]["rigged"] = third
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(work, "flow.blend"))
report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
