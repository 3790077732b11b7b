"""The photo import in slices (issue 30 item 3, issue 25 item 9), from the default startup file, interactive.

Each import runs as the GUI runs it: the operator returns, the add-on's timer (called here as Blender's event loop
calls it) steps the task. The task's generator is watched: at each pause, which of the photo mesh's arrays changed
since the last one (so no step writes more than one), and in which thread the numpy work ran. Each finished mesh
is compared, array by array, with the mesh the code before issue 30 built from the same scene folder
(before_issue_30.py), and the scene folder's image with the pixels the old way of writing it gave. Then a cancel
in the middle of writing the mesh, another while a worker thread runs, and one undo of a whole import.

Usage: python import_slices.py ZIP BACKEND_URL SAMPLES_DIR INPUTS_DIR WORK_DIR OUT_JSON
INPUTS_DIR holds noise.png (a 300x200 photo of noise) and steps.npy (its 256x160 depth in metres: steps, holes).
The backend knows the depth model "tiny-depth".
"""

import json
import os
import sys
import threading

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import before_issue_30  # noqa: E402
import harness  # noqa: E402

zip_path, url, samples, inputs, work, out_json = sys.argv[1:7]
pkg = harness.start(zip_path, empty=False)
tasks, paths = harness.module(pkg, "tasks"), harness.module(pkg, "paths")
photo_mesh, photo_source = harness.module(pkg, "shot.photo_mesh"), harness.module(pkg, "shot.photo_source")
resample, exif = harness.module(pkg, "realcam_core.resample"), harness.module(pkg, "realcam_core.addon_only.exif")
camera = harness.module(pkg, "realcam_core.camera")
tasks.RUNNER.blocking = False  # an interactive Blender: the timer does the work
p = harness.prefs(pkg)
jobs = os.path.join(work, "jobs")
p.backend_url, p.auto_start, p.job_folder, p.depth_model = url, False, jobs, "tiny-depth"
cam_info = json.load(open(os.path.join(samples, "room_camera.json")))
report = {"startup": sorted(o.name for o in bpy.context.scene.objects)}
bpy.ops.ed.undo_push(message="file opened")  # what a GUI session has on its undo stack

# Where the numpy work runs: every function the import hands to worker threads notes its thread.
threads = []


def noting(module, name):
    fn = getattr(module, name)

    def call(*args, **kw):
        threads.append([name, threading.current_thread() is threading.main_thread()])
        return fn(*args, **kw)

    setattr(module, name, call)


for fn in ("face_mask", "grid_faces", "grid_edges", "grid_corner_edges", "grid_vertices", "colors_linear"):
    noting(photo_mesh, fn)
for fn in ("_fit_into_folder", "_scene_from_folder", "_pixels"):
    noting(photo_source, fn)

ARRAYS = {  # attribute, its domain's count in the building mesh, values per element
    "position": ("vertices", 3),
    "realcam_photo": ("vertices", 4),
    ".edge_verts": ("edges", 2),
    ".corner_vert": ("loops", 1),
    ".corner_edge": ("loops", 1),
}


def building():
    return next((m for m in bpy.data.meshes if "realcam_building" in m), None)


def mesh_state(mesh):
    """{array: digest of its values} of a mesh (the building one, or None), with its element counts."""
    if mesh is None:
        return None
    state = {k: len(getattr(mesh, k)) for k in ("vertices", "edges", "loops", "polygons")}
    for name, (domain, width) in ARRAYS.items():
        attr = mesh.attributes.get(name)
        if attr is None:
            continue
        n = state[domain] * width
        buf = np.empty(n, np.float32 if name in ("position", "realcam_photo") else np.int32)
        prop = {"position": "vector", "realcam_photo": "color"}.get(name, "value")
        attr.data.foreach_get(prop, buf)
        state[name] = float(np.abs(buf.astype(np.float64)).sum())
    return state


