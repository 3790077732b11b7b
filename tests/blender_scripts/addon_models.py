"""Models from the default startup file: picking one fits the shot (size, 16 frames, MotionCtrl's lens; one undo
step), the panel's model lines, camera scale, sampler, speed and Draft, each reaching bundle, result and take.

The backend serves tiny models under catalogue names (a DynamiCrafter as motionctrl-256, the DMD draft, the Fun
camera model), so the add-on runs its built-in specs against real generation.

MC_TAKE names the model the MotionCtrl-fitted shot is generated with: motionctrl-256 where the backend serves a
tiny MotionCtrl under that name, else a tiny plain DynamiCrafter under another name (the shot keeps MotionCtrl's
lens, which the bundle must carry).

Usage: python addon_models.py ZIP BACKEND_URL SAMPLES_DIR OUT_JSON MC_TAKE
"""

import json
import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, samples, out_json, mc_take = sys.argv[1:6]
pkg = harness.start(zip_path, empty=False)
tasks, shots, photo_scene = (harness.module(pkg, m) for m in ("tasks", "shot.shots", "shot.photo_scene"))
status, takes_mod = harness.module(pkg, "backend.status"), harness.module(pkg, "edit.takes")
model_fit = harness.module(pkg, "realcam_core.addon_only.model_fit")
DRAFT = harness.module(pkg, "realcam_core.models").DRAFT_VIDEO_MODEL
tasks.RUNNER.blocking = False  # an interactive Blender: operators return, the timer does the work
p = harness.prefs(pkg)
p.backend_url, p.auto_start = url, False
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
report = {"startup": sorted(o.name for o in bpy.context.scene.objects)}
bpy.ops.ed.undo_push(message="file opened")


def run(op, **kw):
    """A button press, then the timer until the task it started ends."""
    before = harness.last_task(pkg)
    res, err = harness.gui_op(op, **kw)
    task = harness.last_task(pkg)
    started = task is not None and task is not before
    if started:
        harness.pump(pkg, task)
    return {
        "result": sorted(res),
        "error": err or (task.error if started else None),
        "stage": task.stage if started else None,
        "message": task.message if started else None,
    }


def shot():
    return bpy.data.scenes[report["shot"]]


def state():
    s = shot()
    r = s.render
    return {
        "model": s.realcam.model,
        "frames": [s.frame_start, s.frame_end],
        "size": [r.resolution_x, r.resolution_y],
        "vertices": len(s.realcam.photo_mesh.data.vertices),
        "fx": photo_scene.photo_intrinsics(s.realcam).fx,
    }


def last_take():
    s = shot()
    item = s.realcam.takes[-1]
    folder = bpy.path.abspath(item.folder)
    edit = s.realcam.edit_scene
    strip = next(x for x in harness.strips(edit) if x.name == item.name)
    manifest = json.load(open(os.path.join(folder, "bundle", "manifest.json")))
    return {
        "name": item.name,
        "settings": manifest["settings"],
        "fx": [f["intrinsics"]["fx"] for f in manifest["frames"]],
        "source": manifest["source"],
        "result": json.load(open(os.path.join(folder, "result.json"))),
        "strip": json.loads(strip["realcam"]),
        "summary": takes_mod.summary(item),
    }


cam_info = json.load(open(os.path.join(samples, "room_camera.json")))
report["import"] = run(
    bpy.ops.realcam.import_photo,
    filepath=os.path.join(samples, "room.jpg"),
    depth_map=os.path.join(samples, "room_depth.png"),
    focal_px=cam_info["fx"],
    model="tiny",
    width=128,
    height=96,
    frames=8,  # at most what the tiny model makes at once (8): picking it keeps one window
)
report["shot"] = bpy.context.scene.name
report["imported"] = state()
report["photo_size"] = list(shot().realcam.photo_size)  # not read at import: the fit reads and keeps it

# The model lines before anything runs (built-in list): what a DynamiCrafter camera model is, needs and assumes.
shot().realcam.model = "realcam-i2v-256"  # the property, as a script or Load settings sets it: nothing fitted yet
report["lines_realcam"] = harness.panel_lines(pkg, shot())
report["catalogue"] = {n: status.catalogue_line(n) for n in ("realcam-i2v-256", "wan2.2-ti2v-5b", DRAFT)}
shot().realcam.model = "tiny"

