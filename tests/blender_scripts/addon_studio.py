"""A studio's file: frame 1001, 25 fps, centimetres, its own objects, a camera on a Follow Path with a Track To.

Two shots (the second after the file went to 23.976 fps and metres), props, units, presets on a rigged
camera, a stale preview (a prop moved, the photo re-imported with other depth), then save, move the
project folder elsewhere, reopen: it still previews, generates and plays its takes.

Usage: python addon_studio.py ZIP BACKEND_URL SAMPLES_DIR INPUTS_DIR OUT_JSON WORK_DIR
INPUTS_DIR: room_flip.png and room_flip_depth.npy (a second photo), room_depth_far.npy (depth x 1.5).
"""

import json
import math
import os
import shutil
import sys

import bpy
import numpy as np
from mathutils import Matrix, Vector

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, samples, inputs, out_json, work = sys.argv[1:7]
pkg = harness.start(zip_path, empty=False)
flows, shots, presets = (harness.module(pkg, m) for m in ("flows", "shot.shots", "shot.presets"))
p = harness.prefs(pkg)
# What this script checks does not depend on the preview's engine. Workbench renders the same unlit frame in a
# hundredth of Eevee's time on a machine without a GPU (about 1 s a frame here); Eevee's own path:
# addon_artist.py, preview_trips.py, addon_flow.py.
p.preview_engine = "WORKBENCH"
p.backend_url, p.auto_start = url, False  # job folder empty: realcam/ next to the .blend
report = {}

# ---------------------------------------------------------------- the studio's file
studio = bpy.context.scene
studio.name = "Studio"
studio.frame_start, studio.frame_end, studio.frame_current = 1001, 1100, 1001
studio.render.fps, studio.render.fps_base = 25, 1.0
us = studio.unit_settings
us.system, us.scale_length, us.length_unit = "METRIC", 0.01, "CENTIMETERS"
studio.render.resolution_x, studio.render.resolution_y, studio.render.resolution_percentage = 1920, 1080, 50
blocking = bpy.data.collections.new("Blocking")
studio.collection.children.link(blocking)
crate = bpy.data.objects.new("Crate", bpy.data.meshes.new("Crate"))
crate.data.from_pydata(
    [(x, y, z) for x in (-30, 30) for y in (-30, 30) for z in (-30, 30)],
    [],
    [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)],
)
crate.location = (-60, 300, -40)  # 3 m ahead of the photo's camera, left and down, in centimetres
blocking.objects.link(crate)
path = bpy.data.objects.new("Dolly track", bpy.data.curves.new("Dolly track", "CURVE"))
path.data.dimensions = "3D"
spline = path.data.splines.new("POLY")
spline.points.add(1)
spline.points[0].co = (-500, -800, 160, 1)
spline.points[1].co = (500, -800, 160, 1)
studio.collection.objects.link(path)
aim = bpy.data.objects.new("Aim", None)
aim.location = (0, 0, 100)
studio.collection.objects.link(aim)
layout = bpy.data.objects.new("Layout Cam", bpy.data.cameras.new("Layout Cam"))
studio.collection.objects.link(layout)
follow = layout.constraints.new("FOLLOW_PATH")
follow.target, follow.use_fixed_location = path, True
follow.offset_factor = 0.0
follow.keyframe_insert("offset_factor", frame=1001)
follow.offset_factor = 1.0
follow.keyframe_insert("offset_factor", frame=1100)
track = layout.constraints.new("TRACK_TO")
track.target, track.track_axis, track.up_axis = aim, "TRACK_NEGATIVE_Z", "UP_Y"
studio.camera = layout


def studio_state():
    s = bpy.data.scenes["Studio"]
    r = s.render
    lay = bpy.data.objects["Layout Cam"]
    return {
        "frames": [s.frame_start, s.frame_end],
        "fps": round(r.fps / r.fps_base, 3),
        "resolution": [r.resolution_x, r.resolution_y, r.resolution_percentage],
        "units": [s.unit_settings.system, s.unit_settings.scale_length],
        "camera": s.camera.name,
        "layout_cam_1050": [round(v, 4) for v in np.array(_world(s, lay, 1050)).ravel()],
        "objects": sorted(o.name for o in s.objects),
        "strips": len(harness.strips(s)),
        "constraints": [c.type for c in lay.constraints],
    }


