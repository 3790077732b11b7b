"""Eevee preview render time per frame at a generation size (832x480 by default).

    python bench/preview_render.py [--size 832x480] [--frames 5]

Imports the sample through the add-on, keys a dolly and renders the preview as
the add-on does; reports the first frame (shader compilation) and the median
of the others, from Blender's own per-frame render-complete handler.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blender import blender_with_addon, import_sample  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="832x480")
    ap.add_argument("--frames", type=int, default=5)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    bpy, pkg, tmp = blender_with_addon()
    import_sample(bpy, w, h, args.frames)
    bpy.ops.realcam.preset(kind="DOLLY_IN")
    stamps = []
    bpy.app.handlers.render_write.append(lambda *a: stamps.append(time.perf_counter()))
    t0 = time.perf_counter()
    bpy.ops.realcam.preview()
    per = [stamps[0] - t0] + [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    rest = per[1:] or per
    print(
        f"preview {w}x{h}, {args.frames} frames, engine {bpy.context.scene.render.engine} (restored after), "
        f"{len(bpy.context.scene.realcam.photo_mesh.data.vertices)} vertices:"
    )
    print(f"  first frame (with shader compilation): {per[0]:.2f} s")
    print(f"  per frame after it: median {statistics.median(rest):.2f} s")


if __name__ == "__main__":
    main()
