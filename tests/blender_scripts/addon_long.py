"""Long shots, loops and transitions from Blender's default startup file (cube, light, camera), against a real
backend whose tiny model makes 17 frames at once: a 240-frame shot (1001-1240 at 24 fps) as one take, a loop whose
camera path is closed by the add-on, and a transition between the two shots placed between them in the edit.

Usage: python addon_long.py ZIP BACKEND_URL SAMPLES_DIR INPUTS_DIR OUT_JSON WORK_DIR
"""

import json
import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, samples, inputs, out_json, work = sys.argv[1:7]
pkg = harness.start(zip_path, empty=False)
p = harness.prefs(pkg)
p.backend_url, p.auto_start = url, False
p.job_folder = os.path.join(work, "jobs")
p.preview_engine = "WORKBENCH"  # 240 frames: the faster renderer on a shared CPU (Eevee is tested elsewhere)
report = {"startup": sorted(o.name for o in bpy.context.scene.objects)}
cam_info = json.load(open(os.path.join(samples, "room_camera.json")))
source = bpy.context.scene
source.frame_start, source.frame_end, source.frame_current = 1001, 1240, 1001
source.render.fps, source.render.fps_base = 24, 1.0
res, err = harness.run_op(bpy.ops.realcam.backend_status, start=False)
report["backend"] = {"result": sorted(res), "error": err}


def import_shot(photo, depth, frames):
    res, err = harness.run_op(
        bpy.ops.realcam.import_photo,
        filepath=photo,
        depth_map=depth,
        focal_px=cam_info["fx"],
        model="tiny",
        width=64,
        height=64,
        frames=frames,
    )
    assert err is None, err
    return bpy.context.scene


def strips_of(scene):
    edit = scene.realcam.edit_scene
    return [
        {
            "name": s.name,
            "type": s.type,
            "start": s.frame_final_start,
            "duration": s.frame_final_duration,
            "kind": s.get("realcam_kind"),
            "settings": json.loads(s["realcam"]) if s.get("realcam") else None,
        }
        for s in harness.strips(edit)
        if s.get("realcam_shot") == scene.realcam.shot_id
    ]


def op_in(scene, op, **kw):
    """An operator run in a shot (as its panel's button there)."""
    with bpy.context.temp_override(scene=scene):
        res, err = harness.run_op(op, **kw)
    return {"result": sorted(res), "error": err}


def generate(scene):
    scene.realcam.steps = 2
    return {**op_in(scene, bpy.ops.realcam.generate), "strips": strips_of(scene)}


camera_track = harness.module(pkg, "shot.camera_track")


def camera_at(scene, frame):
    return [list(r) for r in camera_track.evaluated_matrix(scene, scene.camera, frame)]


# ---------------------------------------------------------------- a 240-frame shot, one take
long_shot = import_shot(os.path.join(samples, "room.jpg"), os.path.join(samples, "room_depth.png"), 240)
report["long_import"] = {"frames": [long_shot.frame_start, long_shot.frame_end], "fps": long_shot.render.fps}
op_in(long_shot, bpy.ops.realcam.preset, kind="DOLLY_IN")
report["long_panel"] = harness.panel_lines(pkg, long_shot)
report["long"] = generate(long_shot)
report["long_name"] = long_shot.name

# ---------------------------------------------------------------- a loop
loop_shot = import_shot(os.path.join(inputs, "room_flip.png"), os.path.join(inputs, "room_flip_depth.npy"), 33)
op_in(loop_shot, bpy.ops.realcam.preset, kind="TRUCK_RIGHT", duration=16)  # out over 16 frames, then held
loop_shot.realcam.loop = True
report["loop_panel_open"] = harness.panel_lines(pkg, loop_shot)
report["loop_open"] = generate(loop_shot)  # the path is not closed: refused, saying what to do
report["close_loop"] = op_in(loop_shot, bpy.ops.realcam.close_loop)
start = loop_shot.frame_start
report["loop_cameras"] = {
    "first": camera_at(loop_shot, start),
    "middle": camera_at(loop_shot, start + 16),
    "last": camera_at(loop_shot, loop_shot.frame_end),
}
report["loop"] = generate(loop_shot)
report["loop_name"] = loop_shot.name

# ---------------------------------------------------------------- a transition from the loop shot to the long shot
loop_shot.realcam.transition_frames = 25
made = op_in(loop_shot, bpy.ops.realcam.transition, target=long_shot.realcam.shot_id)
between = next(s for s in bpy.data.scenes if s.realcam.transition_to == long_shot.realcam.shot_id)
report["transition_made"] = {
    **made,
    "scene": between.name,
    "frames": [between.frame_start, between.frame_end],
    "objects": sorted(o.name for o in between.objects),
    "instances": sorted(o.instance_collection.name for o in between.objects if o.instance_collection),
    "long_strips_after_make": strips_of(long_shot),
}
report["transition_panel"] = harness.panel_lines(pkg, between)
to = next(o for o in between.objects if o.get("realcam_placement") == "to")
to.location.x += 0.5  # the artist places the second photo: the camera's end no longer matches until re-keyed
report["transition_stale"] = generate(between)
report["transition_ends"] = op_in(between, bpy.ops.realcam.transition_ends)
report["transition_end_camera"] = camera_at(between, between.frame_end)
report["transition_b_photo"] = [list(r) for r in harness.module(pkg, "shot.transition").photo_pose(long_shot, to)]
report["transition"] = generate(between)
# The preview renders both photos' meshes in the transition's one world: its first frame shows the first photo,
# its last the second (PSNR over covered pixels against each shot's photo).
paths = harness.module(pkg, "paths")
frame_files = harness.module(pkg, "preview.render").frame_files(between)
preview = [harness.pixels(os.path.join(paths.resolve(between.realcam.preview_folder), frame_files[i])) for i in (0, -1)]
photos = {
    name: harness.pixels(os.path.join(paths.resolve(s.realcam.scene_folder), "image.png"))
    for name, s in (("from", loop_shot), ("to", long_shot))
}
report["transition_preview_psnr"] = {
    f"{which}_vs_{name}": harness.psnr(px, photo)
    for which, px in zip(("first", "last"), preview, strict=True)
    for name, photo in photos.items()
}
report["long_strips_after_transition"] = strips_of(long_shot)
report["loop_strips_after_transition"] = strips_of(loop_shot)
report["deprecations"] = harness.deprecations()
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(work, "long.blend"))
harness.dump(out_json, report)
