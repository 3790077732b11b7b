"""An artist's session in Blender's default startup file (cube, light, camera), through the interactive path.

Operators are called as buttons call them (undo pushed for UNDO operators) and
return at once; the add-on's timer is driven the way Blender's event loop
drives it (without a window in the context). Covers isolation from the cube,
undo of Import / Preset / Generate (and an undo while a job runs), every panel
setting reaching bundle, result and strip, F12 in shot / artist's scene /
edit, preview replacement, take names, a cancelled take and a failed import.

Usage: python addon_artist.py ZIP BACKEND_URL SAMPLES_DIR OUT_JSON WORK_DIR FREE_PORT
"""

import json
import os
import sys

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, samples, out_json, work = sys.argv[1:6]
pkg = harness.start(zip_path, empty=False)
client_mod = harness.module(pkg, "realcam_core.client")  # the add-on's own client: any Blender's Python has it
BackendError, Client = client_mod.BackendError, client_mod.Client
tasks, flows, shots, compat = (harness.module(pkg, m) for m in ("tasks", "flows.follow", "shot.shots", "compat"))
tasks.RUNNER.blocking = False  # an interactive Blender: operators return, the timer does the work
p = harness.prefs(pkg)
p.backend_url, p.auto_start = url, False  # job folder left empty: the unsaved file's folders in the user folder
report = {"sub_panels": harness.sub_panels(pkg)}  # as registered in this Blender: what the artist sees first


def corr(a, b):
    a, b = a[..., :3].ravel() - a[..., :3].mean(), b[..., :3].ravel() - b[..., :3].mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


source = bpy.context.scene
report["startup"] = sorted(o.name for o in source.objects)
src_before = {
    "frames": [source.frame_start, source.frame_end],
    "fps": source.render.fps / source.render.fps_base,
    "resolution": [source.render.resolution_x, source.render.resolution_y, source.render.resolution_percentage],
    "camera": source.camera.name,
}
bpy.ops.ed.undo_push(message="file opened")  # what a GUI session has on its undo stack

photo = harness.room_photo(samples, model="tiny")
# The panel's import options reach the Import button (and through it the shot): set them, draw, click.
opts = source.realcam
opts.model = "tiny"  # the scene's model: what a new shot is set up for
opts.show_import_options = True
opts.import_width, opts.import_height, opts.import_frames = photo["width"], photo["height"], photo["frames"]
opts.import_focal_px, opts.import_depth_map = photo["focal_px"], photo["depth_map"]
lines = harness.panel_lines(pkg, source)
report["import_button"] = harness.button_props(lines, "realcam.import_photo")
report["import_panel"] = lines
report["import"] = harness.press(
    pkg, bpy.ops.realcam.import_photo, filepath=photo["filepath"], **report["import_button"]
)
shot = bpy.context.scene
rc = shot.realcam
report["shot"] = {
    "name": shot.name,
    "is_shot": bool(rc.shot_id),
    "objects": sorted(o.name for o in shot.objects),
    "frames": [shot.frame_start, shot.frame_end],
    "resolution": [shot.render.resolution_x, shot.render.resolution_y],
    "edit": rc.edit_scene.name if rc.edit_scene else None,
    "lens": shot.camera.data.lens,
}
source = bpy.data.scenes[source.name]
report["source_after"] = {
    "frames": [source.frame_start, source.frame_end],
    "fps": source.render.fps / source.render.fps_base,
    "resolution": [source.render.resolution_x, source.render.resolution_y, source.render.resolution_percentage],
    "camera": source.camera.name,
    "objects": sorted(o.name for o in source.objects),
    "strips": len(harness.strips(source)),
}
report["source_before"] = src_before

# Backend and model: nothing answers at first (the built-in models), then the test's backend (its models, device).
props_mod, backend_status = harness.module(pkg, "ui.properties"), harness.module(pkg, "backend.status")


def model_items():
    return [i[0] for i in props_mod._model_items(bpy.data.scenes[report["shot"]["name"]].realcam, bpy.context)]