def watched(gen, steps):
    """The task's generator, noting after each of its steps (up to a pause, or its end) what it wrote into the
    mesh being built."""
    value, error = None, None
    last, name = None, None

    def note(item, mesh):
        nonlocal last
        state = mesh_state(mesh)
        written = []
        if state is not None:
            before = last or {}
            for k in ("vertices", "edges", "loops", "polygons"):
                if state[k] != before.get(k, 0):
                    written.append([f"allocate {k}", state[k] - before.get(k, 0)])
            for array, (domain, width) in ARRAYS.items():
                if state.get(array, 0.0) != before.get(array, 0.0):  # new content (Blender allocates zeros)
                    written.append([array, state[domain] * width])
        last = state
        steps.append({"yield": item, "written": written, "message": task_now().message})

    while True:
        try:
            item = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            if name is not None and last is not None:  # the last step: the mesh is done (and no longer marked)
                note("end", bpy.data.meshes.get(name))
            return stop.value
        mesh = building()
        name = mesh.name if mesh is not None else name
        note(type(item).__name__, mesh)
        try:
            value, error = (yield item), None
        except BaseException as e:  # a cancel, thrown into the task at this pause: passed on
            value, error = None, e


def task_now():
    return harness.last_task(pkg)


def start_import(**kw):
    """Press Import (the operator returns at once) and watch its task; (task, steps, ticks)."""
    before = task_now()
    res, err = harness.gui_op(bpy.ops.realcam.import_photo, **kw)
    task = task_now()
    assert err is None and task is not before and not task.done, (res, err)
    steps = []
    task.gen = watched(task.gen, steps)
    return task, steps, []


def tick(task, steps, ticks):
    n = len(steps)
    with bpy.context.temp_override(window=None):
        interval = tasks.timer()
    ticks.append(len(steps) - n)
    return interval


def run_to_end(task, steps, ticks, until=None):
    import time

    deadline = time.monotonic() + 600
    while not task.done and not (until and until()):
        assert time.monotonic() < deadline, task.stage
        time.sleep(min(tick(task, steps, ticks), 0.02))


def mesh_arrays(mesh):
    out = {}
    for name, (domain, width) in ARRAYS.items():
        n = len(getattr(mesh, domain)) * width
        buf = np.empty(n, np.float32 if name in ("position", "realcam_photo") else np.int32)
        mesh.attributes[name].data.foreach_get({"position": "vector", "realcam_photo": "color"}.get(name, "value"), buf)
        out[name] = buf
    for name in ("loop_start", "loop_total"):
        buf = np.empty(len(mesh.polygons), np.int32)
        mesh.polygons.foreach_get(name, buf)
        out[name] = buf
    return out


def read_png_old_way(path):
    """image.png as read_scene_folder read it before issue 30 (Blender decodes; raw values)."""
    img = bpy.data.images.load(path, check_existing=False)
    img.colorspace_settings.name = "Non-Color"
    w, h = img.size
    buf = np.empty(w * h * 4, np.float32)
    img.pixels.foreach_get(buf)
    bpy.data.images.remove(img)
    rgb = buf.reshape(h, w, 4)[::-1, :, :3]
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def old_local_image(photo, size):
    """The image the local path wrote before issue 30: the photo decoded and fitted, through an 8-bit Blender image."""
    img = bpy.data.images.load(photo, check_existing=False)
    w0, h0 = img.size
    buf = np.empty(w0 * h0 * 4, np.float32)
    img.pixels.foreach_get(buf)
    bpy.data.images.remove(img)
    rgb0 = exif.orient(buf.reshape(h0, w0, 4)[::-1, :, :3].copy(), exif.read(photo).orientation)
    rgb = resample.resize_cover(rgb0, size)
    byte_img = bpy.data.images.new("old-way", size[0], size[1], alpha=False)
    byte_img.colorspace_settings.name = "Non-Color"
    rgba = np.ones((size[1], size[0], 4), np.float32)
    rgba[..., :3] = np.clip(rgb, 0.0, 1.0)
    byte_img.pixels.foreach_set(rgba[::-1].ravel())
    stored = np.empty(size[0] * size[1] * 4, np.float32)
    byte_img.pixels.foreach_get(stored)
    bpy.data.images.remove(byte_img)
    return np.clip(np.round(stored.reshape(size[1], size[0], 4)[::-1, :, :3] * 255.0), 0, 255).astype(np.uint8)


