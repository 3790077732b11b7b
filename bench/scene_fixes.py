"""Scene fixes on a shot at a generation size: Apply scale, Apply focal and Depth edge, each rebuilding the mesh.

    python bench/scene_fixes.py [--size 1280x704] [--repeat 5]

Each fix runs as the panel's button does (one operator call, on the main thread): the
photo mesh is rebuilt from its vertices, the camera's keys are scaled. Printed: the
median seconds per call, which is how long Blender is busy after the click.
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
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    bpy, pkg, _ = blender_with_addon()
    shot = import_sample(bpy, w, h, 25)
    rc = shot.realcam
    bpy.ops.realcam.preset(kind="DOLLY_IN")
    print(f"shot {w}x{h}: {len(rc.photo_mesh.data.vertices):,} vertices, {len(rc.photo_mesh.data.polygons):,} faces")

    flip = [1.1]

    def scale():
        rc.scale_factor = flip[0]
        bpy.ops.realcam.apply_scale(source="FACTOR")
        flip[0] = 1.0 / flip[0]  # back and forth, so the shot stays the same size

    def focal():
        rc.focal_input = focal.values[focal.i % 2]
        bpy.ops.realcam.apply_focal()
        focal.i += 1

    photo_scene = importlib.import_module(f"{pkg}.shot.photo_scene")
    fx = photo_scene.photo_intrinsics(rc).fx
    focal.values, focal.i = (fx * 1.2, fx), 0  # 20 % longer and back

    def edge():
        rc.depth_edge = 5.0 if rc.depth_edge != 5.0 else 10.0

    print(f"Apply scale (factor): {timed(scale, args.repeat):.3f} s per click")
    print(f"Apply focal: {timed(focal, args.repeat):.3f} s per click")
    print(f"Depth edge change: {timed(edge, args.repeat):.3f} s per change")


if __name__ == "__main__":
    main()
