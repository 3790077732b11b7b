"""A tracked clip's move keyed on the shot's camera, on top of its rig as the presets are (shot/presets.py).

realcam_core.addon_only.clip_move turns the clip's poses into one move per shot frame, in the camera's own axes and
Blender units; here they are keyed on the holder the presets use (the camera, or its "RealCam move" empty when it
has constraints), every frame of the shot's range, each times the holder's own transform there (so moves add up).
Nothing is changed before every move is computed: a move that cannot be made leaves the camera as it was.
"""

from __future__ import annotations

import json

from mathutils import Matrix

from ..realcam_core.addon_only import clip_move
from . import presets, shots

PROP = "clip_move"  # the shot's record of the last clip move (JSON of clip_move.summary), for the panel


def deltas_for(scene, move: clip_move.ClipMove, timing: str) -> tuple[dict, dict]:
    """Shot frame -> Matrix of the move there, and the panel's summary. Raises clip_move.ClipMoveError."""
    r = scene.render
    deltas, info = clip_move.shot_deltas(
        move,
        scene.frame_start,
        scene.frame_end,
        r.fps / r.fps_base,
        timing,
        scene.realcam.median_depth,  # metres, after the shot's scale calibration
        shots.metres_per_unit(scene),
    )
    return {f: Matrix(d.tolist()) for f, d in deltas.items()}, info


def key(scene, cam, deltas: dict) -> dict:
    """Key each frame's move on the camera's holder, after its own transform there; what was keyed."""
    holder = presets.holder_of(cam, scene.realcam.photo_collection if shots.is_shot(scene) else None)
    frames = sorted(deltas)
    bases = {f: presets._basis_at(holder, f) for f in frames}  # all read before the first key changes them
    prev = None
    for f in frames:
        loc, rot, _ = bases[f].decompose()
        prev = presets._key(holder, f, Matrix.LocRotScale(loc, rot, None) @ deltas[f], prev)
    scene.frame_set(scene.frame_current)
    return {"holder": holder.name, "frames": [frames[0], frames[-1]]}


def record(scene, info: dict) -> None:
    setattr(scene.realcam, PROP, json.dumps(info))


def recorded(scene) -> dict | None:
    raw = getattr(scene.realcam, PROP, "")
    try:
        info = json.loads(raw) if raw else None
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def panel_lines(scene) -> list[tuple[str, str]]:
    """(kind, text) the Camera move panel shows of the last clip move: "label" lines, then "warning" lines."""
    info = recorded(scene)
    if info is None:
        return []
    lines = list(info.get("lines") or [""])
    out = [("label", f"From {info.get('clip') or 'the clip'}: {lines[0]}")]
    out += [("label", line) for line in info["lines"][1:]]
    out += [("warning", f"{w['message']}") for w in info.get("warnings", [])]
    return out
