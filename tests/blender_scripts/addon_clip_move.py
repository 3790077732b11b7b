"""Camera move from clip in Blender's default startup file, through the interactive path, against a real backend.

The photo (samples/room.jpg with its true depth) is imported as a shot; clips rendered with known cameras and
metric depth (textured_moves.py) are tracked by the backend and keyed on the shot's camera. For every shot frame
the script records the camera as Blender evaluates it before and after the move (OpenCV c2w, metres), so the test
can check the move on top of whatever the camera did before (a rig, earlier keys) against the downloaded move and
against the true track; every tick of the add-on's timer is timed (the main thread's share). Cases: a clip that
cannot be tracked and two that are no video (the camera untouched), a cancel while the backend tracks (nothing
left anywhere), the orbit in metres on a plain camera (then undo and redo), then in a studio's file (frame 1001,
25 fps, centimetres) a second shot whose camera has a Track To whose target moves (keys on the "RealCam move"
empty), calibrated x1.25: the orbit (then undo and redo), and a dolly without its lens at relative scale on top,
its frames at 50 fps (the panel's lines and warnings).

Usage: python addon_clip_move.py ZIP BACKEND_URL SAMPLES_DIR RENDERS_DIR OUT_JSON WORK_DIR
"""

import json
import os
import sys
import time

import bpy
import numpy as np
from mathutils import Vector
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, samples, renders, out_json, work = sys.argv[1:7]
pkg = harness.start(zip_path, empty=False)
tasks, shots, fixes = (harness.module(pkg, m) for m in ("tasks", "shot.shots", "shot.fixes"))
core_camera = harness.module(pkg, "realcam_core.camera")
clip_move = harness.module(pkg, "realcam_core.addon_only.clip_move")
Client = harness.module(pkg, "realcam_core.client").Client
tasks.RUNNER.blocking = False  # an interactive Blender: operators return, the timer does the work
p = harness.prefs(pkg)
p.backend_url, p.auto_start, p.job_folder = url, False, os.path.join(work, "jobs")
report = {"startup": sorted(o.name for o in bpy.context.scene.objects)}
bpy.ops.ed.undo_push(message="file opened")


def pump_timed(task, until=None, timeout=900):
    """harness.pump, timing each tick of the add-on's timer: the main thread's share of the work (Blender is frozen
    for as long as a tick runs). The longest tick, in seconds."""
    longest = 0.0
    deadline = time.monotonic() + timeout
    while not (until() if until else task.done):
        assert time.monotonic() < deadline, f"timed out: {task.stage} {task.message}"
        t0 = time.perf_counter()
        with bpy.context.temp_override(window=None):
            interval = tasks.timer()
        longest = max(longest, time.perf_counter() - t0)
        time.sleep(min(interval, 0.05))
    return longest


def run(op, **kw):
    """A button press, then the timer until the task it started ends."""
    before = harness.last_task(pkg)
    t0 = time.perf_counter()
    res, err = harness.gui_op(op, **kw)
    press_s = time.perf_counter() - t0
    task = harness.last_task(pkg)
    started = task is not None and task is not before
    returned_running = started and not task.done
    longest = pump_timed(task) if started else 0.0
    return {
        "result": sorted(res),
        "error": err or (task.error if started else None),
        "stage": task.stage if started else None,
        "message": task.message if started else None,
        "returned_while_running": returned_running,
        "main_thread_s": max(press_s, longest),
    }


CURRENT = {}  # the shot the cases run in


def shot():
    return bpy.data.scenes[CURRENT["shot"]]


def world_track(scene):
    """OpenCV c2w in metres of the scene camera at every frame of the shot, as Blender evaluates it."""
    unit = shots.metres_per_unit(scene)
    out = []
    current = scene.frame_current
    for f in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(f)
        cam = scene.camera.evaluated_get(bpy.context.evaluated_depsgraph_get())
        out.append(core_camera.opencv_c2w_from_blender(np.array(cam.matrix_world), unit).tolist())
    scene.frame_set(current)
    return out