backend = {"panel_unchecked": harness.panel_lines(pkg, shot)}
p.backend_url = f"http://127.0.0.1:{sys.argv[6]}"  # a free port: nothing answers
backend["down"] = harness.press(pkg, bpy.ops.realcam.backend_status, start=False)
shot = bpy.data.scenes[report["shot"]["name"]]
backend["panel_down"] = harness.panel_lines(pkg, shot)
backend["items_down"] = model_items()
p.backend_url = url
backend["up"] = harness.press(pkg, bpy.ops.realcam.backend_status, start=False)
shot = bpy.data.scenes[report["shot"]["name"]]
backend["items_up"] = model_items()
shot.realcam.model_choice = "wan2.2-ti2v-5b"  # the dropdown sets the shot's model
backend["model_after_choice"] = shot.realcam.model
backend["panel_up"] = harness.panel_lines(pkg, shot)
shot.realcam.model_choice = "tiny"
backend["device_info"] = backend_status.STATUS["health"]["device_info"]
report["backend"] = backend

# The unmoved camera's preview is the photo, although the default cube sits where the camera stands.
report["preview1"] = harness.press(pkg, bpy.ops.realcam.preview)
shot = bpy.data.scenes[report["shot"]["name"]]
rc = shot.realcam
folder1 = bpy.path.abspath(rc.preview_folder)
prev = harness.pixels(os.path.join(folder1, "0001.png"))
ref = harness.pixels(os.path.join(bpy.path.abspath(rc.scene_folder), "image.png"), "Non-Color")
covered = prev[..., 3] > 0.99
report["psnr"] = harness.psnr(prev, ref, covered)
report["covered"] = float(covered.mean())
report["state_after_preview"] = shots.preview_state(shot)
report["panel_after_preview"] = harness.panel_lines(pkg, shot)
report["preview2"] = harness.press(pkg, bpy.ops.realcam.preview)
edit = bpy.data.scenes[report["shot"]["edit"]]
report["preview_strips"] = [(s.name, s.channel, s.directory) for s in harness.strips(edit)]

# Preset, then every panel setting set away from its default.
report["preset"] = sorted(harness.gui_op(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=0.5)[0])
shot = bpy.data.scenes[report["shot"]["name"]]
report["panel_after_preset"] = harness.panel_lines(pkg, shot)  # the camera moved: out of date
rc = shot.realcam
panel = {
    "model": "tiny",
    "prompt": "a quiet room\nthe light moves slowly over the floor",
    "negative_prompt": "blur",
    "seed": 5,
    "steps": 2,
    "guidance": 3.5,
    "sns_enabled": True,
    "sns_threshold": 0.75,
    "evaluate": True,
    "camera_condition": False,
}
rc.prompt = "a quiet room"
# A multi-line prompt: a text of the file, holding the field's prompt (called as a script calls it: no undo step,
# so the undo checks below still count Import, Previews, Preset and Generate).
bpy.ops.realcam.prompt_text()
shot = bpy.data.scenes[report["shot"]["name"]]
rc = shot.realcam
report["prompt_text_initial"] = rc.prompt_text.as_string()
rc.prompt_text.from_string(panel["prompt"])
for k, v in panel.items():
    if k not in ("model", "prompt"):  # the model came from the dropdown, the prompt is the text's
        setattr(rc, k, v)
report["model_before_generate"] = rc.model
report["panel"] = panel
report["panel_settings"] = harness.panel_lines(pkg, shot)
report["generate1"] = harness.press(pkg, bpy.ops.realcam.generate)
shot = bpy.data.scenes[report["shot"]["name"]]
rc = shot.realcam
take = rc.takes[-1]
take_dir = bpy.path.abspath(take.folder)
report["take1"] = {
    "name": take.name,
    "strip": json.loads(next(s for s in harness.strips(edit) if s.name == take.name)["realcam"]),
    "manifest": json.load(open(os.path.join(take_dir, "bundle", "manifest.json")))["settings"],
    "result": json.load(open(os.path.join(take_dir, "result.json"))),
    "files": sorted(os.listdir(take_dir)),
    "job_id_after": rc.job_id,
}
# The preview Generate rendered after a small dolly: measured, no coverage warning in the panel.
report["small_dolly"] = {
    "coverage": rc.coverage,
    "extent": json.loads(rc.move_extent),
    "panel": harness.panel_lines(pkg, shot),
}


# F12: the shot and the artist's scene render their 3D scenes; the edit renders the take.
def render_still(scene, base):
    """F12 of one scene with its own settings, as the artist has them."""
    scene.render.filepath = base
    scene.render.use_file_extension = True
    if scene.render.image_settings.file_format != "PNG":  # new scenes render PNG already (5.0: media types)
        scene.render.image_settings.file_format = "PNG"
    scene.eevee.taa_render_samples = 4  # what F12 renders is under test, not its anti-aliasing (64: 10 s here)
    bpy.ops.render.render(write_still=True, scene=scene.name)
    return harness.pixels(base + ".png")


