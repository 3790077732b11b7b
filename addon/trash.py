"""Folders of deleted takes and shots, kept where undo can bring them back until the undo history is gone.

Files do not come back with Blender's undo, but a deleted take (or shot) does: so Delete moves the folder
into `trash/` beside the folders it came from (the same disk, so it is a rename), and after every undo and
redo the trash is squared with the file: after an undo a folder the file refers to again goes back where it
was, after a redo one it no longer refers to goes back into the trash. When the undo history ends (another
file is opened, Blender quits) this session's trash is emptied; what a crashed session left is emptied once
it is a day old.

Only folders this session put into the trash are ever moved or deleted here; each carries a note of where
it came from.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time

from . import paths

log = logging.getLogger(__name__)

FOLDER = "trash"
NOTE = ".realcam-trash.json"
STALE_SECONDS = 24 * 3600

# This session's trashed folders: {"original": absolute path, "trashed": absolute path}.
_RECORDS: list[dict] = []


def trash_of(folder: str) -> str:
    """The trash beside a folder's kind: <root>/takes/<take> -> <root>/trash."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.normpath(folder))), FOLDER)


def _free_name(parent: str, base: str) -> str:
    n = 1
    while True:
        path = os.path.join(parent, base if n == 1 else f"{base}-{n}")
        if not os.path.exists(path):
            return path
        n += 1


def discard(folder: str) -> str:
    """Move a folder into the trash (its undo can bring it back); the trashed path, or "" when there was none."""
    folder = os.path.normpath(folder)
    if not os.path.isdir(folder):
        return ""
    trash = trash_of(folder)
    os.makedirs(trash, exist_ok=True)
    kind = os.path.basename(os.path.dirname(folder))
    target = _free_name(trash, f"{kind}-{os.path.basename(folder)}")
    shutil.move(folder, target)
    with open(os.path.join(target, NOTE), "w", encoding="utf-8") as fh:
        json.dump({"original": folder, "time": time.time()}, fh)
    _RECORDS.append({"original": folder, "trashed": target})
    return target


def _move(src: str, dst: str) -> bool:
    try:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.move(src, dst)
        return True
    except OSError as e:  # a file held open elsewhere: it stays where it is, the take list says what is missing
        log.warning("RealCam could not move %s to %s: %s", src, dst, e)
        return False


def referenced() -> set[str]:
    """Every folder the open file refers to (shots' folders, takes, strips' files)."""
    out = set()
    for _, get, _ in (*paths.property_slots(), *paths.strip_slots()):
        value = get()
        if value:
            path = paths.resolve(value)
            out.add(path)
            out.add(os.path.dirname(path))  # a movie strip names a file of the take's folder
    return out


def reconcile(redo: bool = False) -> list[str]:
    """After an undo, folders the file refers to again come back; after a redo, those it no longer refers to go
    again. (Only the direction of the step: a folder a later edit left unreferenced, a shot deleted with
    Blender's own Delete Scene, is not taken by an undo.) Returns the folders moved."""
    if not _RECORDS:
        return []
    refs, moved = referenced(), []
    for rec in _RECORDS:
        original, trashed = rec["original"], rec["trashed"]
        if not redo and original in refs and not os.path.exists(original) and os.path.isdir(trashed):
            if _move(trashed, original):
                _remove_note(original)
                moved.append(original)
        elif redo and original not in refs and os.path.isdir(original) and not os.path.exists(trashed):
            if _move(original, trashed):
                with open(os.path.join(trashed, NOTE), "w", encoding="utf-8") as fh:
                    json.dump({"original": original, "time": time.time()}, fh)
                moved.append(original)
    return moved


def _remove_note(folder: str) -> None:
    try:
        os.remove(os.path.join(folder, NOTE))
    except OSError:
        pass


def purge() -> int:
    """Empty this session's trash (nothing can bring it back any more); how many folders were deleted."""
    done = 0
    for rec in _RECORDS:
        if os.path.isdir(rec["trashed"]):
            shutil.rmtree(rec["trashed"], ignore_errors=True)
            done += 1
        trash = os.path.dirname(rec["trashed"])
        if os.path.isdir(trash) and not os.listdir(trash):
            os.rmdir(trash)
    _RECORDS.clear()
    return done


def purge_stale(root: str, now: float | None = None) -> int:
    """Delete what sessions that ended without emptying their trash (a crash) left in root's trash, once a day old."""
    trash = os.path.join(root, FOLDER)
    if not os.path.isdir(trash):
        return 0
    mine = {rec["trashed"] for rec in _RECORDS}
    now = time.time() if now is None else now
    done = 0
    for name in os.listdir(trash):
        path = os.path.join(trash, name)
        try:
            with open(os.path.join(path, NOTE), encoding="utf-8") as fh:
                made = float(json.load(fh)["time"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not one of the add-on's: left alone
        if path not in mine and now - made > STALE_SECONDS:
            shutil.rmtree(path, ignore_errors=True)
            done += 1
    return done