def camera_state(scene):
    cam = scene.camera
    ad = cam.animation_data
    return {
        "camera": cam.name,
        "animated": bool(ad and ad.action),
        "constraints": [c.name for c in cam.constraints],
        "matrix": [list(r) for r in cam.matrix_world],
        "objects": sorted(o.name for o in scene.objects),
    }


def clip_case(name, clip, **options):
    """Run Camera move from clip with options; what the camera did before and after, and the panel."""
    scene = shot()
    before = world_track(scene)
    out = run(bpy.ops.realcam.move_from_clip, filepath=clip, **options)
    scene = shot()
    info = json.loads(scene.realcam.clip_move) if scene.realcam.clip_move else None
    moved = None
    if info and out["error"] is None:
        folder = bpy.path.abspath(info["folder"])
        moved = clip_move.load(os.path.join(folder, "move.txt"), os.path.join(folder, "move.json"))
    holder = bpy.data.objects.get(info["holder"]) if info else None
    report[name] = {
        **out,
        "before": before,
        "after": world_track(scene),
        "info": info,
        "move_times": moved.times.tolist() if moved else None,
        "move_rel": moved.rel.tolist() if moved else None,
        "move_report": moved.report if moved else None,
        "fps": scene.render.fps / scene.render.fps_base,
        "frames": [scene.frame_start, scene.frame_end],
        "median_depth": scene.realcam.median_depth,
        "holder": holder.name if holder else None,
        "holder_type": holder.type if holder else None,
        "camera_state": camera_state(scene),
        "panel": harness.panel_lines(pkg, scene),
        "clip_lines": [list(x) for x in harness.module(pkg, "shot.clip_move").panel_lines(scene)],
        "tracks_left": [t["id"] for t in Client(url).tracks()],
        "track_folders": sorted(os.listdir(os.path.join(work, "jobs", "tracks"))),
    }
    return report[name]


# The photo as a shot: its true depth, its lens; 21 frames at the startup file's 24 fps.
cam_info = json.load(open(os.path.join(samples, "room_camera.json")))
room_args = {
    "filepath": os.path.join(samples, "room.jpg"),
    "depth_map": os.path.join(samples, "room_depth.png"),
    "focal_px": cam_info["fx"],
    "model": "tiny",
    "width": 128,
    "height": 96,
    "frames": 21,
}
report["startup_scene"] = bpy.context.scene.name
report["import"] = run(bpy.ops.realcam.import_photo, **room_args)
scene = bpy.context.scene
report["shot"] = {"name": scene.name, "frames": [scene.frame_start, scene.frame_end], "camera": scene.camera.name}
CURRENT["shot"] = scene.name
untouched = camera_state(scene)
report["untouched"] = untouched

# A clip that cannot be tracked (noise): the task says why, the camera is untouched.
noise = os.path.join(work, "noise")
os.makedirs(noise, exist_ok=True)
rng = np.random.default_rng(0)
for i in range(6):
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(os.path.join(noise, f"{i:04d}.png"))
clip_case("noise", os.path.join(noise, "0000.png"), fov=60.0, relative=True)

# Clips that are no video: a text file (refused at the press, nothing starts), and text named .mp4 (the backend
# reads it and refuses it; the task says so). The camera, the backend and the folder as they were.
notes = os.path.join(work, "notes.txt")
with open(notes, "w") as fh:
    fh.write("shot notes, not a clip")
fake = os.path.join(work, "fake.mp4")
with open(fake, "w") as fh:
    fh.write("not a video either")
clip_case("not_video_ext", notes)
clip_case("not_video", fake)