def _world(scene, ob, frame):
    return harness.module(pkg, "shot.camera_track").evaluated_matrix(scene, ob, frame)


project = os.path.join(work, "project")
os.makedirs(project)
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(project, "studio.blend"))
report["studio_before"] = studio_state()


def imp(filepath, depth_map, **kw):
    res, err = harness.import_room(samples, filepath=filepath, depth_map=depth_map, model="tiny", **kw)
    return {"result": sorted(res), "error": err, "scene": bpy.context.scene.name}


def mesh_depth_extent(scene):
    co = np.empty(len(scene.realcam.photo_mesh.data.vertices) * 3, np.float32)
    scene.realcam.photo_mesh.data.vertices.foreach_get("co", co)
    return float(co.reshape(-1, 3)[:, 1].max())


def shot_info(scene):
    rc, r = scene.realcam, scene.render
    return {
        "name": scene.name,
        "frames": [scene.frame_start, scene.frame_end],
        "fps": round(r.fps / r.fps_base, 3),
        "resolution": [r.resolution_x, r.resolution_y, r.resolution_percentage],
        "scale_length": scene.unit_settings.scale_length,
        "metres_per_unit": rc.metres_per_unit,
        "objects": sorted(o.name for o in scene.objects),
        "median_depth": rc.median_depth,
        "mesh_y_max": mesh_depth_extent(scene),
        "camera_clip": [scene.camera.data.clip_start, scene.camera.data.clip_end],
    }


report["import_a"] = imp(os.path.join(samples, "room.jpg"), os.path.join(samples, "room_depth.png"))
A = report["import_a"]["scene"]
report["studio_after_a"] = studio_state()
# The artist's file goes to 23.976 fps and metres before the second photo.
st = bpy.data.scenes["Studio"]
st.render.fps, st.render.fps_base = 24, 1.001
st.unit_settings.scale_length, st.unit_settings.length_unit = 1.0, "METERS"
bpy.context.window.scene = st
report["import_b"] = imp(os.path.join(inputs, "room_flip.png"), os.path.join(inputs, "room_flip_depth.npy"))
B = report["import_b"]["scene"]
report["shot_a"], report["shot_b"] = shot_info(bpy.data.scenes[A]), shot_info(bpy.data.scenes[B])


def in_shot(name):
    bpy.context.window.scene = bpy.data.scenes[name]
    return bpy.data.scenes[name]


def preview(name):
    in_shot(name)
    res, err = harness.run_op(bpy.ops.realcam.preview)
    s = bpy.data.scenes[name]
    folder = bpy.path.abspath(s.realcam.preview_folder)
    return {"error": err, "folder": folder, "first": os.path.join(folder, f"{s.frame_start:04d}.png")}


def reference(name):
    return harness.pixels(
        os.path.join(bpy.path.abspath(bpy.data.scenes[name].realcam.scene_folder), "image.png"), "Non-Color"
    )


# Isolation: each shot previews its own photo; the studio's cube and crate and the other photo are not there.
pa, pb = preview(A), preview(B)
ref_a, ref_b = reference(A), reference(B)
prev_a, prev_b = harness.pixels(pa["first"]), harness.pixels(pb["first"])
report["isolation"] = {
    "errors": [pa["error"], pb["error"]],
    "a_vs_a": harness.psnr(prev_a, ref_a),
    "b_vs_b": harness.psnr(prev_b, ref_b),
    "a_vs_b": harness.psnr(prev_a, ref_b),
}
# Props: the Blocking collection, named in shot A's panel, is linked in (not copied) and previewed.
sa = in_shot(A)
sa.realcam.props = bpy.data.collections["Blocking"]
shots.depsgraph(sa)
report["props"] = {
    "a_collections": sorted(c.name for c in sa.collection.children),
    "b_has_crate": "Crate" in bpy.data.scenes[B].objects,
    "crate_users": sorted(s.name for s in bpy.data.objects["Crate"].users_scene),
    "state_after_link": shots.preview_state(sa),
}
pa2 = preview(A)
prev_a2 = harness.pixels(pa2["first"])
report["props"]["changed_pixels"] = float((np.abs(prev_a2[..., :3] - prev_a[..., :3]).max(-1) > 0.1).mean())
report["props"]["state_after_preview"] = shots.preview_state(bpy.data.scenes[A])

