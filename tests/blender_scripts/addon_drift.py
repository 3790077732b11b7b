"""See the drift: compare a take with its preview in the edit, and its ghost camera, without a backend.

The shot comes from the sample photo (the artist's own depth map); its camera is keyed along a known
dolly and pan; the take's strip is a real MP4 and its camera_accuracy holds that same track as COLMAP
would report it (relative, in arbitrary SfM units, a frame not registered), so the ghost must land on the
artist's camera at every registered frame.

Usage: python addon_drift.py ZIP SAMPLES_DIR VIDEO OUT_JSON WORK_DIR
"""

import json
import math
import os
import sys

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, samples, video, out_json, work = sys.argv[1:6]
pkg = harness.start(zip_path)
p = harness.prefs(pkg)
p.auto_start, p.job_folder = False, os.path.join(work, "jobs")
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
seq, camera_track, shots = (harness.module(pkg, n) for n in ("edit.sequencer", "shot.camera_track", "shot.shots"))
FRAMES = 5
res, err = harness.import_room(samples, frames=FRAMES)
assert err is None, err
shot = bpy.context.scene
cam = shot.camera
f0 = shot.frame_start
frames = list(range(f0, f0 + FRAMES))
start_loc, start_rot = cam.location.copy(), cam.rotation_euler.copy()
for k, f in enumerate(frames):  # dolly forward and pan: a move COLMAP could recover
    cam.location = start_loc + cam.matrix_world.to_3x3().col[2] * (-0.2 * k)
    cam.rotation_euler = (start_rot[0], start_rot[1], start_rot[2] + math.radians(3 * k))
    cam.keyframe_insert("location", frame=f)
    cam.keyframe_insert("rotation_euler", frame=f)

# The preview: PNG frames on disk, as the preview flow leaves them.
pv = os.path.join(work, "preview")
os.makedirs(pv)
names = []
for k in range(FRAMES):
    img = bpy.data.images.new(f"pv{k}", 128, 96, alpha=True)
    img.pixels = np.full(128 * 96 * 4, 0.2 + 0.1 * k, np.float32)
    img.filepath_raw, img.file_format = os.path.join(pv, f"{k:04d}.png"), "PNG"
    img.save()
    names.append(f"{k:04d}.png")
edit = shots.edit_scene(shot)
seq.set_preview(edit, shot, pv, names)

gen_gen = camera_track.read_track(shots.ShotRef(shot), frames)
try:
    while True:
        next(gen_gen)
except StopIteration as done:
    _, rel = done.value
registered = [0, 1, 3, 4]  # frame 2 not registered
rec = np.array(rel)[registered]
rec[:, :3, 3] *= 3.7  # SfM units
acc = {
    "RotErr": 0.01,
    "TransErr": 0.02,
    "CamMC": 0.03,
    "frames": FRAMES,
    "registered": len(registered),
    "registered_frames": registered,
    "recovered_c2w": rec.tolist(),
    "metric_scale": None,
    "model": "global",
}
settings = {"model": "tiny", "seed": 1, "frames": [frames[0], frames[-1]], "camera_accuracy": acc}
name = "take one"
strip = seq.add_take(edit, shot, video, frames[0], FRAMES, name, settings)
item = shot.realcam.takes.add()
item.name, item.folder, item.settings = strip.name, work, json.dumps(settings)
shot.realcam.takes_index = 0
report = {"panel": harness.panel_lines(pkg, shot)}


def kinds():
    return sorted((s.name, s.get("realcam_kind"), s.type) for s in harness.strips(edit))


for mode in ("DIFFERENCE", "BLEND", "SIDE_BY_SIDE", "OFF"):
    r, e = harness.gui_op(bpy.ops.realcam.take_compare, mode=mode)
    fx = [s for s in harness.strips(edit) if s.get("realcam_kind") == "compare"]
    out = {"result": sorted(r), "error": e, "strips": kinds()}
    if fx:
        s = fx[0]
        ins = [getattr(s, a, None) for a in ("input_1", "input_2")]
        out.update(
            inputs=[i.get("realcam_kind") if i else None for i in ins],
            blend=getattr(s, "blend_effect", None),
            fader=s.effect_fader,
            span=[s.frame_final_start, s.frame_final_end],
        )
    out["transforms"] = {
        s.get("realcam_kind"): [s.transform.scale_x, s.transform.offset_x, s.blend_type]
        for s in harness.strips(edit)
        if s.get("realcam_kind") in ("preview", "take")
    }
    report[mode] = out

