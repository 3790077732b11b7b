"""The ghost camera of a take: the shot's camera read over the take's frames (a frame per tick), then a camera keyed
along the track COLMAP recovered from the take (edit/drift.py places it)."""

from __future__ import annotations

import json

import numpy as np

from ..edit import drift
from ..realcam_core.addon_only.ghost import recovered_poses
from ..shot import camera_track
from ..tasks import undo_push


def ghost_task(task, ref, take_name: str):
    """Task generator: read the shot's camera over the take's frames (a yield per frame, so a 121-frame
    take never freezes Blender), then key the ghost. Returns (ghost object name, GhostTrack)."""
    shot = ref.scene
    item = drift.take_item(shot, take_name)
    s = json.loads(item.settings) if item.settings else {}
    recovered_poses(s.get("camera_accuracy"))  # a take without scores fails before any work
    frames = s.get("frames") or [shot.frame_start, shot.frame_end]
    span = list(range(frames[0], frames[1] + 1))
    cam = camera_track.check_camera(shot)
    first = np.array(camera_track.evaluated_matrix(shot, cam, frames[0]))
    task.report("reading your camera", 0, len(span))
    _, rel = yield from camera_track.read_track(
        ref, span, lambda dg, i: task.report("reading your camera", i + 1, len(span))
    )
    shot = ref.scene
    task.report("keying the ghost camera")
    ob, g = drift.place_ghost(shot, drift.take_item(shot, take_name), rel, first)
    undo_push("RealCam: ghost camera")
    task.report("done", message=f"{ob.name}: {len(g.frames)} keyed frames, scaled {drift.SCALED_BY[g.scaled_by]}")
    return ob.name, g
