"""Scene fixes in real Blender, from the default startup file: scale calibration and focal after import.

Imports the sample photo with its true depth (no backend), keys a dolly and a
zoom, renders the preview, writes a job bundle through the add-on's own writer,
then: bad inputs (each refused, nothing changed), two points from the 3D cursor
and a real distance -> Apply scale, undo/redo, a bundle again, Apply focal, a
bundle again, save and reopen, a rigged camera, the photo imported again into the shot.

Usage: python shot_fixes.py ZIP SAMPLES_DIR OUT_JSON WORK_DIR
"""

import math
import os
import shutil
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, samples, out_json, work = sys.argv[1:5]
pkg = harness.start(zip_path, empty=False)
p = harness.prefs(pkg)
p.auto_start, p.job_folder = False, os.path.join(work, "jobs")
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
flows, preview_flow, generate_flow = (harness.module(pkg, n) for n in ("flows", "flows.preview", "flows.generate"))
shots, camera_track, photo_scene, fixes = (
    harness.module(pkg, n) for n in ("shot.shots", "shot.camera_track", "shot.photo_scene", "shot.fixes")
)
calibration = harness.module(pkg, "realcam_core.addon_only.calibration")
camera = harness.module(pkg, "realcam_core.camera")
bpy.ops.ed.undo_push(message="file opened")
report = {"startup": sorted(o.name for o in bpy.context.scene.objects)}
source_scene = bpy.context.scene.name
FRAMES, W, H = 5, 128, 96
res, err = harness.import_room(samples, width=W, height=H, frames=FRAMES)
assert err is None, err
SHOT = bpy.context.scene.name
report["focal_field_at_import"] = bpy.context.scene.realcam.focal_input
PIXEL = (40, 30)  # (u, v): a pixel of the room's wall, well inside the frame
INDEX = PIXEL[1] * W + PIXEL[0]


def shot():
    return bpy.data.scenes[SHOT]


def vertex(i=INDEX):
    """A vertex of the photo's mesh in the mesh's own frame (the photo camera at the origin)."""
    return list(shot().realcam.photo_mesh.data.vertices[i].co)


def cam_location(frame):
    s = shot()
    return list(camera_track.evaluated_matrix(s, s.camera, frame).translation)


def state(label):
    s = shot()
    rc = s.realcam
    return {
        "label": label,
        "vertex": vertex(),
        "depth_scale": rc.depth_scale,
        "photo_focal_px": rc.photo_focal_px,
        "median_depth": rc.median_depth,
        "clip": [s.camera.data.clip_start, s.camera.data.clip_end],
        "lens": s.camera.data.lens,
        "cam_first": cam_location(s.frame_start),
        "cam_last": cam_location(s.frame_end),
        "preview": shots.preview_state(s),
        "panel": harness.panel_lines(pkg, s),
        "fix_note": rc.fix_note,
        "faces": len(rc.photo_mesh.data.polygons),
        "meshes": sorted(m.name for m in bpy.data.meshes if m.name.startswith("RealCam")),
    }


def button(op, **kw):
    res, err = harness.gui_op(op, **kw)
    return {"result": sorted(res), "error": err}


def bundle(tag):
    """The job bundle the add-on writes for this shot now (its own writer, track reader and settings)."""
    s = shot()
    frames = list(range(s.frame_start, s.frame_end + 1))
    Ks, rel = camera_track.read_track_now(s, frames)
    out = {"first_frame": None}
    try:
        preview_flow.check_first_frame(s, frames, Ks)
    except flows.FlowError as e:
        out["first_frame"] = str(e)
    folder = os.path.join(work, "bundles", tag)
    r = s.render
    settings = generate_flow.bundle_settings(bpy.context, s, "wan2.2-ti2v-5b", r.fps / r.fps_base)
    generate_flow.write_bundle(
        folder,
        preview_flow.check_photo(s),
        bpy.path.abspath(s.realcam.preview_folder),
        harness.module(pkg, "preview.render").frame_files(s),
        frames,
        Ks,
        rel,
        settings,
        {"app": "test"},
        s.realcam.depth_scale,
    )
    out["folder"] = folder
    return out


shot().camera.data.animation_data_clear()
report["dolly"] = button(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=1.0)
report["zoom"] = button(bpy.ops.realcam.preset, kind="ZOOM_IN", amount=1.2)
report["preview"] = harness.run_op(bpy.ops.realcam.preview)[1]
report["imported_K"] = photo_scene.photo_intrinsics(shot().realcam).__dict__
report["before"] = state("before")
report["bundle_before"] = bundle("before")
scene_folder = preview_flow.check_photo(shot())
report["scene_folder_files"] = sorted(os.listdir(scene_folder))

