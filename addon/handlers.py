"""Blender's file, undo and depsgraph events: relative paths on save, reattaching to jobs on load, staleness,
deleted folders back with an undo (trash.py).

Handlers only start tasks or rewrite the add-on's own properties and folders; nothing here
blocks (network waits happen in the tasks they start).
"""

from __future__ import annotations

import atexit

import bpy
from bpy.app.handlers import persistent

from . import paths, trash
from .flows import follow
from .shot import shots
from .tasks import RUNNER


def _filepath(args) -> str:
    # 4.2+ pass the file being loaded or saved; older builds passed the scene.
    return next((a for a in args if isinstance(a, str)), "") or bpy.data.filepath


@persistent
def load_pre(*args):
    RUNNER.detach_all("another file was opened; its takes are picked up again when it is opened")
    shots.forget_edits()
    trash.purge()  # the undo history that could bring deleted takes back ends here


@persistent
def load_post(*args):
    shots.after_reload()  # "Preview out of date" from what the opened file's shots hold
    follow.reattach_all(bpy.context)
    try:
        trash.purge_stale(paths.job_root(create=False))
    except OSError:
        pass  # a folder that cannot be read now is tried again at the next load


# An undo or redo restores data; it is no edit. The preview's state is what the restored shot holds, and the
# folders a delete moved to the trash follow the restored takes.
@persistent
def undo_post(*args):
    trash.reconcile()
    shots.after_reload()


@persistent
def redo_post(*args):
    trash.reconcile(redo=True)
    shots.after_reload()


@persistent
def save_pre(*args):
    # The preview's fingerprint and quick state are saved as they are: reopened, the shot is compared with them.
    busy = {t.shot_id for t in RUNNER.active()}
    paths.before_save(_filepath(args), busy)


@persistent
def save_post(*args):
    paths.after_save(_filepath(args))


@persistent
def depsgraph_update_post(scene, depsgraph=None):
    if depsgraph is not None:
        shots.on_depsgraph_update(scene, depsgraph)


_HANDLERS = (
    (bpy.app.handlers.load_pre, load_pre),
    (bpy.app.handlers.load_post, load_post),
    (bpy.app.handlers.save_pre, save_pre),
    (bpy.app.handlers.save_post, save_post),
    (bpy.app.handlers.depsgraph_update_post, depsgraph_update_post),
    (bpy.app.handlers.undo_post, undo_post),
    (bpy.app.handlers.redo_post, redo_post),
)


def register():
    for lst, fn in _HANDLERS:
        if fn not in lst:
            lst.append(fn)
    atexit.unregister(trash.purge)  # registered once, whatever enabled the add-on again
    atexit.register(trash.purge)  # Blender quits: so does its undo history


def unregister():
    for lst, fn in _HANDLERS:
        if fn in lst:
            lst.remove(fn)
    atexit.unregister(trash.purge)
