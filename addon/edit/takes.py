"""A shot's takes: what each was made with, loading its settings back, and deleting one.

A take is an entry of the shot's take list (its settings as JSON), a movie
strip of that name in the edit, and a folder (video, result, bundle), and its
ghost camera once made (drift.py). Deleting removes exactly those; the operator
asks the artist first, since files removed from disk do not come back with undo.
"""

from __future__ import annotations

import json
import os
import shutil

from .. import paths
from ..compat import strips
from ..shot import shots
from . import drift, sequencer

# Settings a take's JSON holds that the panel can set again (the JSON's keys, as the bundle names them).
LOADABLE = ("model", "negative_prompt", "seed", "steps", "guidance", "camera_condition", "evaluate", "loop")
# Files only a take folder made by the add-on holds: a folder without them is not deleted.
TAKE_MARKERS = ("video.mp4", "result.json", "bundle")


def settings(item) -> dict:
    try:
        data = json.loads(item.settings) if item.settings else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def summary(item) -> list[str]:
    """The list's and the details' lines: model, seed, time, scores, prompt."""
    s = settings(item)
    made = s.get("made") or "time not recorded"
    head = f"{s.get('model', '?')}, seed {s.get('seed', '?')}, {made}"
    if s.get("seconds") is not None:
        head += f" ({s['seconds']:g} s)"
    lines = [head]
    acc = s.get("camera_accuracy")
    if isinstance(acc, dict) and "RotErr" in acc:
        lines.append(f"RotErr {acc['RotErr']:.3f}  TransErr {acc['TransErr']:.3f}  CamMC {acc['CamMC']:.3f}")
    elif isinstance(acc, dict) and acc.get("error"):
        lines.append(f"camera accuracy not measured: {acc['error']}")
    else:
        lines.append("no scores (Measure camera accuracy was off)")
    prompt = s.get("prompt") or ""
    lines.append(f"prompt: {prompt.splitlines()[0] if prompt else '(none)'}" + (" ..." if "\n" in prompt else ""))
    return lines


def load_settings(shot, item) -> list[str]:
    """Put what made the take back into the shot's panel; the names of the settings set."""
    s, rc = settings(item), shot.realcam
    done = []
    for key in LOADABLE:
        if key in s and s[key] is not None:
            setattr(rc, key, s[key])
            done.append(key)
    if "prompt" in s:
        if rc.prompt_text is not None:
            rc.prompt_text.from_string(s["prompt"])
        else:
            rc.prompt = s["prompt"]
        done.append("prompt")
    sns = s.get("sns")
    if isinstance(sns, dict):
        rc.sns_enabled, rc.sns_threshold = bool(sns.get("enabled", True)), float(sns.get("threshold", 0.9))
        done.append("sns")
    return done


def folder(item) -> str:
    return paths.resolve(item.folder) if item.folder else ""


def delete(shot, index: int) -> dict:
    """Remove the take at index: its strip in the edit, its folder, its entry. Nothing else."""
    rc = shot.realcam
    item = rc.takes[index]
    name, where = item.name, folder(item)
    removed = []
    edit = shots.edit_scene(shot, create=False)
    if edit is not None:
        seq = strips(edit)
        for strip in sequencer.shot_strips(edit, rc.shot_id, "take"):
            if strip.name == name:
                removed.append(strip.name)
                seq.remove(strip)
    deleted = ""
    if where and os.path.isdir(where) and any(os.path.exists(os.path.join(where, m)) for m in TAKE_MARKERS):
        shutil.rmtree(where)
        deleted = where
    # Its ghost camera (drift.place_ghost) shows the drift of a take that is gone: it goes with the take.
    ghosts = [ob for ob in shot.objects if ob.get("realcam_kind") == "ghost" and ob.get("realcam_take") == name]
    for ob in ghosts:
        drift.remove_ghost(ob)
    rc.takes.remove(index)
    rc.takes_index = min(rc.takes_index, len(rc.takes) - 1) if len(rc.takes) else 0
    return {"name": name, "strips": removed, "folder": deleted, "ghosts": len(ghosts)}