def compare_with_before(shot, photo=None):
    """The shot's photo mesh against the one the code before issue 30 built from the same scene folder."""
    rc = shot.realcam
    folder = paths.resolve(rc.scene_folder)
    with open(os.path.join(folder, "intrinsics.json")) as fh:
        K = camera.Intrinsics.from_dict(json.load(fh))
    depth = np.load(os.path.join(folder, "depth.npy")).astype(np.float32)
    rgb = read_png_old_way(os.path.join(folder, "image.png"))
    mpu = rc.metres_per_unit or 1.0
    depth_bu = depth if mpu == 1.0 else (depth / np.float32(mpu)).astype(np.float32)
    old = before_issue_30.write_mesh(bpy, "before issue 30", rgb, depth_bu, K, 1.0 + rc.depth_edge / 100.0)
    new = rc.photo_mesh.data
    a, b = mesh_arrays(new), mesh_arrays(old)
    out = {
        "vertices": len(new.vertices),
        "faces": len(new.polygons),
        "faces_before": len(old.polygons),
        "all_faces": (K.width - 1) * (K.height - 1),
        "unequal": sorted(k for k in b if a[k].shape != b[k].shape or not np.array_equal(a[k], b[k])),
        "attributes": sorted((x.name, x.domain, x.data_type) for x in new.attributes),
        "attributes_before": sorted((x.name, x.domain, x.data_type) for x in old.attributes),
        "valid": not new.validate(verbose=False),  # validate() returns True when it had to fix something
        "materials": [m.name for m in new.materials],
        "building_mark": "realcam_building" in new,
    }
    if photo is not None:
        out["image_as_before"] = bool(np.array_equal(rgb, old_local_image(photo, (K.width, K.height))))
    bpy.data.meshes.remove(old)
    return out


def counts():
    return {
        k: len(getattr(bpy.data, k))
        for k in ("scenes", "meshes", "materials", "objects", "cameras", "collections", "images")
    }


def folders():
    root = os.path.join(jobs, "scenes")
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