# A cancel while the backend reconstructs: nothing is keyed, nothing stays on the backend or on disk.
orbit = os.path.join(renders, "orbit")
res, err = harness.gui_op(
    bpy.ops.realcam.move_from_clip,
    filepath=os.path.join(orbit, "frames", "0000.png"),
    fov=60.0,
    depth_map=os.path.join(orbit, "depth", "0000.exr"),
)
task = harness.last_task(pkg)
cancel_longest = pump_timed(task, until=lambda: task.done or "structure from motion" in task.message, timeout=600)
report["cancel_seen"] = {"stage": task.stage, "message": task.message, "panel": harness.panel_lines(pkg, shot())}
with bpy.context.temp_override(scene=shot()):
    bpy.ops.realcam.cancel()
cancel_longest = max(cancel_longest, pump_timed(task, timeout=120))
report["cancel"] = {
    "main_thread_s": cancel_longest,
    "stage": task.stage,
    "error": task.error,
    "camera_state": camera_state(shot()),
    "tracks_left": [t["id"] for t in Client(url).tracks()],
    "track_folders": sorted(os.listdir(os.path.join(work, "jobs", "tracks"))),
}

# The orbit in metres on the plain camera: lens and the true depth of frame 0 given.
clip_case(
    "metric", os.path.join(orbit, "frames", "0000.png"), fov=60.0, depth_map=os.path.join(orbit, "depth", "0000.exr")
)
bpy.ops.ed.undo()
report["undo"] = {"camera_state": camera_state(shot()), "clip_move": shot().realcam.clip_move}
bpy.ops.ed.redo()
report["redo"] = {"camera_state": camera_state(shot()), "after": world_track(shot())}
bpy.ops.ed.undo()

# A studio's file: frame 1001, 25 fps, centimetres. The photo again as a second shot there; its camera aims at an
# empty that drifts sideways (Track To); the shot is calibrated x1.25. The orbit's frames come at the scene's
# rate (the default for frames): shot frame 1001 + k shows clip frame k.
studio = bpy.data.scenes[report["startup_scene"]]
studio.frame_start, studio.frame_end, studio.frame_current = 1001, 1100, 1001
studio.render.fps, studio.render.fps_base = 25, 1.0
us = studio.unit_settings
us.system, us.scale_length, us.length_unit = "METRIC", 0.01, "CENTIMETERS"
bpy.context.window.scene = studio
report["import_studio"] = run(bpy.ops.realcam.import_photo, **room_args)
scene = bpy.context.scene
report["studio_shot"] = {
    "name": scene.name,
    "frames": [scene.frame_start, scene.frame_end],
    "camera": scene.camera.name,
    "unit_scale": scene.unit_settings.scale_length,
}
CURRENT["shot"] = scene.name
report["studio_untouched"] = camera_state(scene)
target = bpy.data.objects.new("aim", None)
scene.collection.objects.link(target)
cam = scene.camera
start_world = cam.matrix_world.copy()
unit = shots.metres_per_unit(scene)
ahead = start_world @ Vector((0.0, 0.0, -5.0 / unit))
target.location = ahead
target.keyframe_insert("location", frame=scene.frame_start)
target.location = ahead + start_world.to_quaternion() @ Vector((1.0 / unit, 0.0, 0.0))
target.keyframe_insert("location", frame=scene.frame_end)
con = cam.constraints.new("TRACK_TO")
con.target, con.track_axis, con.up_axis = target, "TRACK_NEGATIVE_Z", "UP_Y"
report["scale_fix"] = fixes.apply_scale(scene, 1.25)
bpy.ops.ed.undo_push(message="the rig and the calibration")
clip_case(
    "rig", os.path.join(orbit, "frames", "0000.png"), fov=60.0, depth_map=os.path.join(orbit, "depth", "0000.exr")
)
bpy.ops.ed.undo()
report["rig_undo"] = {"camera_state": camera_state(shot()), "after": world_track(shot())}
bpy.ops.ed.redo()

# A dolly without its lens, at relative scale, added on top of the orbit on the same rig; its frames at 50 fps
# (given): a shot frame is every other clip frame.
clip_case("relative", os.path.join(renders, "dolly_in", "frames", "0000.png"), relative=True, clip_fps=50.0)

report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