# Units: the same 0.5 m dolly in the centimetre shot A and the metre shot B reaches the bundles in metres.
for name in (A, B):
    in_shot(name)
    res, err = harness.gui_op(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=0.5)
    s = bpy.data.scenes[name]
    s.realcam.steps, s.realcam.seed = 2, 1
    report[f"dolly_end_{name}"] = list(_world(s, s.camera, s.frame_end).translation)
in_shot(A).realcam.evaluate = True
res, err = harness.run_op(bpy.ops.realcam.generate)
report["generate_a1"] = {"error": err}
in_shot(B)
res, err = harness.run_op(bpy.ops.realcam.generate)
report["generate_b1"] = {"error": err}


def last_take(name):
    s = bpy.data.scenes[name]
    t = s.realcam.takes[-1]
    folder = bpy.path.abspath(t.folder)
    man = json.load(open(os.path.join(folder, "bundle", "manifest.json")))
    strip = next(x for x in harness.strips(s.realcam.edit_scene) if x.name == t.name)
    return {
        "name": t.name,
        "folder": folder,
        "c2w_last": man["frames"][-1]["c2w"],
        "scene_frames": [man["frames"][0]["scene_frame"], man["frames"][-1]["scene_frame"]],
        "fps": man["settings"]["fps"],
        "reference_is_own": open(os.path.join(folder, "bundle", "reference.png"), "rb").read()
        == open(os.path.join(bpy.path.abspath(s.realcam.scene_folder), "image.png"), "rb").read(),
        "result": json.load(open(os.path.join(folder, "result.json"))),
        "strip": {"start": strip.frame_final_start, "duration": strip.frame_final_duration, "channel": strip.channel},
        "edit": [s.realcam.edit_scene.name, s.realcam.edit_scene.render.fps / s.realcam.edit_scene.render.fps_base],
        "preview_folder": bpy.path.abspath(s.realcam.preview_folder),
    }


report["take_a1"], report["take_b1"] = last_take(A), last_take(B)
# RE10K round trip in centimetres: exported in metres, keyed back in Blender units.
sa = in_shot(A)
re1 = os.path.join(work, "a.txt")
harness.run_op(bpy.ops.realcam.export_re10k, filepath=re1)
probe = bpy.data.objects.new("RE10K probe", bpy.data.cameras.new("RE10K probe"))
sa.realcam.photo_collection.objects.link(probe)
own = sa.camera
sa.camera = probe
harness.run_op(bpy.ops.realcam.import_re10k, filepath=re1)
report["re10k"] = {"file": re1, "probe_end": list(_world(sa, probe, sa.frame_end).translation)}
sa.camera = own
bpy.data.objects.remove(probe)

# Another camera made active in shot B with another lens: refused, never sent with B's reference.
sb = in_shot(B)
other = bpy.data.objects.new("Other", bpy.data.cameras.new("Other"))
sb.collection.objects.link(other)
other.data.lens = 85
other.rotation_euler = (math.pi / 2, 0, 0)
other.keyframe_insert("location", frame=sb.frame_start)
other.location.y = 0.3
other.keyframe_insert("location", frame=sb.frame_end)
own_b = sb.camera
sb.camera = other
res, err = harness.run_op(bpy.ops.realcam.generate)
report["other_camera"] = {"error": err, "takes": len(sb.realcam.takes)}
sb.camera = own_b

