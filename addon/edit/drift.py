"""See the drift: a take against its preview in the edit, and the camera COLMAP recovered from it as a ghost.

Compare puts one effect strip above the shot's preview and the take (difference or a 50 % blend), or sets
the two strips' transforms side by side; "off" takes all of it back. It shows exactly that take and the
preview: every other strip playing over those frames (the shot's other takes above or below, other
shots', the artist's own) is muted while it compares, and unmuted by "off". One comparison at a time per
edit. What it changes is recorded on each strip (a transform as it was, a mute it set), so "off" gives back
exactly what was there, also after the file was saved and opened again.

The ghost is a camera object keyed at the take's registered frames (realcam_core.addon_only.ghost places it), drawn
next to the artist's camera, with the take's RotErr/TransErr/CamMC as custom properties. It is made by a
task (flows/ghost.py: the shot's camera is read a frame per tick, as for a preview), so a long take never
freezes Blender.
"""

from __future__ import annotations

import json

import bpy
from mathutils import Matrix

from ..compat import all_strips, new_effect, strips
from ..realcam_core.addon_only.ghost import ghost_track
from ..realcam_core.camera import CameraError
from ..shot import camera_track, shots
from . import sequencer

MODES = ("DIFFERENCE", "BLEND", "SIDE_BY_SIDE", "OFF")
KIND = "compare"  # realcam_kind of the effect strip Compare adds
SAVED = "realcam_transform"  # a strip's transform before side by side, as JSON
MUTED = "realcam_compare_muted"  # on a strip Compare muted: "off" unmutes it


def _pair(shot, take_name: str):
    """(edit, preview strip, take strip): the take's strip in whichever edit holds it, and the preview there."""
    sid = shot.realcam.shot_id
    for edit in shots.edits():
        take = [s for s in sequencer.shot_strips(edit, sid, "take") if s.name == take_name]
        if take:
            break
    else:
        raise CameraError(
            f"take {take_name!r} has no strip in the edit (deleted?): pick another take, or delete this one from "
            "the list"
        )
    previews = sequencer.shot_strips(edit, sid, "preview")
    if not previews:
        raise CameraError(
            f"the shot has no preview strip in {edit.name!r}, where take {take_name!r} plays (the shot's frame rate "
            "changed since, or the preview was removed): Render Preview, or compare a take made since"
        )
    return edit, previews[0], take[0]


def end_comparison(edit) -> None:
    """Take back whatever comparison the edit shows: effect strips removed, transforms and mutes as they were."""
    col = strips(edit)
    for s in [s for s in all_strips(edit) if s.get("realcam_kind") == KIND]:
        col.remove(s)
    for s in all_strips(edit):
        raw = s.get(SAVED)
        if raw:
            saved = json.loads(raw)
            for k in ("scale_x", "scale_y", "offset_x", "offset_y"):
                setattr(s.transform, k, saved[k])
            s.blend_type = saved["blend_type"]
            del s[SAVED]
        if s.get(MUTED):
            s.mute = False
            del s[MUTED]


def _solo(edit, keep, start: int, end: int) -> None:
    """Mute every other strip playing between start and end (inclusive), marking the ones it muted."""
    keep = {s.name for s in keep}
    for s in all_strips(edit):
        if s.name in keep or s.mute or s.frame_final_start > end or s.frame_final_end <= start:
            continue
        s.mute = True
        s[MUTED] = 1


