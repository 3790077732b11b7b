"""What an artist tripped over (issue 25), from Blender's default startup file, through the interactive path.

Operators are called as buttons and File > Import call them (harness.gui_op: Blender then fills in the options
the operator was last used with, as it does for the artist); the add-on's timer is driven as Blender's event loop
drives it. Each part records what the artist would see; test_artist_trips.py judges it:

- remembered      import options (depth map, focal, size, frames, model, replace) and every other operator's
                  options that Blender would carry over from the last use
- stale           undo, redo, save and reopen against the panel's "Preview out of date", and Generate reusing a
                  preview whose fingerprint matches
- pixel_aspect    a shot whose pixel aspect is not the photo's
- bad_photos      empty, cut-short, not-a-picture, 0x0 files and a folder, before anything is uploaded
- status          what the panel says of the backend after an import and a take that went through it
- moved_mesh      the photo's mesh moved by the artist, then Render Preview

Usage: python artist_trips.py ZIP BACKEND_URL SAMPLES_DIR INPUTS_DIR OUT_JSON WORK_DIR [PARTS]

PARTS: the parts to run, comma-separated (default: all). The parts after "remembered" work in the shot it makes.
"""

import json
import os
import shutil
import sys
import time
import traceback

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, samples, inputs, out_json, work = sys.argv[1:7]
PARTS = sys.argv[7].split(",") if len(sys.argv) > 7 and sys.argv[7] != "all" else None
pkg = harness.start(zip_path, empty=False)
tasks, shots, compat = (harness.module(pkg, m) for m in ("tasks", "shot.shots", "compat"))
backend_status = harness.module(pkg, "backend.status")
tasks.RUNNER.blocking = False  # an interactive Blender: operators return, the timer does the work
p = harness.prefs(pkg)
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
p.backend_url, p.auto_start, p.job_folder = url, False, os.path.join(work, "jobs")
p.depth_model, p.model = "tiny-depth", "tiny"
report = {"version": list(bpy.app.version), "startup": sorted(o.name for o in bpy.context.scene.objects)}
ARTIST = bpy.context.scene.name
bpy.ops.ed.undo_push(message="file opened")  # what a GUI session has on its undo stack

cam_info = json.load(open(os.path.join(samples, "room_camera.json")))
PHOTO = os.path.join(samples, "room.jpg")
DEPTH = os.path.join(samples, "room_depth.png")
SMALL = dict(model="tiny", width=128, height=96, frames=9)


def run(op, **kw):
    """A button press (or File > Import), then the timer until the task it started ends."""
    before = harness.last_task(pkg)
    res, err = harness.gui_op(op, **kw)
    task = harness.last_task(pkg)
    started = task is not None and task is not before
    if started:
        harness.pump(pkg, task)
    return {"result": sorted(res), "error": err or (task.error if started else None)}


def part(name):
    """Run a part (when asked for); record its crash (a missing operator before the fix, say) and go on with the
    next part, and how long it took."""

    def wrap(fn):
        if PARTS is not None and name not in PARTS:
            return fn
        t0 = time.perf_counter()
        try:
            fn()
        except Exception:
            report.setdefault(name, {})["crash"] = traceback.format_exc()[-3000:]
        report.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
        return fn

    return wrap


def scene(name):
    return bpy.data.scenes.get(name)


def go(name):
    bpy.context.window.scene = scene(name)


def lines(name):
    return harness.panel_lines(pkg, scene(name))


def intrinsics(s):
    with open(os.path.join(bpy.path.abspath(s.realcam.scene_folder), "intrinsics.json")) as fh:
        return json.load(fh)


def shot_names():
    return sorted(s.name for s in shots.all_shots())


class SidebarLayout(harness.Layout):
    """harness.Layout that also records the properties drawn ("prop: NAME TEXT")."""

    def __getattr__(self, name):
        if name == "prop":
            return lambda data, prop, **kw: self.out.append(f"prop: {prop} {kw.get('text', '')}".rstrip())
        inner = super().__getattr__(name)

        def call(*args, **kw):
            got = inner(*args, **kw)
            return SidebarLayout(self.out) if isinstance(got, harness.Layout) else got

        return call


def shot_panel(name):
    """The Shot sub-panel's labels and buttons (the main panel above it keeps the last task's outcome)."""
    out = lines(name)
    start = out.index("panel: Shot")
    end = next(i for i in range(start + 1, len(out)) if out[i].startswith("panel: "))
    return out[start + 1 : end]