shot.frame_set(shot.frame_start)
f12_shot = render_still(shot, os.path.join(work, "f12_shot"))
edit.frame_set(shot.frame_start)
f12_edit = render_still(edit, os.path.join(work, "f12_edit"))
take_frame = harness.pixels(os.path.join(take_dir, "video.mp4"))
report["f12"] = {
    "shot_strips": len(harness.strips(shot)),
    "source_strips": len(harness.strips(bpy.data.scenes[source.name])),
    "shot_vs_photo": corr(f12_shot, ref),
    "shot_vs_take": corr(f12_shot, take_frame),
    "edit_vs_take": corr(f12_edit, take_frame),
    "edit_vs_photo": corr(f12_edit, ref),
}

# Undo: Generate, Preset, the previews and Import are one step each; redo brings them back.
undo = []
for _ in range(5):
    bpy.ops.ed.undo()
    s = bpy.data.scenes.get(report["shot"]["name"])
    e = bpy.data.scenes.get(report["shot"]["edit"])
    undo.append(
        {
            "shot": s is not None,
            "window_scene": bpy.context.window.scene.name,
            "takes": len(s.realcam.takes) if s else None,
            "movie_strips": len([x for x in harness.strips(e) if x.type == "MOVIE"]) if e else None,
            "preview_strips": len([x for x in harness.strips(e) if x.type == "IMAGE"]) if e else None,
            "camera_animated": bool(s and s.camera and s.camera.animation_data and s.camera.animation_data.action),
        }
    )
report["undo"] = undo
for _ in range(5):
    bpy.ops.ed.redo()
shot = bpy.data.scenes[report["shot"]["name"]]
edit = bpy.data.scenes[report["shot"]["edit"]]
report["redo"] = {
    "takes": len(shot.realcam.takes),
    "movie_strips": len([x for x in harness.strips(edit) if x.type == "MOVIE"]),
    "window_scene": bpy.context.window.scene.name,
}

# An undo while a take's job runs (a sequence that crashed Blender): the task survives it, the take arrives.
harness.gui_op(bpy.ops.realcam.seed, action="NEXT")  # 5 -> 6
report["seed_next"] = bpy.data.scenes[report["shot"]["name"]].realcam.seed
harness.gui_op(bpy.ops.realcam.preset, kind="PAN_LEFT", amount=5.0)
shot = bpy.data.scenes[report["shot"]["name"]]
res, err = harness.gui_op(bpy.ops.realcam.generate)
task = harness.last_task(pkg)
harness.pump(pkg, task, until=lambda: bool(bpy.data.scenes[report["shot"]["name"]].realcam.job_id) or task.done)
bpy.ops.ed.undo()  # undoes the pan while the backend works
harness.pump(pkg, task)
shot = bpy.data.scenes[report["shot"]["name"]]
edit = bpy.data.scenes[report["shot"]["edit"]]
report["undo_during_job"] = {
    "error": task.error,
    "stage": task.stage,
    "takes": [t.name for t in shot.realcam.takes],
    "movie_strips": sorted(x.name for x in harness.strips(edit) if x.type == "MOVIE"),
    "job_id_after": shot.realcam.job_id,
}

# Take names stay unique when two land in the same second.
n1 = flows.take_name(shot, "tiny", 6)
shot.realcam.takes.add().name = n1
report["same_second_names"] = [n1, flows.take_name(shot, "tiny", 6)]
shot.realcam.takes.remove(len(shot.realcam.takes) - 1)

# A cancelled take leaves nothing: no folder, no strip, no job on the backend.
harness.gui_op(bpy.ops.realcam.seed, action="RANDOM")
report["seed_random"] = bpy.data.scenes[report["shot"]["name"]].realcam.seed
shot = bpy.data.scenes[report["shot"]["name"]]
shot.realcam.seed = 7
shot.realcam.steps = 200
shot.realcam.evaluate = False
strips_before = sorted(x.name for x in harness.strips(edit))
harness.gui_op(bpy.ops.realcam.generate)
task = harness.last_task(pkg)
client = Client(url)
seen = {}


def running():
    s = bpy.data.scenes[report["shot"]["name"]].realcam
    if s.job_id and not seen:
        seen.update(job=s.job_id, take=bpy.path.abspath(s.job_take))
    return bool(seen) and client.job(seen["job"])["state"] == "running" or task.done


