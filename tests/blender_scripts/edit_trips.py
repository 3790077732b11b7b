"""The edit as an artist meets it, from the default startup file, with takes made by a real backend (tiny model).

Shot A (the file's 24 fps) gets two takes. Compare shows the first take against the preview, in each mode, and
then the second side by side: every mode must show exactly the chosen take and the preview, whatever else the
edit holds, and Off must give every strip back exactly. Delete take, undo, redo, undo: the take's folder comes
back with the take. Shot B is imported after the file went to 25 fps and gets a take: it must play at 25 fps,
frame for frame. Then shot B is deleted with the panel's Delete shot (its strips go with it, one undo brings all
back) and with Blender's own Delete Scene (the edit's panel names the strips left behind and removes them). A
take whose folder was deleted outside Blender is marked in the list. Opening a file empties this session's trash
(and what a crashed one left a day ago).

Usage: python edit_trips.py ZIP BACKEND_URL SAMPLES_DIR OUT_JSON WORK_DIR
"""

import hashlib
import json
import os
import shutil
import sys
import time

import bpy
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

zip_path, url, samples, out_json, work = sys.argv[1:6]
pkg = harness.start(zip_path, empty=False)
p = harness.prefs(pkg)
p.preview_engine = "WORKBENCH"  # the engine is not what this script checks: see addon_studio.py
p.backend_url, p.auto_start, p.job_folder = url, False, os.path.join(work, "jobs")
shots = harness.module(pkg, "shot.shots")
panel_takes = harness.module(pkg, "ui.panels.takes")
report = {"startup": sorted(o.name for o in bpy.context.scene.objects)}
source_name = bpy.context.scene.name
bpy.ops.ed.undo_push(message="file opened")

cam_info = json.load(open(os.path.join(samples, "room_camera.json")))
photo = dict(
    filepath=os.path.join(samples, "room.jpg"),
    depth_map=os.path.join(samples, "room_depth.png"),
    focal_px=cam_info["fx"],
    model="tiny",
    width=128,
    height=96,
    frames=9,
)


def pixels(path):
    img = bpy.data.images.load(path, check_existing=False)
    try:
        w, h = img.size
        buf = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(buf)
        return buf.reshape(h, w, 4)[::-1].copy()
    finally:
        bpy.data.images.remove(img)


def make_shot(seeds):
    """Import Photo from the window's scene, a dolly, a take per seed (each Generate as its button runs it; a pan
    added before each take after the first)."""
    res, err = harness.gui_op(bpy.ops.realcam.import_photo, **photo)
    assert err is None, err
    name = bpy.context.scene.name
    res, err = harness.gui_op(bpy.ops.realcam.preset, kind="DOLLY_IN", amount=0.5)
    assert err is None, err
    for i, seed in enumerate(seeds):
        if i:  # the tiny model's video follows the preview, hardly the seed: a pan makes the next take differ
            res, err = harness.gui_op(bpy.ops.realcam.preset, kind="PAN_LEFT", amount=8.0)
            assert err is None, err
        s = bpy.data.scenes[name]
        s.realcam.steps, s.realcam.seed = 2, seed
        res, err = harness.gui_op(bpy.ops.realcam.generate)
        assert err is None, err
    return name


def strip_state(edit):
    """Everything Compare may touch on the edit's strips, to compare before and after."""
    return sorted(
        [
            s.name,
            s.channel,
            s.mute,
            s.blend_type,
            round(s.blend_alpha, 5),
            [
                round(v, 5)
                for v in (s.transform.scale_x, s.transform.scale_y, s.transform.offset_x, s.transform.offset_y)
            ],
            [s.frame_final_start, s.frame_final_end],
            sorted(s.keys()),
        ]
        for s in harness.strips(edit)
    )


def render_edit(edit, frame, tag):
    """F12 of the edit at a frame. From the edit itself: a still render of another scene than the window's
    renders it at the window scene's frame."""
    window = bpy.context.window
    shown = window.scene
    window.scene = edit
    try:
        edit.frame_set(frame)
        edit.render.filepath = os.path.join(work, tag)
        edit.render.use_file_extension = True
        if edit.render.image_settings.file_format != "PNG":  # new scenes render PNG already (5.0: media types)
            edit.render.image_settings.file_format = "PNG"
        bpy.ops.render.render(write_still=True, scene=edit.name)
    finally:
        window.scene = shown
    return pixels(os.path.join(work, tag + ".png"))


