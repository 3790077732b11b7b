"""How long Blender's main thread is held per timer tick while a take is generated.

    python bench/addon_ticks.py [--frames 17] [--size 256x160]

In real Blender with the add-on installed from its zip and a backend with a small
model: imports the sample, keys a dolly, renders the preview, then runs the
generate task by calling the same pump() that Blender's timer calls every
0.1 s, and reports the main-thread time of every tick (camera reading, bundle
hand-off, polling, download, strip creation). Network and packing run in
worker threads, so they do not count.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--size", default="256x160")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    tmp = tempfile.mkdtemp(prefix="realcam-ticks-")
    from _server import tiny_server
    from build_addon import build, install_into_blender

    from realcam.testing.tiny_wan import build_wan22_ti2v

    model = build_wan22_ti2v(os.path.join(tmp, "tiny-wan"))
    stack = contextlib.ExitStack()
    client = stack.enter_context(tiny_server(os.path.join(tmp, "data"), model))
    try:
        pkg = install_into_blender(build(os.path.join(tmp, "dist")), os.path.join(tmp, "blender-user"))
        import bpy

        prefs = bpy.context.preferences.addons[pkg].preferences
        prefs.backend_url, prefs.auto_start, prefs.job_folder = client.base, False, tmp
        cam = json.load(open(os.path.join(ROOT, "samples", "room_camera.json")))
        bpy.ops.realcam.import_photo(
            filepath=os.path.join(ROOT, "samples", "room.jpg"),
            depth_map=os.path.join(ROOT, "samples", "room_depth.png"),
            focal_px=cam["fx"],
            model="wan2.2-ti2v-5b",
            width=w,
            height=h,
            frames=args.frames,
        )
        scene = bpy.context.scene
        scene.realcam.model, scene.realcam.steps = "tiny", 8
        bpy.ops.realcam.preset(kind="ORBIT_LEFT")
        bpy.ops.realcam.preview()
        tasks = sys.modules[f"{pkg}.tasks"]
        flows = sys.modules[f"{pkg}.flows.generate"]
        runner = tasks.RUNNER
        runner.tick_times.clear()
        task = tasks.Task("generate", None, scene.realcam.shot_id)
        task.gen = flows.generate(task, bpy.context, scene)
        runner.start(task)
        t0 = time.perf_counter()
        while not task.done:
            runner.pump()
            time.sleep(tasks.TICK_INTERVAL)  # what Blender's timer does between ticks
        wall = time.perf_counter() - t0
        if task.error:
            raise SystemExit(f"generate failed: {task.error}")
        ticks = sorted(runner.tick_times)
        print(f"generate task: {len(ticks)} ticks over {wall:.1f} s, {args.frames} frames at {w}x{h}")
        print(
            f"  main thread per tick: median {statistics.median(ticks) * 1000:.2f} ms, "
            f"p99 {ticks[int(len(ticks) * 0.99)] * 1000:.2f} ms, max {ticks[-1] * 1000:.2f} ms "
            f"(budget {tasks.TICK_BUDGET * 1000:.0f} ms of work per tick)"
        )
        print(f"  main thread in all: {sum(ticks):.3f} s of {wall:.1f} s")
    finally:
        stack.close()


if __name__ == "__main__":
    main()
