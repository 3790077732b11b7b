"""What the shot's camera move amounts to, and whether the preview still sees the photo's scene.

The extent (path and net metres, total and net degrees) is measured on the
camera track exactly as Generate reads it (camera_track.read_track: rig,
constraints, presets and keys combined, metres whatever the unit scale): after
a preset, after each preview, and on the panel's "Measure" button (keys edited
by hand). The coverage is the covered fraction of the last preview frame,
read from the preview's own PNG; the panel warns below the shot's threshold.
"""

from __future__ import annotations

import json
import os

import bpy
import numpy as np

from ..realcam_core.addon_only.coverage import coverage, coverage_warning
from ..realcam_core.addon_only.move_extent import MoveExtent, move_extent
from . import camera_track


def store_extent(scene, rel) -> MoveExtent:
    ext = move_extent(rel)
    scene.realcam.move_extent = json.dumps(ext.__dict__)
    return ext


def measure(scene) -> MoveExtent | None:
    """Read the camera track over the shot's frames and store its extent; None when there is no usable camera."""
    frames = list(range(scene.frame_start, scene.frame_end + 1))
    try:
        _, rel = camera_track.read_track_now(scene, frames)
    except camera_track.CameraError:
        scene.realcam.move_extent = ""
        return None
    return store_extent(scene, rel)


def extent_of(scene) -> MoveExtent | None:
    raw = scene.realcam.move_extent
    return MoveExtent(**json.loads(raw)) if raw else None


_COVERAGE_IMAGE = ".RealCam coverage"  # hidden (dot), no users: never saved with the file


def store_coverage(scene, folder: str, last_file: str) -> float:
    """The covered fraction of the preview's last frame, from its file's alpha, stored on the shot.

    One hidden image is loaded once and pointed at each new file: removing an image
    rebuilds the depsgraph's relations, which reads as an edit of every shot (its
    preview would show out of date at once)."""
    path = os.path.join(folder, last_file)
    img = bpy.data.images.get(_COVERAGE_IMAGE)
    if img is None or img.library is not None:
        img = bpy.data.images.load(path, check_existing=False)
        img.name = _COVERAGE_IMAGE
    else:
        img.filepath = path
        img.reload()
    w, h = img.size
    channels = img.channels
    buf = np.empty(w * h * channels, np.float32)
    img.pixels.foreach_get(buf)
    alpha = buf.reshape(h * w, channels)[:, -1] if channels in (2, 4) else np.ones(h * w, np.float32)
    img.buffers_free()  # the pixels are not kept in memory between previews
    scene.realcam.coverage = coverage(alpha)
    return scene.realcam.coverage


def warning(scene) -> str | None:
    rc = scene.realcam
    return coverage_warning(rc.coverage, rc.coverage_threshold) if rc.preview_folder else None
