"""Where the add-on keeps scenes, previews, bundles and takes, and how the .blend refers to them.

Every folder and file the add-on makes is stored relative to the .blend ("//")
once the .blend is saved, so a project folder moved elsewhere still previews,
generates and plays its takes. A file that was never saved keeps its folders in
the add-on's user folder; the first save moves them into `realcam/` next to
the .blend (unless the preferences name a job folder). Blender rebases its own
relative paths (strips) when saving elsewhere; the add-on's string properties
are rebased here, in the save handlers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import bpy

from .compat import all_strips
from .extension import prefs, user_folder

PROJECT_FOLDER = "realcam"


def fallback_root() -> str:
    """Where an unsaved file's folders live until it is saved."""
    try:
        return user_folder("projects")
    except (ValueError, AttributeError):
        return os.path.join(tempfile.gettempdir(), "realcam")


def job_root(context=None, create: bool = True) -> str:
    """The preference if set; else a 'realcam' folder next to the .blend; else the add-on's user folder."""
    p = prefs(context)
    if p.job_folder:
        root = bpy.path.abspath(p.job_folder)
    elif bpy.data.filepath:
        root = os.path.join(os.path.dirname(bpy.data.filepath), PROJECT_FOLDER)
    else:
        root = fallback_root()
    if create:
        os.makedirs(root, exist_ok=True)
    return root


def unique_folder(parent: str, base: str) -> str:
    """A new folder parent/base (or base-2, base-3, ...): never one another import or take already has."""
    os.makedirs(parent, exist_ok=True)
    n = 1
    while True:
        path = os.path.join(parent, base if n == 1 else f"{base}-{n}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            n += 1


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def stored(path: str) -> str:
    """How a path is kept in the .blend: relative to it once it is saved."""
    if not path or not bpy.data.filepath:
        return path
    try:
        return bpy.path.relpath(path)
    except ValueError:  # another drive (Windows): cannot be relative
        return path


def resolve(path: str) -> str:
    """An absolute path from a stored one."""
    return os.path.normpath(bpy.path.abspath(path)) if path else ""


def _rebase(path: str, old_dir: str | None, new_dir: str | None) -> str:
    """A stored path made relative to new_dir (absolute when new_dir is None)."""
    if not path:
        return path
    absolute = os.path.normpath(os.path.join(old_dir, path[2:]) if path.startswith("//") and old_dir else path)
    if new_dir is None:
        return absolute
    try:
        return "//" + os.path.relpath(absolute, new_dir).replace(os.sep, "/")
    except ValueError:
        return absolute


# ---------------------------------------------------------------- the paths the add-on owns
# A slot is (shot id, get, put): one stored path, and the shot it belongs to.


def _attr_slot(sid, owner, attr):
    return sid, (lambda: getattr(owner, attr)), (lambda v: setattr(owner, attr, v))


def _json_slot(sid, get_text, put_text):
    """The "take" path inside a JSON settings string."""

    def get():
        try:
            return json.loads(get_text()).get("take", "") or ""
        except (KeyError, ValueError, AttributeError):
            return ""

    def put(value):
        data = json.loads(get_text())
        data["take"] = value
        put_text(json.dumps(data))

    return sid, get, put


def _own_strips():
    for scene in bpy.data.scenes:
        for s in all_strips(scene):
            if s.get("realcam_shot"):
                yield s


def property_slots():
    """Every path the add-on keeps in its own properties (Blender does not rebase these)."""
    for scene in bpy.data.scenes:
        rc = scene.realcam
        sid = rc.shot_id
        if not sid:
            continue
        for attr in ("scene_folder", "preview_folder", "job_take"):
            yield _attr_slot(sid, rc, attr)
        for take in rc.takes:
            yield _attr_slot(sid, take, "folder")
            yield _json_slot(sid, (lambda t=take: t.settings), (lambda v, t=take: setattr(t, "settings", v)))
    for strip in _own_strips():
        if "realcam" in strip:
            yield _json_slot(
                strip["realcam_shot"], (lambda s=strip: s["realcam"]), (lambda v, s=strip: s.__setitem__("realcam", v))
            )


def strip_slots():
    """The file paths of the add-on's strips (Blender rebases relative ones itself when saving elsewhere)."""
    for s in _own_strips():
        if s.type == "IMAGE":
            yield _attr_slot(s["realcam_shot"], s, "directory")
        elif s.type == "MOVIE":
            yield _attr_slot(s["realcam_shot"], s, "filepath")


def _adopt(slots, root: str, project: str) -> None:
    """Move folders of an unsaved file from the add-on's user folder into the project folder."""
    moved = set()
    for _, get, put in slots:
        path = get()
        if not path or path.startswith("//"):
            continue
        absolute = os.path.normpath(path)
        try:
            rel = os.path.relpath(absolute, root)
        except ValueError:
            continue
        parts = rel.split(os.sep)
        if rel.startswith("..") or len(parts) < 2:
            continue
        src, dst = os.path.join(root, *parts[:2]), os.path.join(project, *parts[:2])  # e.g. takes/<take>
        if src not in moved and os.path.exists(src) and not os.path.exists(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.move(src, dst)
            moved.add(src)
        if src in moved:
            put(os.path.join(project, rel) + (os.sep if path.endswith(("/", os.sep)) else ""))


def before_save(filepath: str, busy_shots=()) -> None:
    """Store every owned path relative to the .blend being written (filepath)."""
    if not filepath:
        return
    new_dir = os.path.dirname(os.path.abspath(filepath))
    old_dir = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else None
    if not bpy.data.filepath and not prefs().job_folder:
        # A take still running writes where it started; its folders move at the next save.
        slots = [s for s in (*property_slots(), *strip_slots()) if s[0] not in busy_shots]
        _adopt(slots, fallback_root(), os.path.join(new_dir, PROJECT_FOLDER))
    for _, get, put in property_slots():
        value = get()
        if value:
            put(_rebase(value, old_dir, new_dir))
    if old_dir:
        # Absolute strip paths become relative to the current .blend; Blender moves them on with the save.
        # (An unsaved file's are all made relative by Blender itself on its first save.)
        for _, get, put in strip_slots():
            value = get()
            if value and not value.startswith("//"):
                put(_rebase(value, None, old_dir))


def after_save(filepath: str) -> None:
    """A saved copy (File > Save Copy) leaves this session's .blend where it was: paths back to it."""
    if not filepath or os.path.abspath(filepath) == os.path.abspath(bpy.data.filepath or ""):
        return
    new_dir = os.path.dirname(os.path.abspath(filepath))
    cur_dir = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else None
    for _, get, put in property_slots():
        value = get()
        if value:
            put(_rebase(value, new_dir, cur_dir))
