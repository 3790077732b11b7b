"""Export a camera as a RealEstate10K file: read as Blender evaluates it (a frame per tick), then written."""

from __future__ import annotations

import os

import bpy

from ..shot import re10k_io
from . import FlowError
from .preview import read_track


def export_task(task, context, ref, path: str):
    """Read the camera of ref (a ShotRef, or a SceneRef: any scene's camera) and write it to path."""
    frames, Ks, rel, _ = yield from read_track(task, context, ref, photo_checks=False)
    sc = ref.scene
    name = os.path.splitext(os.path.basename(bpy.data.filepath))[0] or "blender"
    try:
        re10k_io.export_file(
            path, Ks, rel, sc.render.fps / sc.render.fps_base, f"blender:{name}:{sc.name}".replace(" ", "_")
        )
    except OSError as e:
        raise FlowError(
            f"could not write {path}: {e.strerror or e}: pick another file or folder in the export dialog"
        ) from None
    task.report("done", message=f"{len(frames)} cameras written to {path}")
