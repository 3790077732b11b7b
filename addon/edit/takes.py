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
LOADABLE = ("model", "negative_prompt", "seed", "steps", "guidance", "camera_condition", "evaluate")
# Settings a bundle carries only when they are not the default: a take without one ran with the default, which
# Load settings puts back. (bundle key, shot property, the default the panel shows)
OPTIONAL = (("camera_scale", "camera_scale", 0.0), ("sampler", "sampler", "DEFAULT"))
SPEED = (
    ("step_cache", "step_cache", "off"),
    ("cache_threshold", "cache_threshold", None),  # None: the property's own default
    ("compile", "compile", False),
)
# What a take keeps of its result.json beside the settings that made it (follow.py puts it on the strip too).
RESULT_KEYS = ("model_name", "guidance_ignored", "camera_condition", "sampler", "speed", "generated_frames")
# Files only a take folder made by the add-on holds: a folder without them is not deleted.
TAKE_MARKERS = ("video.mp4", "result.json", "bundle")


def settings(item) -> dict:
    try:
        data = json.loads(item.settings) if item.settings else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def from_result(result: dict) -> dict:
    """What a take keeps of its result.json: the model's name, guidance ignored, how the camera entered (scale,
    convention), the sampler, speed settings used and steps the cache skipped."""
    return {k: result[k] for k in RESULT_KEYS if k in result}


def summary(item) -> list[str]:
    """The list's and the details' lines: model, seed, time, scores, how it ran, prompt."""
    s = settings(item)
    made = s.get("made") or "time not recorded"
    draft = " (draft)" if s.get("draft") else ""
    head = f"{s.get('model', '?')}{draft}, seed {s.get('seed', '?')}, {made}"
    if s.get("seconds") is not None:
        head += f" ({s['seconds']:g} s)"
    lines = [head, *run_lines(s)]
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


def _dict(d, key) -> dict:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, dict) else {}


def run_lines(s: dict) -> list[str]:
    """How the take ran, from its result: steps (and those the step cache served), guidance (or that the model
    ignored it), the camera's scale and convention, the sampler, the speed settings used and why one was not."""
    result = _dict(s, "result")
    cache, comp = _dict(_dict(result, "speed"), "step_cache"), _dict(_dict(result, "speed"), "compile")
    n = s.get("steps", "?")
    steps = f"{n} step" if n == 1 else f"{n} steps"
    cached = cache.get("steps_cached")
    if isinstance(cached, list) and cached:
        steps += f" ({len(cached)} served by the step cache)"
    guidance = f"guidance {s.get('guidance', '?')}"
    if result.get("guidance_ignored") is not None:
        guidance += f" (fixed by the model: the {result['guidance_ignored']:g} asked for was not used)"
    lines = [f"{steps}, {guidance}"]
    cam = _dict(result, "camera_condition")
    scale = _dict(cam, "scale")
    if scale:
        line = f"camera scale {scale.get('units_per_metre', 0):.4g} per metre ({scale.get('source', '?')})"
        if cam.get("intrinsics") not in (None, "bundle"):
            line += f", lens assumed ({cam['intrinsics']})"
        lines.append(line)
    elif s.get("camera_scale") is not None:
        lines.append(f"camera scale {s['camera_scale']:g} per metre asked for (the backend did not say what it used)")
    sampler = result.get("sampler") or s.get("sampler")
    if sampler:
        lines.append(f"sampler {sampler}")
    parts = []
    if cache.get("requested") not in (None, "off"):
        used = "used" if cache.get("used") else f"not used: {cache.get('reason') or 'no reason given'}"
        parts.append(f"step cache {cache['requested']} at {cache.get('threshold')} ({used})")
    if comp.get("requested"):
        parts.append("compiled" if comp.get("used") else f"not compiled: {comp.get('reason') or 'no reason given'}")
    if parts:
        lines.append("speed: " + "; ".join(parts))
    return lines


def load_settings(shot, item) -> list[str]:
    """Put what made the take back into the shot's panel; the names of the settings set. A draft's model, steps
    and guidance are the draft model's, not the shot's: its shot_model goes back, steps and guidance stay."""
    s, rc = settings(item), shot.realcam
    done = []
    draft = bool(s.get("draft"))
    for key in LOADABLE:
        if draft and key in ("steps", "guidance"):
            continue  # the draft model's own, not settings of the shot's model
        if key in s and s[key] is not None:
            value = (s.get("shot_model") or s[key]) if key == "model" and draft else s[key]
            setattr(rc, key, value)
            done.append(key)
    for key, prop, default in OPTIONAL:
        if _set(rc, prop, s[key] if s.get(key) is not None else default):
            done.append(key)
    speed = s.get("speed") if isinstance(s.get("speed"), dict) else {}
    loaded = [_set(rc, prop, speed.get(key, default), default is None) for key, prop, default in SPEED]
    if all(loaded):
        done.append("speed")
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


def _set(rc, prop: str, value, default_if_none: bool = False) -> bool:
    """Set one panel setting from a take; False (and left as it is) for a value this add-on cannot hold (a take
    made by a newer one)."""
    if value is None and default_if_none:
        value = rc.bl_rna.properties[prop].default
    try:
        setattr(rc, prop, value)
    except (TypeError, ValueError):
        return False
    return True


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