# Bad input: each refused with what to do, and nothing of the shot changed.
bad = {}
bpy.context.window.scene = bpy.data.scenes[source_scene]
bad["not_a_shot"] = button(bpy.ops.realcam.apply_scale, source="FACTOR")
bpy.context.window.scene = shot()
bad["no_points"] = button(bpy.ops.realcam.apply_scale, source="POINTS")
shot().cursor.location = (0.0, 0.0, 0.0)  # where the startup file has it: the photo camera, no mesh there
bad["cursor_off_mesh"] = button(bpy.ops.realcam.scale_point, which="A")
mesh_ob = shot().realcam.photo_mesh
I_A, I_B = 60 * W + 20, 30 * W + 100  # two pixels of the room
A = mesh_ob.matrix_world @ mesh_ob.data.vertices[I_A].co
B = mesh_ob.matrix_world @ mesh_ob.data.vertices[I_B].co
shot().cursor.location = A
button(bpy.ops.realcam.scale_point, which="A")
button(bpy.ops.realcam.scale_point, which="B")
shot().realcam.scale_real = 1.0
bad["same_point"] = button(bpy.ops.realcam.apply_scale, source="POINTS")
shot().cursor.location = B
report["point_b"] = button(bpy.ops.realcam.scale_point, which="B")
shot().realcam.scale_real = 0.0
bad["zero_distance"] = button(bpy.ops.realcam.apply_scale, source="POINTS")
shot().realcam.scale_factor = 0.0
bad["zero_factor"] = button(bpy.ops.realcam.apply_scale, source="FACTOR")
shot().realcam.focal_input = 0.0
bad["zero_focal"] = button(bpy.ops.realcam.apply_focal)
shot().realcam.focal_input = 0.5 * W / math.tan(math.radians(87.0))  # 174 degrees across: a lens under 1 mm
bad["lens_under_1mm"] = button(bpy.ops.realcam.apply_focal)
moved = scene_folder + "-moved"
os.rename(scene_folder, moved)
shot().realcam.scale_factor = 2.0
bad["folder_moved"] = button(bpy.ops.realcam.apply_scale, source="FACTOR")
bad["folder_moved_focal"] = button(bpy.ops.realcam.apply_focal)
os.rename(moved, scene_folder)
keep = shot().realcam.photo_mesh
shot().realcam.photo_mesh = None
bad["no_mesh"] = button(bpy.ops.realcam.apply_scale, source="FACTOR")
shot().realcam.photo_mesh = keep
report["bad"] = bad
report["after_bad"] = state("after bad input")

# Two points from the cursor and their real distance: the shot 1.25 times larger.
S = 1.25
measured = (B - A).length
report["measured"] = measured
report["measured_panel"] = harness.panel_lines(pkg, shot())
shot().realcam.scale_real = measured * S
report["apply_scale"] = button(bpy.ops.realcam.apply_scale, source="POINTS")
report["after_scale"] = state("after scale")
report["measured_after"] = fixes.measured(shot())
report["bundle_scaled"] = bundle("scaled")

# One undo step takes all of it back; redo brings it again.
bpy.ops.ed.undo()
report["undone"] = state("undone")
bpy.ops.ed.redo()
report["redone"] = state("redone")

# A new focal: the mesh re-projected, the camera's lens and its zoom keys scaled with it.
f_old = photo_scene.photo_intrinsics(shot().realcam).fx
F_NEW = f_old * 1.2
shot().realcam.focal_input = F_NEW
report["f_old"], report["f_new"] = f_old, F_NEW
report["apply_focal"] = button(bpy.ops.realcam.apply_focal)
report["after_focal"] = state("after focal")
report["focal_K"] = photo_scene.photo_intrinsics(shot().realcam).__dict__
s = shot()
bc = camera.blender_from_intrinsics(
    camera.Intrinsics(**report["focal_K"]),
    s.camera.data.sensor_fit,
    s.camera.data.sensor_width,
    s.camera.data.sensor_height,
)
report["focal_lens_expected"] = bc.lens
lens_fc = [fc for fc in harness.module(pkg, "compat").fcurve_collection(s.camera.data) or () if fc.data_path == "lens"]
report["lens_keys"] = [list(k.co) for k in lens_fc[0].keyframe_points] if lens_fc else []
report["bundle_focal"] = bundle("focal")

# Undo the focal alone: the first-frame check follows (the shot's intrinsics are undone with the lens).
bpy.ops.ed.undo()
report["focal_undone"] = {"K": photo_scene.photo_intrinsics(shot().realcam).__dict__, **bundle("focal_undone")}
shutil.rmtree(report["focal_undone"]["folder"])
bpy.ops.ed.redo()

