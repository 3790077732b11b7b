"""Shared by the Blender benchmarks: a clean Blender with the add-on built and installed, the sample imported, and
the median time of an operator call."""

import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def blender_with_addon(tmp: str | None = None, root: str | None = None):
    """(bpy, package name, temp folder); Blender's user folders live in the temp folder.

    root: a folder with another add-on's addon/, blender_manifest.toml and README.md (an older revision, for a
    before/after benchmark) instead of this checkout's."""
    tmp = tmp or tempfile.mkdtemp(prefix="realcam-bench-")
    import build_addon
    from build_addon import build, install_into_blender

    if root is not None:
        build_addon.ROOT = root
    pkg = install_into_blender(build(os.path.join(tmp, "dist")), os.path.join(tmp, "blender-user"))
    import bpy

    prefs = bpy.context.preferences.addons[pkg].preferences
    prefs.auto_start, prefs.job_folder = False, os.path.join(tmp, "jobs")
    return bpy, pkg, tmp


def import_sample(bpy, width: int, height: int, frames: int, model: str = "wan2.2-ti2v-5b"):
    import json

    cam = json.load(open(os.path.join(ROOT, "samples", "room_camera.json")))
    bpy.ops.realcam.import_photo(
        filepath=os.path.join(ROOT, "samples", "room.jpg"),
        depth_map=os.path.join(ROOT, "samples", "room_depth.png"),
        focal_px=cam["fx"],
        model=model,
        width=width,
        height=height,
        frames=frames,
    )
    return bpy.context.scene


def timed(fn, repeat: int) -> float:
    """Median seconds of one call of fn over repeat calls (the median: one slow call, e.g. a GC pause, does not
    count)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