# A prop moved (in the studio, where the artist works on it): shot A's preview is out of date, Generate renders it.
st = bpy.data.scenes["Studio"]
bpy.context.window.scene = st
bpy.data.objects["Crate"].location.x += 40
shots.depsgraph(st)  # the viewport's update
report["stale"] = {"after_prop_move": shots.preview_state(bpy.data.scenes[A])}
sa = in_shot(A)
sa.realcam.evaluate = False
before = bpy.path.abspath(sa.realcam.preview_folder)
res, err = harness.run_op(bpy.ops.realcam.generate)
sa = bpy.data.scenes[A]
report["stale"]["prop_generate"] = {
    "error": err,
    "rendered_again": bpy.path.abspath(sa.realcam.preview_folder) != before,
    "bundle_uses_new": last_take(A)["preview_folder"] == bpy.path.abspath(sa.realcam.preview_folder),
}
# Nothing changed but the artist's draft percentage: no new preview, the model still makes the full size.
before = bpy.path.abspath(sa.realcam.preview_folder)
sa.realcam.seed = 2
sa.render.resolution_percentage = 50
report["panel_lines"] = harness.module(pkg, "ui.panels.shot").what_the_model_makes(bpy.context, sa)
res, err = harness.run_op(bpy.ops.realcam.generate)
man = json.load(open(os.path.join(last_take(A)["folder"], "bundle", "manifest.json")))
report["stale"]["unchanged_generate"] = {
    "error": err,
    "rendered_again": bpy.path.abspath(bpy.data.scenes[A].realcam.preview_folder) != before,
    "bundle_size": [man["width"], man["height"], man["frames"][0]["intrinsics"]["cx"]],
}
bpy.data.scenes[A].render.resolution_percentage = 100
# The photo re-imported into shot A with other depth: its moves stay, the preview is made again.
res, err = harness.import_room(
    samples, replace=True, depth_map=os.path.join(inputs, "room_depth_far.npy"), model="tiny"
)
sa = bpy.data.scenes[A]
report["reimport"] = {
    "error": err,
    "scene": bpy.context.scene.name,
    "shots": sorted(s.name for s in shots.all_shots()),
    "median_depth": sa.realcam.median_depth,
    "camera_animated": bool(sa.camera.animation_data and sa.camera.animation_data.action),
    "state": shots.preview_state(sa),
}
before = bpy.path.abspath(sa.realcam.preview_folder)
res, err = harness.run_op(bpy.ops.realcam.generate)
sa = bpy.data.scenes[A]
folder = last_take(A)["folder"]
report["reimport"]["generate"] = {
    "error": err,
    "rendered_again": bpy.path.abspath(sa.realcam.preview_folder) != before,
    "bundle_depth_median": float(np.median(np.load(os.path.join(folder, "bundle", "depth.npy")))),
}

# Presets on a rigged camera: shot A's camera on a Follow Path with a Track To; dolly then pan, both kept.
sa = in_shot(A)
cam = sa.camera
cam.animation_data_clear()
cam.matrix_world = Matrix.Rotation(math.pi / 2, 4, "X")
rail = bpy.data.objects.new("Rail", bpy.data.curves.new("Rail", "CURVE"))
rail.data.dimensions = "3D"
sp = rail.data.splines.new("POLY")
sp.points.add(1)
sp.points[0].co = (0, 0, 0, 1)
sp.points[1].co = (100, 0, 0, 1)  # one metre to the right, in centimetres
target = bpy.data.objects.new("Rail aim", None)
target.location = (0, 500, 0)
for ob in (rail, target):
    sa.realcam.photo_collection.objects.link(ob)
cam.location = (0, 0, 0)
fp = cam.constraints.new("FOLLOW_PATH")
fp.target, fp.use_fixed_location = rail, True
fp.offset_factor = 0.0
fp.keyframe_insert("offset_factor", frame=sa.frame_start)
fp.offset_factor = 1.0
fp.keyframe_insert("offset_factor", frame=sa.frame_end)
tt = cam.constraints.new("TRACK_TO")
tt.target, tt.track_axis, tt.up_axis = target, "TRACK_NEGATIVE_Z", "UP_Y"
rig_start, rig_end = _world(sa, cam, sa.frame_start), _world(sa, cam, sa.frame_end)
harness.gui_op(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=0.5)
harness.gui_op(bpy.ops.realcam.preset, kind="PAN_LEFT", amount=10.0)
sa = bpy.data.scenes[A]
cam = sa.camera
got_start, got_end = _world(sa, cam, sa.frame_start), _world(sa, cam, sa.frame_end)
up = rig_start.to_quaternion().inverted() @ Vector((0, 0, 1))
expected_end = rig_end @ Matrix.Translation((0, 0, -50)) @ Matrix.Rotation(math.radians(10), 4, up)
report["rig"] = {
    "start_jump": float(np.abs(np.array(got_start) - np.array(rig_start)).max()),
    "end_error": float(np.abs(np.array(got_end) - np.array(expected_end)).max()),
    "constraints": [c.name for c in cam.constraints],
    "holder": cam.constraints[-1].target.name if cam.constraints[-1].target else None,
    "camera_transform_keys": [
        fc.data_path
        for fc in (harness.module(pkg, "compat").fcurve_collection(cam) or [])
        if fc.data_path in ("location", "rotation_euler", "rotation_quaternion")
    ],
}
sa.realcam.seed = 3
res, err = harness.run_op(bpy.ops.realcam.generate)
t = last_take(A)
m_end = np.array(got_end)
m_end[:3, 3] *= 0.01
m_start = np.array(got_start)
m_start[:3, 3] *= 0.01
flip = np.diag([1.0, -1.0, -1.0, 1.0])
rel = np.linalg.inv(m_start @ flip) @ (m_end @ flip)
report["rig"]["generate"] = {"error": err, "bundle_last": t["c2w_last"], "expected_last": rel.tolist()}