harness.pump(pkg, task, until=running)
bpy.ops.realcam.cancel()
harness.pump(pkg, task)
try:
    client.job(seen["job"])
    backend_job = "still there"
except BackendError as e:
    backend_job = e.status
shot = bpy.data.scenes[report["shot"]["name"]]
report["cancelled"] = {
    "stage": task.stage,
    "error": task.error,
    "take_folder_exists": os.path.exists(seen["take"]),
    "strips_same": sorted(x.name for x in harness.strips(edit)) == strips_before,
    "job_id_after": shot.realcam.job_id,
    "backend_job": backend_job,
}

# A failed import leaves nothing: no scene, no objects, no folder.
scenes_dir = os.path.join(os.path.dirname(os.path.dirname(take_dir)), "scenes")
before = (sorted(os.listdir(scenes_dir)), sorted(s.name for s in bpy.data.scenes), len(bpy.data.objects))
bad = os.path.join(work, "notes.png")
with open(bad, "w") as fh:
    fh.write("not a picture")
report["failed_import"] = harness.press(pkg, bpy.ops.realcam.import_photo, **{**photo, "filepath": bad})
after = (sorted(os.listdir(scenes_dir)), sorted(s.name for s in bpy.data.scenes), len(bpy.data.objects))
report["failed_import"]["left_nothing"] = before == after

# Presets combine with their own amounts and durations into ordinary keys; the panel shows the extent in metres
# and degrees. Then a large truck leaves the photo's scene: its preview's last frame warns in the panel.
shot = bpy.data.scenes[report["shot"]["name"]]
bpy.context.window.scene = shot
cam = shot.camera
shot.frame_set(shot.frame_start)
start_pose = cam.matrix_world.copy()
cam.animation_data_clear()
cam.matrix_world = start_pose
harness.gui_op(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=1.0, duration=4)  # frames 1-5
harness.gui_op(bpy.ops.realcam.preset, kind="PAN_LEFT", amount=10.0)  # the whole shot, 1-9
harness.gui_op(bpy.ops.realcam.preset, kind="PEDESTAL_UP", amount=0.5, duration=0.25, duration_unit="SECONDS")
shot = bpy.data.scenes[report["shot"]["name"]]
cam = shot.camera
poses = {}
for f in (1, 5, 7, 9):
    shot.frame_set(f)
    poses[f] = [list(r) for r in cam.matrix_world]
shot.frame_set(1)
report["combined"] = {
    "start": [list(r) for r in start_pose],
    "poses": poses,
    "keys": sorted({k.co[0] for fc in compat.fcurve_collection(cam) for k in fc.keyframe_points}),
    "extent": json.loads(shot.realcam.move_extent),
    "panel": harness.panel_lines(pkg, shot),
}
cam.animation_data_clear()
cam.matrix_world = start_pose
harness.gui_op(bpy.ops.realcam.preset, kind="TRUCK_RIGHT", amount=6.0)
report["large_truck"] = harness.press(pkg, bpy.ops.realcam.preview)
shot = bpy.data.scenes[report["shot"]["name"]]
report["large_truck"].update(
    coverage=shot.realcam.coverage,
    extent=json.loads(shot.realcam.move_extent),
    panel=harness.panel_lines(pkg, shot),
)

# The depth-edge threshold rebuilds the photo's mesh: a looser rule joins more faces, a stricter one cuts more;
# vertices, colours and the object stay, no mesh is left behind, and the preview goes out of date.
shot = bpy.data.scenes[report["shot"]["name"]]
rc = shot.realcam
mesh_ob = rc.photo_mesh
edge = {"default": rc.depth_edge, "faces": [len(mesh_ob.data.polygons)], "verts": [len(mesh_ob.data.vertices)]}
for value in (50.0, 1.0):
    rc.depth_edge = value
    edge["faces"].append(len(rc.photo_mesh.data.polygons))
    edge["verts"].append(len(rc.photo_mesh.data.vertices))
edge["same_object"] = rc.photo_mesh == mesh_ob
edge["meshes"] = sorted(m.name for m in bpy.data.meshes if m.name.startswith("RealCam"))
edge["colours"] = "realcam_photo" in rc.photo_mesh.data.color_attributes
edge["state"] = shots.preview_state(shot)
report["depth_edge"] = edge