# Save, reopen: the scale and focal shown and still applied.
blend = os.path.join(work, "fixes.blend")
bpy.ops.wm.save_as_mainfile(filepath=blend)
bpy.ops.wm.open_mainfile(filepath=blend)
report["reopened"] = state("reopened")
report["reopened_K"] = photo_scene.photo_intrinsics(shot().realcam).__dict__
report["bundle_reopened"] = bundle("reopened")
report["scene_folder_after"] = sorted(os.listdir(scene_folder))

# Back to the imported focal with one click (the panel's "Imported" button), then undone again.
bpy.ops.ed.undo_push(message="file reopened")  # headless Blender starts each opened file without an undo stack
revert = {"panel_before": harness.panel_lines(pkg, shot())}
revert["apply"] = button(bpy.ops.realcam.apply_focal, to_imported=True)
revert["state"] = state("reverted")
revert["K"] = photo_scene.photo_intrinsics(shot().realcam).__dict__
revert["field"] = shot().realcam.focal_input
revert["panel_after"] = harness.panel_lines(pkg, shot())
bpy.ops.ed.undo()
revert["undone"] = state("revert undone")
report["revert"] = revert

# A rigged camera (a parent, a Track To): the preset's keys sit on the "RealCam move" empty, which the scale
# reaches; the rig it cannot reach is named in the operator's report and the panel.
s = shot()
cam = s.camera
aim = bpy.data.objects.new("Aim", None)
crane = bpy.data.objects.new("Crane", None)
for ob in (aim, crane):
    s.collection.objects.link(ob)
aim.location = (0.0, 5.0, 0.0)
cam.constraints.new("TRACK_TO").target = aim
cam.parent = crane
rig = {"preset": button(bpy.ops.realcam.preset, kind="TRUCK_RIGHT", amount=1.0)}
empty = shot().camera.constraints["RealCam move"].target
rig["holder"] = empty.name


def empty_offset():
    s = shot()
    e = s.camera.constraints["RealCam move"].target
    fc = {
        i: f
        for f in harness.module(pkg, "compat").fcurve_collection(e)
        if f.data_path == "location"
        for i in [f.array_index]
    }
    return [fc[i].evaluate(s.frame_end) - fc[i].evaluate(s.frame_start) for i in range(3)]


rig["offset_before"] = empty_offset()
shot().realcam.scale_factor = 2.0
rig["apply"] = button(bpy.ops.realcam.apply_scale, source="FACTOR")
rig["offset_after"] = empty_offset()
rig["note"] = shot().realcam.fix_note
rig["depth_scale"] = shot().realcam.depth_scale
# The crane standing still needed nothing; once it moves (keyed), the scale cannot reach it and says so.
crane.keyframe_insert("location", frame=shot().frame_start)
crane.location.x += 0.5
crane.keyframe_insert("location", frame=shot().frame_end)
shot().realcam.scale_factor = 0.5
rig["apply_moving_crane"] = button(bpy.ops.realcam.apply_scale, source="FACTOR")
rig["note_moving_crane"] = shot().realcam.fix_note
rig["panel"] = harness.panel_lines(pkg, shot())
report["rig"] = rig


def lens_keys():
    fcs = harness.module(pkg, "compat").fcurve_collection(shot().camera.data) or ()
    return [k.co[1] for fc in fcs if fc.data_path == "lens" for k in fc.keyframe_points]


# The photo imported again into the shot (replace), at another focal: the shot's camera keeps its zoom, which must
# now start at the new photo's lens (else Preview and Generate refuse the first frame) and keep its factor.
reimport = {"keys_before": lens_keys(), "points_before": [shot().realcam.scale_a_set, shot().realcam.scale_b_set]}
res, err = harness.import_room(samples, replace=True, focal_px=harness.room_photo(samples)["focal_px"] * 0.8)
reimport["result"], reimport["error"] = sorted(res), err
reimport["keys_after"] = lens_keys()
reimport["points_after"] = [shot().realcam.scale_a_set, shot().realcam.scale_b_set]
reimport["field"] = shot().realcam.focal_input
reimport["panel"] = harness.panel_lines(pkg, shot())
reimport["K"] = photo_scene.photo_intrinsics(shot().realcam).__dict__
reimport["photo_lens"] = preview_flow.photo_lens(shot(), photo_scene.photo_intrinsics(shot().realcam))
reimport.update(bundle("reimported"))
report["reimport"] = reimport
report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