# The backend's models: it runs a folder under MotionCtrl's name, whose limits are the add-on's from now on.
report["backend"] = run(bpy.ops.realcam.backend_status, start=False)
mc_spec = status.spec_for("motionctrl-256")
report["mc_spec"] = {
    "name": mc_spec.name,
    "frames": mc_spec.max_frames,
    "sizes": [list(x) for x in mc_spec.native_sizes],
}
F = mc_spec.max_frames

# Pick MotionCtrl: 256x256, 16 frames, the photo re-imported (its depth map again), the lens MotionCtrl assumes.
report["fit_mc"] = run(bpy.ops.realcam.choose_model, model="motionctrl-256")
report["after_mc"] = state()
report["assumed_fx"] = model_fit.assumed_focal(status.spec_for("motionctrl-256"), (256, 256), shots.photo_size(shot()))
report["lines_mc"] = harness.panel_lines(pkg, shot())
bpy.ops.ed.undo()  # one step back: the shot as it was
report["undo_mc"] = state()
bpy.ops.ed.redo()
report["redo_mc"] = state()

# A move, and the settings that must reach the bundle and the result.
harness.gui_op(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=0.5)
rc = shot().realcam
rc.steps, rc.seed, rc.camera_scale = 1, 7, 0.5
rc.step_cache, rc.cache_threshold = "first-block", 0.1

# A shot longer than the model makes at once: the panel says before Generate that it is made in windows (the long
# shot itself runs in test_long_shot.py and test_addon_long.py), and picking the model again keeps its length.
shot().frame_end = F + 5
report["lines_long"] = harness.panel_lines(pkg, shot())
shot().frame_end = F
# Another lens than MotionCtrl assumes: refused, with the way back; picking the model again sets it (no re-import).
shot().realcam.focal_input = report["assumed_fx"] * 0.8
report["focal_changed"] = run(bpy.ops.realcam.apply_focal)
report["after_focal_changed"] = state()
report["generate_wrong_lens"] = run(bpy.ops.realcam.generate)
report["fit_lens"] = run(bpy.ops.realcam.choose_model, model="motionctrl-256")
report["after_fit_lens"] = state()

shot().realcam.model = mc_take  # the property: the shot stays as MotionCtrl's fit made it
report["generate_mc"] = run(bpy.ops.realcam.generate)
report["take_mc"] = last_take()
report["lines_after_mc"] = harness.panel_lines(pkg, shot())

# Draft: one take with the draft model; the shot keeps its model; steps and guidance left to the draft.
report["generate_draft"] = run(bpy.ops.realcam.generate, draft=True)
report["take_draft"] = last_take()
report["model_after_draft"] = shot().realcam.model
shot().realcam.takes_index = len(shot().realcam.takes) - 1
report["load_draft"] = run(bpy.ops.realcam.take_load)
report["model_after_load_draft"] = shot().realcam.model
report["steps_guidance_after_load_draft"] = [shot().realcam.steps, shot().realcam.guidance]

# The Fun camera model on the same shot (256x256 and 16 frames are sizes it makes): sampler and camera scale.
rc = shot().realcam
rc.model, rc.sampler, rc.camera_scale, rc.steps = "wan2.2-fun-5b-camera", "unipc", 2.0, 2
report["lines_fun"] = harness.panel_lines(pkg, shot())
report["generate_fun"] = run(bpy.ops.realcam.generate)
report["take_fun"] = last_take()

# Load settings of the MotionCtrl take: its model, camera scale, speed and (default) sampler come back.
shot().realcam.takes_index = 0
report["load_mc"] = run(bpy.ops.realcam.take_load)
rc = shot().realcam
report["loaded"] = {
    "model": rc.model,
    "camera_scale": rc.camera_scale,
    "sampler": rc.sampler,
    "step_cache": rc.step_cache,
    "cache_threshold": round(rc.cache_threshold, 6),
    "compile": rc.compile,
    "steps": rc.steps,
}
report["items"] = [i[0] for i in harness.module(pkg, "ui.properties")._model_items(rc, bpy.context)]
rc.model = DRAFT  # the draft as the shot's model: steps and guidance are its own
report["lines_draft_model"] = harness.panel_lines(pkg, shot())
report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