# Save, move the project folder elsewhere, reopen.
bpy.ops.wm.save_mainfile()
saved = {}
for name in (A, B):
    s = bpy.data.scenes[name]
    rc = s.realcam
    saved[name] = {
        "scene_folder": rc.scene_folder,
        "preview_folder": rc.preview_folder,
        "takes": [t.folder for t in rc.takes],
        "take_json": [json.loads(t.settings)["take"] for t in rc.takes],
    }
edit = bpy.data.scenes[A].realcam.edit_scene
saved["strips"] = [(x.name, x.type, x.directory if x.type == "IMAGE" else x.filepath) for x in harness.strips(edit)]
saved["strip_json"] = [json.loads(x["realcam"])["take"] for x in harness.strips(edit) if "realcam" in x]
report["saved_paths"] = saved
report["studio_end"] = studio_state()
moved = os.path.join(work, "moved", "elsewhere")
os.makedirs(os.path.dirname(moved))
shutil.move(project, moved)
bpy.ops.wm.open_mainfile(filepath=os.path.join(moved, "studio.blend"))
sa = bpy.data.scenes[A]
edit = sa.realcam.edit_scene
resolved = {
    "scene_folder": bpy.path.abspath(sa.realcam.scene_folder),
    "take_videos": [os.path.isfile(bpy.path.abspath(x.filepath)) for x in harness.strips(edit) if x.type == "MOVIE"],
    "take_video_paths": [bpy.path.abspath(x.filepath) for x in harness.strips(edit) if x.type == "MOVIE"],
    "preview_frames": [
        os.path.isfile(os.path.join(bpy.path.abspath(x.directory), x.elements[0].filename))
        for x in harness.strips(edit)
        if x.type == "IMAGE"
    ],
}
# Plays its takes: the edit renders a take's frame from the moved file.
take_strip = next(x for x in harness.strips(edit) if x.type == "MOVIE")
for x in harness.strips(edit):
    x.mute = x != take_strip
edit.frame_set(take_strip.frame_final_start)
edit.render.filepath = os.path.join(work, "moved_edit")
if edit.render.image_settings.file_format != "PNG":
    edit.render.image_settings.file_format = "PNG"
bpy.ops.render.render(write_still=True, scene=edit.name)
frame = harness.pixels(os.path.join(work, "moved_edit.png"))
resolved["edit_frame_std"] = float(frame[..., :3].std())
for x in harness.strips(edit):
    x.mute = False
in_shot(A)
pm = preview(A)
bpy.data.scenes[A].realcam.seed = 4
res, err = harness.run_op(bpy.ops.realcam.generate)
resolved["preview_error"] = pm["error"]
resolved["preview_folder"] = pm["folder"]
resolved["generate_error"] = err
resolved["new_take"] = last_take(A)["folder"]
report["moved"] = resolved
report["moved_to"] = moved
report["studio_moved"] = studio_state()
# The layout camera exported from the studio's own scene (not a shot): the panel there says how it went.
st = in_shot("Studio")
export = {"ok": harness.run_op(bpy.ops.realcam.export_re10k, filepath=os.path.join(work, "studio.txt"))[1]}
export["panel_ok"] = harness.panel_lines(pkg, st)
bad = os.path.join(work, "studio.txt", "x.txt")  # a file where a folder should be
export["bad"] = harness.run_op(bpy.ops.realcam.export_re10k, filepath=bad)[1]
export["panel_bad"] = harness.panel_lines(pkg, st)
report["studio_export"] = export
harness.dump(out_json, report)
