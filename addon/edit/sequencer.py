"""Strips in the edit scene's sequencer: a shot's preview as an image strip, its takes as movie strips.

They live in the edit scene of the shot's frame rate (shot/shots.py), never in a 3D
scene, so F12 in a shot or in the artist's scene renders that scene. A shot's strips start at its first
frame plus its `edit_offset` (0 unless a transition put the shot after itself, shot/transition.py). Each
strip carries the id of its shot ("realcam_shot") and its kind; a shot has one preview strip, replaced by
the next preview on the same channel, and its takes on free channels above it. Strips of a shot deleted
with Blender's own Delete Scene stay (nothing tells the add-on): the edit's panel names them (orphans) and
removes them.
"""

from __future__ import annotations

import json
import os

import bpy

from .. import paths
from ..compat import all_strips, strips

MAX_CHANNEL = 128


def free_channel(scene, start: int, end: int, lowest: int = 1) -> int:
    """The lowest channel from `lowest` up with nothing between start and end (inclusive)."""
    busy = set()
    for s in all_strips(scene):
        if s.frame_final_start <= end and s.frame_final_end > start:
            busy.add(s.channel)
    for ch in range(lowest, MAX_CHANNEL + 1):
        if ch not in busy:
            return ch
    raise RuntimeError("no free channel left in the sequencer")


def shot_strips(edit, shot_id: str, kind: str | None = None) -> list:
    return [
        s
        for s in all_strips(edit)
        if s.get("realcam_shot") == shot_id and (kind is None or s.get("realcam_kind") == kind)
    ]


def remove(edit, doomed) -> list[str]:
    """Remove strips of the edit, effects first (an effect goes with its inputs); the names removed."""
    names = [s.name for s in sorted(doomed, key=lambda s: s.type not in ("COLORMIX", "CROSS", "GAMMA_CROSS"))]
    col = strips(edit)
    for name in names:
        s = next((x for x in all_strips(edit) if x.name == name), None)
        if s is not None:
            col.remove(s)
    return names


def orphans(edit) -> list:
    """The add-on's strips in the edit whose shot is gone (deleted with Blender's own Delete Scene)."""
    known = {s.realcam.shot_id for s in bpy.data.scenes if s.realcam.shot_id}
    return [s for s in all_strips(edit) if s.get("realcam_shot") and s["realcam_shot"] not in known]


def _tag(strip, shot_id: str, kind: str) -> None:
    strip["realcam_shot"] = shot_id
    strip["realcam_kind"] = kind


def _cover(edit, start: int, end: int) -> None:
    """Widen the edit's frame range to show a new strip (never narrow what the artist set)."""
    if start < edit.frame_start:
        edit.frame_start = start
    if end > edit.frame_end:
        edit.frame_end = end


def set_preview(edit, shot, folder: str, files: list[str]):
    """The shot's preview strip, replacing its previous one (same channel when it is free)."""
    sid, start = shot.realcam.shot_id, shot.frame_start + shot.realcam.edit_offset
    end = start + len(files) - 1
    old = shot_strips(edit, sid, "preview")
    channel = old[0].channel if old else None
    seq = strips(edit)
    for s in old:
        seq.remove(s)
    for other in bpy.data.scenes:  # one preview per shot: the one in an edit of its former frame rate goes
        if other != edit and other.realcam.is_edit:
            remove(other, shot_strips(other, sid, "preview"))
    if channel is None or free_channel(edit, start, end, channel) != channel:
        channel = free_channel(edit, start, end, 1 if channel is None else channel)
    strip = seq.new_image(
        name=f"{shot.name} preview", filepath=os.path.join(folder, files[0]), channel=channel, frame_start=start
    )
    for f in files[1:]:
        strip.elements.append(f)
    strip.frame_final_duration = len(files)
    strip.directory = paths.stored(folder).rstrip("/\\") + "/"  # relative to the .blend once saved
    _tag(strip, sid, "preview")
    _cover(edit, start, end)
    return strip


def add_take(edit, shot, video: str, start: int, frames: int, name: str, settings: dict):
    """A movie strip for a generated take above the shot's preview, with what made it on the strip. start: the
    shot's frame it begins at (placed at start + the shot's edit_offset in the edit)."""
    sid = shot.realcam.shot_id
    start += shot.realcam.edit_offset
    previews = shot_strips(edit, sid, "preview")
    lowest = previews[0].channel + 1 if previews else 1
    ch = free_channel(edit, start, start + frames - 1, lowest)
    strip = strips(edit).new_movie(name=name, filepath=video, channel=ch, frame_start=start)
    if paths.stored(video) != video:
        strip.filepath = paths.stored(video)
    strip["realcam"] = json.dumps(settings)
    _tag(strip, sid, "take")
    _cover(edit, start, start + frames - 1)
    return strip


def shift_shot(edit, shot_id: str, delta: int) -> int:
    """Move every strip of a shot by delta frames (a transition put the shot after it); how many moved."""
    moved = shot_strips(edit, shot_id)
    # Later strips first when moving later (and earlier first when earlier), so none lands on another in its way.
    for s in sorted(moved, key=lambda s: s.frame_final_start, reverse=delta > 0):
        s.frame_start += delta
    if moved:
        _cover(edit, min(s.frame_final_start for s in moved), max(s.frame_final_end - 1 for s in moved))
    return len(moved)