# The first save: the unsaved file's folders move from the add-on's user folder next to the .blend.
project = os.path.join(work, "artist project")
os.makedirs(project)
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(project, "artist.blend"))
shot = bpy.data.scenes[report["shot"]["name"]]
edit = bpy.data.scenes[report["shot"]["edit"]]
rc = shot.realcam
report["first_save"] = {
    "stored": [rc.scene_folder, rc.preview_folder] + [t.folder for t in rc.takes],
    "strips": [x.directory if x.type == "IMAGE" else x.filepath for x in harness.strips(edit)],
    "resolved": [bpy.path.abspath(rc.scene_folder), bpy.path.abspath(rc.preview_folder)]
    + [bpy.path.abspath(t.folder) for t in rc.takes],
    "videos": [os.path.isfile(bpy.path.abspath(x.filepath)) for x in harness.strips(edit) if x.type == "MOVIE"],
    "project": project,
}
report["first_save"]["exist"] = [os.path.isdir(f) for f in report["first_save"]["resolved"]]  # before a delete
# Takes: the list, loading a take's settings back, opening its folder, deleting it (asked first).
takes_mod = harness.module(pkg, "edit.takes")
rc.takes_index = 0
first = rc.takes[0]
tk = {"names": [t.name for t in rc.takes], "panel": harness.panel_lines(pkg, shot), "summary": takes_mod.summary(first)}
rc.seed, rc.steps, rc.guidance, rc.negative_prompt = 99, 7, 9.0, "other"
rc.camera_condition, rc.evaluate, rc.sns_threshold = True, False, 0.9
rc.prompt_text.from_string("something else")
rc.model = "wan2.2-ti2v-5b"
tk["load"] = sorted(harness.gui_op(bpy.ops.realcam.take_load)[0])
shot = bpy.data.scenes[report["shot"]["name"]]
rc = shot.realcam
tk["loaded"] = {
    "model": rc.model,
    "prompt": rc.prompt_text.as_string().rstrip(),
    "negative_prompt": rc.negative_prompt,
    "seed": rc.seed,
    "steps": rc.steps,
    "guidance": rc.guidance,
    "evaluate": rc.evaluate,
    "camera_condition": rc.camera_condition,
    "sns_enabled": rc.sns_enabled,
    "sns_threshold": rc.sns_threshold,
}
# Open folder: Blender's own wm.path_open runs xdg-open here; a stand-in on PATH writes down what it was given.
bindir, opened = os.path.join(work, "bin"), os.path.join(work, "opened.txt")
os.makedirs(bindir)
with open(os.path.join(bindir, "xdg-open"), "w") as fh:
    fh.write(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
os.chmod(os.path.join(bindir, "xdg-open"), 0o755)
os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
tk["open"] = sorted(harness.gui_op(bpy.ops.realcam.take_open_folder)[0])
tk["opened"] = open(opened).read() if os.path.exists(opened) else None
tk["folder"] = os.path.normpath(bpy.path.abspath(rc.takes[0].folder))
# Delete: the button asks first (nothing is deleted until the artist confirms); confirmed, it removes the take's
# strip, folder and entry, and nothing else.
edit = bpy.data.scenes[report["shot"]["edit"]]
before = {
    "strips": sorted(x.name for x in harness.strips(edit)),
    "folders": [bpy.path.abspath(t.folder) for t in rc.takes],
    "scene_folder": bpy.path.abspath(rc.scene_folder),
}
# Not confirmed (a script, or anything but the dialog's Delete button): refused, nothing deleted.
res, err = harness.gui_op(bpy.ops.realcam.take_delete)
tk["unconfirmed"] = [sorted(res), err]
shot = bpy.data.scenes[report["shot"]["name"]]
tk["after_unconfirmed"] = {"takes": len(shot.realcam.takes), "folder": os.path.isdir(before["folders"][0])}
tk["delete"] = sorted(harness.gui_op(bpy.ops.realcam.take_delete, confirm=True)[0])
shot = bpy.data.scenes[report["shot"]["name"]]
edit = bpy.data.scenes[report["shot"]["edit"]]
tk["after"] = {
    "takes": [t.name for t in shot.realcam.takes],
    "strips": sorted(x.name for x in harness.strips(edit)),
    "folders": [os.path.isdir(f) for f in before["folders"]],
    "scene_folder": os.path.isfile(os.path.join(before["scene_folder"], "image.png")),
    "panel": harness.panel_lines(pkg, shot),
}
tk["before"] = before
report["takes"] = tk
report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