# As in an interactive Blender: the button starts a task and returns; the timer reads the camera a frame a tick.
tasks = harness.module(pkg, "tasks")
tasks.RUNNER.blocking = False
r, e = harness.gui_op(bpy.ops.realcam.take_ghost)
interactive = {"result": sorted(r), "error": e, "made_at_once": bpy.data.objects.get(f"{name} ghost") is not None}
task = tasks.RUNNER.last(shot.realcam.shot_id)
tasks.RUNNER.tasks = [t for t in tasks.RUNNER.tasks if not t.done]  # the ghost's task alone, so that a
ticks, stages = 0, []
while task is not None and not task.done and ticks < 1000:
    tasks.RUNNER.pump(budget=0.0)  # tick without time to spare runs exactly one step of it: each one is seen
    ticks += 1
    stages.append((task.stage, task.step, task.total))
interactive.update(ticks=ticks, stages=stages, end=task.stage, message=task.message, task_error=task.error)
tasks.RUNNER.blocking = True
report["ghost_interactive"] = interactive
report["panel_ghost"] = harness.panel_lines(pkg, shot)
# Again, headless (blocking): the take's ghost is replaced, not doubled.
r, e = harness.gui_op(bpy.ops.realcam.take_ghost)
report["ghost"] = {"result": sorted(r), "error": e}
report["ghost"]["count"] = sum(ob.get("realcam_kind") == "ghost" for ob in bpy.data.objects)
ghost = bpy.data.objects.get(f"{name} ghost")


def ghost_gaps(ghost):
    """Per take frame: the ghost's distance (Blender units) and angle (degrees) from the artist's camera."""
    gaps, angles = {}, {}
    for k in range(FRAMES):
        shot.frame_set(frames[k])
        dg = shots.depsgraph(shot)
        a = np.array(cam.evaluated_get(dg).matrix_world)
        b = np.array(ghost.evaluated_get(dg).matrix_world)
        gaps[k] = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
        ra, rb = a[:3, :3] / np.linalg.norm(a[:3, :3], axis=0), b[:3, :3] / np.linalg.norm(b[:3, :3], axis=0)
        angles[k] = float(np.degrees(np.arccos(np.clip((np.trace(ra.T @ rb) - 1) / 2, -1, 1))))
    return gaps, angles


if ghost is not None:
    gaps, angles = ghost_gaps(ghost)
    report["ghost"].update(
        gaps=gaps,
        angles=angles,
        scaled_by=ghost.get("realcam_scaled_by"),
        scores=[ghost.get(k) for k in ("RotErr", "TransErr", "CamMC")],
        in_shot=ghost.name in shot.objects,
        lens=[ghost.data.lens, cam.data.lens],
    )
# A metric take (the eval knew the scale) made before the shot's scale was calibrated x2: its ghost is put into
# the shot's metres now, so it still lies on the (now twice as long) move.
metric = {**settings, "depth_scale": 1.0, "camera_accuracy": {**acc, "metric_scale": 1.0 / 3.7}}
item.settings = json.dumps(metric)
shot.realcam.scale_factor = 2.0
r, e = harness.gui_op(bpy.ops.realcam.apply_scale, source="FACTOR")
report["calibrated"] = {"result": sorted(r), "error": e, "depth_scale": shot.realcam.depth_scale}
r, e = harness.gui_op(bpy.ops.realcam.take_ghost)
ghost = bpy.data.objects[f"{name} ghost"]
gaps, angles = ghost_gaps(ghost)
report["calibrated"].update(
    ghost=sorted(r), error_ghost=e, scaled_by=ghost.get("realcam_scaled_by"), gaps=gaps, angles=angles
)
report["calibrated"]["end_offset"] = float(
    np.linalg.norm(np.array(camera_track.evaluated_matrix(shot, cam, frames[-1]).translation) - np.array(start_loc))
)
# A take without scores says so.
item.settings = json.dumps({**settings, "camera_accuracy": None})
r, e = harness.gui_op(bpy.ops.realcam.take_ghost)
report["no_scores"] = {"result": sorted(r), "error": e}
# Deleting the take takes its ghost with it (and the comparison made on its strip).
harness.gui_op(bpy.ops.realcam.take_compare, mode="DIFFERENCE")
ghost_data = bpy.data.objects[f"{name} ghost"].data.name
r, e = harness.gui_op(bpy.ops.realcam.take_delete, confirm=True)
report["delete"] = {
    "result": sorted(r),
    "error": e,
    "ghosts": [ob.name for ob in bpy.data.objects if ob.get("realcam_kind") == "ghost"],
    "ghost_data_left": ghost_data in bpy.data.cameras,
    "strips": kinds(),
}
harness.dump(out_json, report)