# Blender's own float -> byte rule, which the import now applies itself before writing image.png: the values a
# byte image stores, around every rounding edge.
edges = ((np.arange(256) + 0.5) / 255).astype(np.float32).view(np.int32)
probe = (edges[None, :] + np.arange(-3, 4)[:, None]).astype(np.int32).view(np.float32).ravel()
probe = np.concatenate([probe, np.float32([-1.0, 0.0, 1.0, 2.0])])
probe = np.concatenate([probe, np.zeros((-len(probe)) % 4, np.float32)])
byte_img = bpy.data.images.new("probe", len(probe) // 4, 1, alpha=True)
byte_img.colorspace_settings.name = "Non-Color"
byte_img.pixels.foreach_set(probe)
stored = np.empty_like(probe)
byte_img.pixels.foreach_get(stored)
bpy.data.images.remove(byte_img)
png_write = harness.module(pkg, "realcam_core.addon_only.png_write")
report["byte_rule"] = bool(
    np.array_equal(np.round(stored * 255).astype(np.uint8), png_write.bytes_from_unit_floats(probe))
)

base = dict(
    filepath=os.path.join(samples, "room.jpg"),
    depth_map=os.path.join(samples, "room_depth.png"),
    focal_px=cam_info["fx"] * 1280 / 832,
    model="wan2.2-ti2v-5b",  # known to the add-on: its sizes are checked without a backend
    width=1280,
    height=704,
    frames=17,
    depth_model="",
    replace=False,
)

# 1. The sample at 1280x704 with its depth map: the structure of the slices, and the mesh as before.
before = counts()
task, steps, ticks = start_import(**base)
run_to_end(task, steps, ticks)
shot = bpy.context.scene
report["sample"] = {
    "error": task.error,
    "stage": task.stage,
    "steps": steps,
    "ticks": ticks,
    "threads": threads[:],
    "shot": shot.name,
    "window_scene": bpy.context.window.scene.name,
    "mesh": compare_with_before(shot, base["filepath"]),
    "counts_before": before,
    "counts_after": counts(),
}
report["build_messages"] = sorted({s["message"] for s in steps if s["message"].startswith("writing")})

# 2. A photo of noise fitted to 256x160, its own depth with steps and holes, in a centimetre scene.
threads.clear()
bpy.context.window.scene = bpy.data.scenes["Scene"]
bpy.context.scene.unit_settings.scale_length = 0.01
noise = dict(base, filepath=os.path.join(inputs, "noise.png"), depth_map=os.path.join(inputs, "steps.npy"))
noise.update(width=256, height=160, focal_px=200.0)
task, steps, ticks = start_import(**noise)
run_to_end(task, steps, ticks)
report["noise"] = {
    "error": task.error,
    "metres_per_unit": bpy.context.scene.realcam.metres_per_unit,
    "mesh": compare_with_before(bpy.context.scene, noise["filepath"]),
    "threads": threads[:],
}
bpy.context.window.scene = bpy.data.scenes["Scene"]
bpy.context.scene.unit_settings.scale_length = 1.0

# 3. Depth from the backend (tiny-depth): the scene folder the backend wrote, read in slices.
threads.clear()
# (every option given: Blender hands an operator its last-used values for the ones left out)
backend = dict(base, depth_map="", focal_px=0.0, width=320, height=192, depth_model="tiny-depth")
task, steps, ticks = start_import(**backend)
run_to_end(task, steps, ticks)
report["backend"] = {"error": task.error, "mesh": compare_with_before(bpy.context.scene), "threads": threads[:]}
bpy.context.window.scene = bpy.data.scenes["Scene"]

# 4. Cancel while the mesh is half written, then while a worker thread fits the photo: nothing stays behind.
cancels = {}
for when in ("mesh", "worker"):
    before, before_folders = counts(), folders()
    task, steps, ticks = start_import(**base)

    def points_written(steps=steps):
        return any(w[0] == "position" for s in steps for w in s["written"])

    def in_worker(task=task):  # fitting the photo (the photo file's own check runs in a worker before it)
        return task._waiting is not None and task._waiting[0] == "thread" and task.stage == "depth_map"

    run_to_end(task, steps, ticks, until=points_written if when == "mesh" else in_worker)
    half = building()
    cancels[when] = {"stage_at_cancel": task.stage, "mesh_half_written": half is not None and len(half.vertices) > 0}
    task.cancel()
    run_to_end(task, steps, ticks)
    cancels[when].update(
        stage=task.stage,
        error=task.error,
        counts_before=before,
        counts_after=counts(),
        folders_before=before_folders,
        folders_after=folders(),
        orphan_meshes=[m.name for m in bpy.data.meshes if m.users == 0],
        window_scene=bpy.context.window.scene.name,
    )
report["cancel"] = cancels

# 5. One undo takes a whole import away, and one redo brings it back.
bpy.ops.ed.undo_push(message="back to the artist's scene")  # as a click in the scene list would leave it
before = counts()
task, steps, ticks = start_import(**dict(base, width=640, height=352))
run_to_end(task, steps, ticks)
made = bpy.context.scene.name
after = counts()
bpy.ops.ed.undo()
undone = {"counts": counts(), "shot": made in bpy.data.scenes, "window_scene": bpy.context.window.scene.name}
bpy.ops.ed.redo()
redone = {"counts": counts(), "shot": made in bpy.data.scenes}
if made in bpy.data.scenes:
    redone["faces"] = len(bpy.data.scenes[made].realcam.photo_mesh.data.polygons)
report["undo"] = {"error": task.error, "before": before, "after": after, "undone": undone, "redone": redone}

report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