def label_state(name):
    for ln in lines(name):
        if "Preview" in ln and ln.startswith("label: ") and ("date" in ln or "No preview" in ln):
            return ln[len("label: ") :]
    return None


state = {}
report["status_at_start"] = [ln for ln in lines(ARTIST) if "Backend" in ln]


@part("remembered")
def remembered():
    rep = report.setdefault("remembered", {})
    # File > Import with the artist's own depth map and focal.
    rep["first"] = run(bpy.ops.realcam.import_photo, filepath=PHOTO, depth_map=DEPTH, focal_px=cam_info["fx"], **SMALL)
    state["A"] = bpy.context.scene.name
    report["status_after_depth_map_import"] = [ln for ln in lines(state["A"]) if "Backend" in ln or "Models" in ln]
    # A second photo through File > Import from the artist's scene, choosing only the file: depth from the backend.
    go(ARTIST)
    second = os.path.join(work, "second photo.jpg")
    shutil.copy(PHOTO, second)
    rep["second"] = run(bpy.ops.realcam.import_photo, filepath=second)
    state["B"] = bpy.context.scene.name
    b = scene(state["B"])
    k = intrinsics(b)
    rep["second_shot"] = {
        "is_new": state["B"] not in (state["A"], ARTIST),
        "focal_source": k.get("focal_source"),
        "depth_source": k.get("depth_source", "backend"),
        "size": [b.render.resolution_x, b.render.resolution_y],
        "frames": b.frame_end - b.frame_start + 1,
    }
    report["status_after_backend_import"] = [ln for ln in lines(state["B"]) if "Backend" in ln or "Models" in ln]
    # "Replace this shot's photo" once, in shot A.
    go(state["A"])
    rep["replace"] = run(
        bpy.ops.realcam.import_photo, filepath=PHOTO, depth_map=DEPTH, focal_px=cam_info["fx"], replace=True
    )
    rep["shots_after_replace"] = shot_names()
    # Then the panel's Import Photo, in shot A: a new shot, shot A keeps its photo.
    a = scene(state["A"])
    a.realcam.import_width, a.realcam.import_height, a.realcam.import_frames = 128, 96, 9
    photo_a = a.realcam.photo
    button = harness.button_props(lines(state["A"]), "realcam.import_photo")
    rep["panel_in_shot"] = run(bpy.ops.realcam.import_photo, filepath=second, **button)
    rep["panel_in_shot_new"] = bpy.context.scene.name not in (state["A"], state["B"])
    rep["shot_a_photo_kept"] = scene(state["A"]).realcam.photo == photo_a
    # And from the artist's scene, with the panel's options folded: the panel says what the next import uses, the
    # import uses it, and the photo's own depth map and focal are not kept for the next photo.
    artist = scene(ARTIST).realcam
    artist.show_import_options = False
    artist.import_width, artist.import_height, artist.import_frames = 128, 96, 9
    artist.import_depth_map, artist.import_focal_px = DEPTH, cam_info["fx"]
    folded = lines(ARTIST)
    rep["folded_panel"] = [ln for ln in folded if ln.startswith("label: ")]
    button = harness.button_props(folded, "realcam.import_photo")
    go(ARTIST)
    rep["panel_in_artist_scene"] = run(bpy.ops.realcam.import_photo, filepath=PHOTO, **button)
    made = bpy.context.scene
    rep["panel_in_artist_scene_shot"] = {
        "new": made.name not in (state["A"], state["B"], ARTIST),
        "depth_source": os.path.basename(intrinsics(made).get("depth_source", "backend")),
        "size": [made.render.resolution_x, made.render.resolution_y],
    }
    artist = scene(ARTIST).realcam
    rep["artist_fields_after"] = {
        "depth_map": artist.import_depth_map,
        "focal_px": artist.import_focal_px,
        "size": [artist.import_width, artist.import_height, artist.import_frames],
    }
    rep["folded_panel_after"] = [ln for ln in lines(ARTIST) if ln.startswith("label: ")]
    # The file browser's sidebar: "Replace this shot's photo" only in a shot.
    op_cls = bpy.types.REALCAM_OT_import_photo
    for where in (ARTIST, state["A"]):
        drawn = []
        if hasattr(op_cls, "draw"):

            class Fake:
                layout = SidebarLayout(drawn)

                def __getattr__(self, name):
                    return getattr(bpy.context.window_manager.operator_properties_last("realcam.import_photo"), name)

            class Ctx:
                def __getattr__(self, name, where=where):
                    return scene(where) if name == "scene" else getattr(bpy.context, name)

            op_cls.draw(Fake(), Ctx())
        rep[f"sidebar_{'shot' if where != ARTIST else 'artist'}"] = drawn

    # Every other operator: what Blender would carry over from its last use.
    go(state["A"])
    run(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=0.3, duration=4)
    run(bpy.ops.realcam.preset, kind="PAN_LEFT")  # the next button: its own default amount, the whole shot
    a = scene(state["A"])
    turns = [fc for fc in compat.fcurve_collection(a.camera) or () if fc.data_path == "rotation_euler"]
    rep["pan_after_dolly"] = {
        "net_turn_deg": json.loads(a.realcam.move_extent)["net_turn_deg"],
        "last_turn_key": max(k.co[0] for fc in turns for k in fc.keyframe_points),
        "frame_end": a.frame_end,
    }
    a = scene(state["A"])
    a.realcam.seed = 10
    run(bpy.ops.realcam.seed, action="RANDOM")
    seed = scene(state["A"]).realcam.seed
    run(bpy.ops.realcam.seed)  # a script's (or F3's) Seed without an action: the default, Next
    rep["seed"] = {"random": seed, "then_default": scene(state["A"]).realcam.seed}
    # Which operator options Blender remembers at all (each one a choice: see test_artist_trips.py).
    kept = []
    for cls in harness.module(pkg, "ui.operators").CLASSES:
        op = getattr(bpy.ops.realcam, cls.bl_idname.split(".")[1])
        for prop in op.get_rna_type().properties:
            if prop.identifier != "rna_type" and not prop.is_skip_save:
                kept.append(f"{cls.bl_idname}.{prop.identifier}")
    rep["remembered_options"] = sorted(kept)
    rep["shots"] = shot_names()


