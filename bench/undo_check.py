"""What an undo costs Blender's main thread for "Preview out of date": the quick state of shots at a generation size.

    python bench/undo_check.py [--size 1280x704] [--shots 3] [--repeat 5]

After an undo, a redo or opening a file the add-on compares every shot that has a preview with the quick state
kept with it (preview/fingerprint.py), twice per undo (at undo_post and at the reload's depsgraph update). Shots
are imported from the sample with its depth map (no backend), each with a dolly and its quick state noted as a
preview would. Printed: the median seconds of one shot's quick state, of the handler's work for all shots, and of a
whole ctrl-Z (Blender's own undo with the handlers in it) for reference.
"""

import argparse
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blender import blender_with_addon, import_sample, timed  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1280x704")
    ap.add_argument("--shots", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    bpy, pkg, _ = blender_with_addon()
    shots = importlib.import_module(f"{pkg}.shot.shots")
    for _ in range(args.shots):
        bpy.context.window.scene = bpy.data.scenes["Scene"]
        shot = import_sample(bpy, w, h, 25)
        bpy.ops.realcam.preset(kind="DOLLY_IN")
        shots.note_preview(shot)  # as a rendered preview leaves it, without rendering one
    mesh = shot.realcam.photo_mesh.data
    print(f"{args.shots} shots at {w}x{h}: {len(mesh.vertices):,} vertices, {len(mesh.polygons):,} faces each")

    name = shot.name

    def one_undo():
        shot = bpy.data.scenes[name]  # an undo reloads the data: look the shot up again each time
        shot.realcam.seed += 1  # a change the preview does not show, as its own undo step
        bpy.ops.ed.undo_push(message="Seed")
        bpy.ops.ed.undo()

    one = timed(lambda: shots.quick_state(shot), args.repeat)
    handler = timed(shots.after_reload, args.repeat)
    undo = timed(one_undo, args.repeat)
    print(f"quick state of one shot: {one * 1000:.1f} ms")
    print(f"after an undo, all {args.shots} shots compared: {handler * 1000:.1f} ms (twice per undo)")
    print(f"a whole ctrl-Z with the handlers in it: {undo * 1000:.1f} ms")


if __name__ == "__main__":
    main()