def compare(shot, take_name: str, mode: str):
    """Show take_name against the shot's preview in the edit; the effect strip (or None for side by side/off)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    for edit in shots.edits():
        end_comparison(edit)
    if mode == "OFF":
        return None
    edit, preview, take = _pair(shot, take_name)
    sid = shot.realcam.shot_id
    start = max(preview.frame_final_start, take.frame_final_start)
    end = min(preview.frame_final_end, take.frame_final_end) - 1
    if end < start:
        raise CameraError("the preview and the take do not overlap in time in the edit")
    _solo(edit, (preview, take), start, end)
    if mode == "SIDE_BY_SIDE":
        half = edit.render.resolution_x / 4.0
        for s, dx in ((preview, -half), (take, half)):
            t = s.transform
            s[SAVED] = json.dumps(
                {
                    "scale_x": t.scale_x,
                    "scale_y": t.scale_y,
                    "offset_x": t.offset_x,
                    "offset_y": t.offset_y,
                    "blend_type": s.blend_type,
                }
            )
            t.scale_x, t.scale_y, t.offset_x = 0.5, 0.5, dx
        take.blend_type = "ALPHA_OVER"  # the preview below shows beside the take
        return None
    ch = sequencer.free_channel(edit, start, end, max(preview.channel, take.channel) + 1)
    name = f"{take.name} {'difference' if mode == 'DIFFERENCE' else 'blend'}"
    if mode == "DIFFERENCE":
        fx = new_effect(edit, name, "COLORMIX", ch, start, end, preview, take)
        fx.blend_effect = "DIFFERENCE"
    else:
        fx = new_effect(edit, name, "CROSS", ch, start, end, preview, take)
        fx.use_default_fade = False
        fx.effect_fader = 0.5
    fx["realcam_shot"], fx["realcam_kind"] = sid, KIND
    return fx


SCALED_BY = {
    "metric": "in metres (the eval measured the scene's scale)",
    "requested track": "to your move's reach (the video alone cannot tell metres): its direction is what counts",
    "rotation only": "rotation only (the video shows no parallax): it stays where your camera starts",
}


def take_item(shot, take_name: str):
    for item in shot.realcam.takes:
        if item.name == take_name:
            return item
    raise CameraError(
        f"take {take_name!r} is gone from the shot's take list (deleted or undone): pick a take in the list again"
    )


def place_ghost(shot, item, rel, first_matrix_world):
    """A camera keyed along the track COLMAP recovered from take `item`; replaces that take's previous ghost.

    rel: the shot camera's relative track over the take's frames (camera_track.read_track);
    first_matrix_world: that camera's matrix_world at the take's first frame."""
    s = json.loads(item.settings) if item.settings else {}
    acc = in_shot_metres(s.get("camera_accuracy"), s.get("depth_scale"), shot.realcam.depth_scale)
    frames = s.get("frames") or [shot.frame_start, shot.frame_end]
    cam = camera_track.check_camera(shot)
    g = ghost_track(acc, rel, first_matrix_world, shots.metres_per_unit(shot))
    name = ghost_name(item)
    old = bpy.data.objects.get(name)
    if old is not None:
        remove_ghost(old)
    data = cam.data.copy()  # the same lens, so the ghost's frustum compares with the artist's
    data.animation_data_clear()
    ob = bpy.data.objects.new(name, data)
    shot.collection.objects.link(ob)
    ob.color = (1.0, 0.3, 0.1, 1.0)
    ob.show_in_front = True
    # Quaternion keys, each on the side of the previous one: frames COLMAP did not register are
    # interpolated along the short way, where Euler keys could spin through a wrap-around.
    ob.rotation_mode = "QUATERNION"
    prev = None
    for f, m in zip(g.frames, g.matrices, strict=True):
        mat = Matrix(m.tolist())  # a nested list assigned to matrix_world directly is read as columns
        q = mat.to_quaternion()
        if prev is not None and prev.dot(q) < 0:
            q.negate()
        ob.location, ob.rotation_quaternion, prev = mat.to_translation(), q, q
        ob.keyframe_insert("location", frame=frames[0] + f)
        ob.keyframe_insert("rotation_quaternion", frame=frames[0] + f)
    ob["realcam_take"], ob["realcam_kind"] = item.name, "ghost"
    ob["realcam_scaled_by"] = g.scaled_by
    ob["realcam_scale"] = g.scale
    ob["realcam_keyed_frames"] = len(g.frames)
    for k in ("RotErr", "TransErr", "CamMC"):
        if isinstance(acc.get(k), (int, float)):
            ob[k] = float(acc[k])
    return ob, g


def in_shot_metres(accuracy, take_scale, shot_scale: float):
    """The take's accuracy with its metric scale in the shot's metres now: a scale calibration applied after the
    take was made (the shot's depth_scale then and now) scales the scene, so the ghost's metres with it."""
    if not isinstance(accuracy, dict) or not isinstance(accuracy.get("metric_scale"), (int, float)):
        return accuracy
    if not isinstance(take_scale, (int, float)) or take_scale <= 0 or abs(shot_scale / take_scale - 1.0) < 1e-9:
        return accuracy  # made before takes recorded the scale, or the same scale
    return {**accuracy, "metric_scale": accuracy["metric_scale"] * shot_scale / take_scale}


def remove_ghost(ob) -> None:
    """A ghost camera object, and its camera data when nothing else uses it."""
    data = ob.data
    bpy.data.objects.remove(ob)
    if data is not None and data.users == 0:
        bpy.data.cameras.remove(data)


def ghost_name(item) -> str:
    return f"{item.name} ghost"


def ghost_lines(item) -> list[str]:
    """The panel's lines on the take's ghost camera: whether there is one, and how it was scaled."""
    ob = bpy.data.objects.get(ghost_name(item))
    if ob is None or ob.get("realcam_kind") != "ghost":
        return []
    how = ob.get("realcam_scaled_by", "")
    lines = [f"Ghost {ob.name}: {ob.get('realcam_keyed_frames', '?')} keyed frames"]
    text = SCALED_BY.get(how)
    if text:
        if how == "metric":
            text += f", ×{ob.get('realcam_scale', 0.0):.3g}"
        lines.append("scaled " + text)
    return lines