@part("pixel_aspect")
def pixel_aspect():
    rep = report.setdefault("pixel_aspect", {})
    go(state["A"])
    a = scene(state["A"])
    a.render.pixel_aspect_y = 2.0
    rep["panel"] = [ln for ln in lines(state["A"]) if ln.startswith("label: ")]
    rep["preview"] = run(bpy.ops.realcam.preview)
    a = scene(state["A"])
    a.render.pixel_aspect_y = 1.0
    rep["preview_back_to_1"] = run(bpy.ops.realcam.preview)


@part("moved_mesh")
def moved_mesh():
    rep = report.setdefault("moved_mesh", {})
    go(state["A"])
    a = scene(state["A"])
    mesh = a.realcam.photo_mesh
    placed = [round(v, 5) for v in mesh.matrix_world.translation]
    mesh.location.x += 0.5  # the artist moves the photo's mesh
    bpy.ops.ed.undo_push(message="Move")
    rep["moved_to"] = [round(v, 5) for v in mesh.matrix_world.translation]
    rep["panel"] = shot_panel(state["A"])
    rep["preview"] = run(bpy.ops.realcam.preview)
    a = scene(state["A"])
    rep["after_preview"] = [round(v, 5) for v in a.realcam.photo_mesh.matrix_world.translation]
    rep["place"] = run(bpy.ops.realcam.place_photo) if hasattr(bpy.ops.realcam, "place_photo") else None
    a = scene(state["A"])
    rep["after_place"] = [round(v, 5) for v in a.realcam.photo_mesh.matrix_world.translation]
    rep["placed"] = placed
    rep["panel_after_place"] = shot_panel(state["A"])
    rep["preview_after_place"] = run(bpy.ops.realcam.preview)
    # The camera (its rig) moved instead: the mesh follows the camera's first frame, as before. (A delta transform
    # moves the keyed camera as a rig would.)
    a = scene(state["A"])
    a.camera.delta_location.z += 0.25
    bpy.ops.ed.undo_push(message="Move")
    rep["camera_moved_preview"] = run(bpy.ops.realcam.preview)
    a = scene(state["A"])
    rep["camera_moved_mesh_z"] = round(a.realcam.photo_mesh.matrix_world.translation.z - placed[2], 5)