def solo(edit, names, frame, tag):
    """The edit rendered with only the named strips playing (the test's own mutes, put back after)."""
    was = {s.name: s.mute for s in harness.strips(edit)}
    for s in harness.strips(edit):
        s.mute = s.name not in names
    try:
        return render_edit(edit, frame, tag)
    finally:
        for s in harness.strips(edit):
            s.mute = was[s.name]


def half(img):
    """2x2 box average: a strip shown at half size."""
    h, w = img.shape[:2]
    return img[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))


def err(a, b, mask=None):
    d = np.abs(a[..., :3] - b[..., :3])
    return round(float((d if mask is None else d[mask]).mean()), 5)


# ---------------------------------------------------------------- shot A at 24 fps, two takes
A = make_shot([1, 2])
sa = bpy.data.scenes[A]
edit = sa.realcam.edit_scene
edit.view_settings.view_transform = "Standard"  # the test's renders compare pixel values as the strips hold them
t1, t2 = (t.name for t in sa.realcam.takes)
preview_name = next(s.name for s in harness.strips(edit) if s.get("realcam_kind") == "preview")
mid = sa.frame_start + 4
ref = {
    "preview": solo(edit, {preview_name}, mid, "solo_preview"),
    t1: solo(edit, {t1}, mid, "solo_t1"),
    t2: solo(edit, {t2}, mid, "solo_t2"),
}
report["a"] = {
    "takes": [t1, t2],
    "videos": [
        hashlib.md5(open(os.path.join(bpy.path.abspath(t.folder), "video.mp4"), "rb").read()).hexdigest()
        for t in sa.realcam.takes
    ],
    "solo_differ": err(ref[t1], ref[t2]),
    "channels": {s.name: s.channel for s in harness.strips(edit)},
    "edit": edit.name,
    "edit_fps": edit.render.fps / edit.render.fps_base,
}