@part("stale")
def stale():
    rep = report.setdefault("stale", {})
    go(state["A"])
    run(bpy.ops.realcam.preview)
    steps = [("preview", label_state(state["A"]))]
    # An undo of something the preview does not show (the seed).
    run(bpy.ops.realcam.seed, action="NEXT")
    steps.append(("seed", label_state(state["A"])))
    bpy.ops.ed.undo()
    steps.append(("undo seed", label_state(state["A"])))
    # An undo of a move: the preview is what the camera does again.
    run(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=0.2)
    steps.append(("preset", label_state(state["A"])))
    bpy.ops.ed.undo()
    steps.append(("undo preset", label_state(state["A"])))
    bpy.ops.ed.redo()
    steps.append(("redo preset", label_state(state["A"])))
    bpy.ops.ed.undo()
    steps.append(("undo preset again", label_state(state["A"])))
    # A lens typed in the camera's properties (a property edit, then its undo step), and its undo.
    a = scene(state["A"])
    a.camera.data.lens *= 1.1
    bpy.ops.ed.undo_push(message="Focal Length")
    bpy.context.view_layer.update()
    steps.append(("lens", label_state(state["A"])))
    bpy.ops.ed.undo()
    steps.append(("undo lens", label_state(state["A"])))
    # Two edits, one undo: still out of date (the preset stays).
    run(bpy.ops.realcam.preset, kind="TRUCK_RIGHT", amount=0.2)
    a = scene(state["A"])
    a.camera.data.lens *= 1.1
    bpy.ops.ed.undo_push(message="Focal Length")
    bpy.context.view_layer.update()
    bpy.ops.ed.undo()
    steps.append(("two edits, one undo", label_state(state["A"])))
    rep["steps"] = steps
    # The preview again, then an undo of the seed (the case the artist met), then Generate: the preview is reused
    # and the panel says so.
    run(bpy.ops.realcam.preview)
    a = scene(state["A"])
    a.realcam.steps = 1
    bpy.ops.ed.undo_push(message="Steps")
    run(bpy.ops.realcam.seed, action="NEXT")
    bpy.ops.ed.undo()
    a = scene(state["A"])
    folder = a.realcam.preview_folder
    rep["before_generate"] = label_state(state["A"])
    rep["generate"] = run(bpy.ops.realcam.generate)
    a = scene(state["A"])
    rep["generate_reused"] = a.realcam.preview_folder == folder
    rep["after_generate"] = label_state(state["A"])
    report["status_after_generate"] = [ln for ln in lines(state["A"]) if "Backend" in ln or "Models" in ln]
    # Save after an undo, reopen: up to date, and Generate reuses the preview.
    run(bpy.ops.realcam.seed, action="NEXT")
    bpy.ops.ed.undo()
    rep["before_save"] = label_state(state["A"])
    blend = os.path.join(work, "trips.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    rep["saved_signature"] = scene(state["A"]).realcam.preview_signature
    bpy.ops.wm.open_mainfile(filepath=blend)
    go(state["A"])
    rep["after_reopen"] = label_state(state["A"])
    folder = scene(state["A"]).realcam.preview_folder
    rep["generate_after_reopen"] = run(bpy.ops.realcam.generate)
    rep["reopen_generate_reused"] = scene(state["A"]).realcam.preview_folder == folder
    rep["after_reopen_generate"] = label_state(state["A"])
    # An edit saved out of date stays out of date after reopening (until a preview).
    run(bpy.ops.realcam.preset, kind="PAN_LEFT", amount=2.0)
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    bpy.ops.wm.open_mainfile(filepath=blend)
    rep["edited_then_reopened"] = label_state(state["A"])
    report["takes"] = len(scene(state["A"]).realcam.takes)


@part("bad_photos")
def bad_photos():
    rep = report.setdefault("bad_photos", {})
    go(ARTIST)
    scenes_dir = os.path.join(work, "jobs", "scenes")
    before = (sorted(os.listdir(scenes_dir)), sorted(s.name for s in bpy.data.scenes))
    for name in sorted(os.listdir(inputs)):
        path = os.path.join(inputs, name)
        go(ARTIST)
        rep[name] = {
            "backend": run(bpy.ops.realcam.import_photo, filepath=path, **SMALL)["error"],
            "depth_map": run(bpy.ops.realcam.import_photo, filepath=path, depth_map=DEPTH, **SMALL)["error"],
        }
    after = (sorted(os.listdir(scenes_dir)), sorted(s.name for s in bpy.data.scenes))
    rep["left_nothing"] = before == after


report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