# ---------------------------------------------------------------- item 3: Compare with two takes
before = strip_state(edit)
compare = {}
h, w = ref["preview"].shape[:2]
for take, mode in ((t1, "DIFFERENCE"), (t1, "BLEND"), (t1, "SIDE_BY_SIDE"), (t2, "SIDE_BY_SIDE")):
    other = t2 if take == t1 else t1
    sa = bpy.data.scenes[A]
    sa.realcam.takes_index = [t.name for t in sa.realcam.takes].index(take)
    res, e = harness.gui_op(bpy.ops.realcam.take_compare, mode=mode)
    edit = bpy.data.scenes[A].realcam.edit_scene
    shown = render_edit(edit, mid, f"compare_{mode}_{take[-8:].replace(':', '')}")
    pv = ref["preview"]
    # Over the pixels the preview covers (where the preview has none, 4.2's colour mix keeps its transparency and
    # 4.5 shows the take).
    seen = pv[..., 3] > 0.99
    if mode == "DIFFERENCE":
        got = {"chosen": err(shown, np.abs(pv - ref[take]), seen), "other": err(shown, np.abs(pv - ref[other]), seen)}
    elif mode == "BLEND":
        got = {
            "chosen": err(shown, 0.5 * pv + 0.5 * ref[take], seen),
            "other": err(shown, 0.5 * pv + 0.5 * ref[other], seen),
        }
    else:  # the take at half size on the right half, the preview on the left, nothing else
        right = shown[h // 4 : h // 4 + h // 2, w // 2 :]
        left = shown[h // 4 : h // 4 + h // 2, : w // 2]
        band = np.concatenate([shown[: h // 4 - 1], shown[h // 4 + h // 2 + 1 :]])
        got = {
            "chosen": err(right, half(ref[take])),
            "other": err(right, half(ref[other])),
            "preview_left": err(left, half(pv)),
            "bands_max": round(float(band[..., :3].max()), 5),
        }
    compare[f"{mode} {'first' if take == t1 else 'second'}"] = {"result": sorted(res), "error": e, **got}
res, e = harness.gui_op(bpy.ops.realcam.take_compare, mode="OFF")
edit = bpy.data.scenes[A].realcam.edit_scene
compare["off"] = {"result": sorted(res), "error": e, "same": strip_state(edit) == before}
if not compare["off"]["same"]:
    compare["off"].update(before=before, after=strip_state(edit))
report["compare"] = compare


# ---------------------------------------------------------------- item 6: Delete take, undo, redo
def take_rows(name):
    """The take list's rows as the panel draws them (the UIList's draw_item), and the selected take's details."""
    s = bpy.data.scenes[name]
    rows = []
    for i, item in enumerate(s.realcam.takes):
        out = []
        panel_takes.REALCAM_UL_takes.draw_item(
            None, bpy.context, harness.Layout(out), s.realcam, item, "NONE", s.realcam, "takes_index", i
        )
        rows.append(out)
    return rows


def take_state(name, take, folder):
    s = bpy.data.scenes[name]
    e = s.realcam.edit_scene
    return {
        "in_list": take in [t.name for t in s.realcam.takes],
        "strip": take in [x.name for x in harness.strips(e)],
        "folder": os.path.isfile(os.path.join(folder, "video.mp4")),
    }


sa = bpy.data.scenes[A]
folder2 = bpy.path.abspath(sa.realcam.takes[1].folder)
sa.realcam.takes_index = 1
delete = {"before": take_state(A, t2, folder2)}
res, e = harness.gui_op(bpy.ops.realcam.take_delete, confirm=True)
delete["deleted"] = {"result": sorted(res), "error": e, **take_state(A, t2, folder2)}
bpy.ops.ed.undo()
delete["undone"] = take_state(A, t2, folder2)
edit = bpy.data.scenes[A].realcam.edit_scene
delete["undone"]["plays"] = err(render_edit(edit, mid, "undone_t2"), ref[t2])
delete["undone"]["rows"] = take_rows(A)
bpy.ops.ed.redo()
delete["redone"] = take_state(A, t2, folder2)
bpy.ops.ed.undo()
delete["undone_again"] = take_state(A, t2, folder2)
report["delete_take"] = delete

# ---------------------------------------------------------------- item 7: a shot at 25 fps
src = bpy.data.scenes[source_name]
src.render.fps, src.render.fps_base = 25, 1.0
bpy.context.window.scene = src
B = make_shot([3])
sb = bpy.data.scenes[B]
eb = sb.realcam.edit_scene
eb.view_settings.view_transform = "Standard"
tb = sb.realcam.takes[0]
strip = next(x for x in harness.strips(eb) if x.name == tb.name)
frames_b = []
for k in range(9):
    path = os.path.join(work, f"b_frame_{k}")
    render_edit(eb, sb.frame_start + k, f"b_frame_{k}")
    frames_b.append(path + ".png")
sa = bpy.data.scenes[A]
report["b"] = {
    "shot_fps": sb.render.fps / sb.render.fps_base,
    "edit": eb.name,
    "edit_fps": eb.render.fps / eb.render.fps_base,
    "a_edit": sa.realcam.edit_scene.name,
    "edits": sorted(s.name for s in bpy.data.scenes if s.realcam.is_edit),
    "strip": {
        "start": strip.frame_final_start,
        "duration": strip.frame_final_duration,
        "fps": strip.fps,
        "offset": [strip.frame_offset_start, strip.frame_offset_end],
        "retimed": len(getattr(strip, "retiming_keys", [])) > 2,
    },
    "shot_start": sb.frame_start,
    "video": os.path.join(bpy.path.abspath(tb.folder), "video.mp4"),
    "rendered": frames_b,
    "panel_b": harness.panel_lines(pkg, sb),
    "panel_a": harness.panel_lines(pkg, sa),
}


# Going to the shot's edit shows it in the Sequencer (5.x shows the workspace's sequencer scene, not the window's).
res, e = harness.gui_op(bpy.ops.realcam.show_shot, scene=eb.name)
ws = bpy.context.workspace
report["b"]["go_to_edit"] = {
    "result": sorted(res),
    "window_scene": bpy.context.window.scene.name,
    "sequencer_scene": getattr(getattr(ws, "sequencer_scene", None), "name", None),
    "blender": list(bpy.app.version),
}


# ---------------------------------------------------------------- a deleted shot's strips
def shot_strips(sid):
    return sorted(
        x.name for s in bpy.data.scenes if s.realcam.is_edit for x in harness.strips(s) if x.get("realcam_shot") == sid
    )


sid_b = sb.realcam.shot_id
folders_b = [bpy.path.abspath(sb.realcam.scene_folder), bpy.path.abspath(tb.folder)]
gone = {"before": shot_strips(sid_b)}
bpy.context.window.scene = sb
if hasattr(bpy.types, "REALCAM_OT_shot_delete"):
    res, e = harness.gui_op(bpy.ops.realcam.shot_delete, confirm=True)
    gone["delete"] = {
        "result": sorted(res),
        "error": e,
        "shot": B in bpy.data.scenes,
        "strips": shot_strips(sid_b),
        "folders": [os.path.isdir(f) for f in folders_b],
        "window_scene": bpy.context.window.scene.name,
    }
    bpy.ops.ed.undo()
    gone["undone"] = {
        "shot": B in bpy.data.scenes,
        "strips": shot_strips(sid_b),
        "folders": [os.path.isdir(f) for f in folders_b],
    }
# Blender's own Scene > Delete: nothing of the add-on runs; the edit's panel names what is left and removes it.
sb = bpy.data.scenes[B]
bpy.context.window.scene = sb
with bpy.context.temp_override(scene=sb):
    bpy.ops.scene.delete()
eb = next(
    (
        s
        for s in bpy.data.scenes
        if s.realcam.is_edit and any(x.get("realcam_shot") == sid_b for x in harness.strips(s))
    ),
    bpy.data.scenes[A].realcam.edit_scene,
)
gone["blender_delete"] = {
    "shot": B in bpy.data.scenes,
    "strips": shot_strips(sid_b),
    "panel": harness.panel_lines(pkg, eb),
}
if hasattr(bpy.types, "REALCAM_OT_edit_remove_orphans"):
    bpy.context.window.scene = eb
    res, e = harness.gui_op(bpy.ops.realcam.edit_remove_orphans)
    gone["removed"] = {
        "result": sorted(res),
        "error": e,
        "strips": shot_strips(sid_b),
        "panel": harness.panel_lines(pkg, eb),
    }
    bpy.ops.ed.undo()
    gone["removed_undone"] = {"strips": shot_strips(sid_b)}
report["deleted_shot"] = gone

# ---------------------------------------------------------------- a take whose folder went outside Blender
sa = bpy.data.scenes[A]
bpy.context.window.scene = sa
folder1 = bpy.path.abspath(sa.realcam.takes[0].folder)
shutil.rmtree(folder1)
sa.realcam.takes_index = 0
report["missing"] = {"rows": take_rows(A), "panel": harness.panel_lines(pkg, sa)}

# ---------------------------------------------------------------- the trash is emptied when another file opens
sa.realcam.takes_index = 1
res, e = harness.gui_op(bpy.ops.realcam.take_delete, confirm=True)
trash = os.path.join(work, "jobs", "trash")
report["trash"] = {
    "delete": [sorted(res), e],
    "before_new_file": sorted(os.listdir(trash)) if os.path.isdir(trash) else None,
}
# What a crashed session left (two days old), and a folder that is not the add-on's: the first goes, the second stays.
for leftover, note in (("takes-crashed", True), ("not-ours", False)):
    os.makedirs(os.path.join(trash, leftover), exist_ok=True)
    if note:
        with open(os.path.join(trash, leftover, ".realcam-trash.json"), "w") as fh:
            json.dump({"original": "/nowhere", "time": time.time() - 2 * 86400}, fh)
blend = os.path.join(work, "edit_trips.blend")
bpy.ops.wm.save_as_mainfile(filepath=blend)
bpy.ops.wm.open_mainfile(filepath=blend)
report["trash"]["after_new_file"] = sorted(os.listdir(trash)) if os.path.isdir(trash) else None
report["trash"]["take_folder"] = os.path.isdir(folder2)
report["deprecations"] = harness.deprecations()
harness.dump(out_json, report)
