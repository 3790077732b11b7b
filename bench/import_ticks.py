"""How long Blender's main thread is held per timer tick while a photo is imported.

    python bench/import_ticks.py [--sizes 1280x704,1920x1080] [--repeat 3]

Real Blender with the add-on installed from its zip, on the interactive path: the Import Photo operator returns
at once and its task runs on the add-on's timer, called here the way Blender's event loop calls it (every
interval it asks for, without a window in the context). Depth comes from the sample's depth map, so no backend is
involved; the photo is the sample resized to each size. Every tick's main-thread time is recorded from the
first tick to the end of the task (the undo step included). No video model makes 1920x1080, so for sizes a
model refuses the bench lifts the model's size check: the import's own work is what is measured.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blender import ROOT, blender_with_addon  # noqa: E402


def import_once(bpy, pkg, size, lift_size_check):
    """One interactive import; ([(seconds, main-thread CPU seconds, what the tick did)] per tick, wall seconds)."""
    import json

    tasks = sys.modules[f"{pkg}.tasks"]
    models = sys.modules[f"{pkg}.realcam_core.models"]
    cam = json.load(open(os.path.join(ROOT, "samples", "room_camera.json")))
    problems = models.ModelSpec.problems
    if lift_size_check:
        models.ModelSpec.problems = lambda self, *a, **k: []
    try:
        runner = tasks.RUNNER
        runner.tick_times.clear()
        before = runner.tasks[-1] if runner.tasks else None
        bpy.ops.realcam.import_photo(
            filepath=os.path.join(ROOT, "samples", "room.jpg"),
            depth_map=os.path.join(ROOT, "samples", "room_depth.png"),
            focal_px=cam["fx"] * size[0] / 832,
            model="wan2.2-ti2v-5b",
            width=size[0],
            height=size[1],
            frames=17,
        )
        task = runner.tasks[-1]
        assert task is not before, "the import did not start a task"
        ticks, t0 = [], time.perf_counter()
        while not task.done:
            before = task.message or task.stage
            cpu = time.thread_time()
            with bpy.context.temp_override(window=None):
                interval = tasks.timer()
            cpu = time.thread_time() - cpu
            ticks.append((runner.tick_times[-1], cpu, f"{before} .. {task.message or task.stage}"))
            time.sleep(interval)  # Blender's turn: the timer comes back after the interval it asked for
        wall = time.perf_counter() - t0
        if task.error:
            raise SystemExit(f"import failed: {task.error}")
        return ticks, wall
    finally:
        models.ModelSpec.problems = problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1280x704,1920x1080")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--verbose", action="store_true", help="list the longest ticks and what they did")
    args = ap.parse_args()
    bpy, pkg, _tmp = blender_with_addon()
    bpy.ops.wm.read_homefile(use_factory_startup=True)  # the default startup file (cube, light, camera)
    assert pkg in bpy.context.preferences.addons and "Cube" in bpy.data.objects
    tasks = sys.modules[f"{pkg}.tasks"]
    tasks.RUNNER.blocking = False  # an interactive Blender: the timer does the work
    models = sys.modules[f"{pkg}.realcam_core.models"]
    spec = models.known_model("wan2.2-ti2v-5b").spec
    for text in args.sizes.split(","):
        size = tuple(int(v) for v in text.split("x"))
        lift = bool(spec.problems(size[0], size[1], 17))
        runs = [import_once(bpy, pkg, size, lift) for _ in range(args.repeat)]
        every = [tick for run, _ in runs for tick in run]
        print(
            f"import {size[0]}x{size[1]} ({size[0] * size[1]} points), {len(runs)} imports, "
            f"{len(every) / len(runs):.0f} ticks each:"
        )
        for label, k in (("main thread per tick", 0), ("  its CPU time", 1)):
            ticks = sorted(t[k] for t in every)
            longest = max(every, key=lambda t: t[k])
            print(
                f"  {label}: median {statistics.median(ticks) * 1000:.2f} ms, "
                f"p99 {ticks[min(len(ticks) - 1, int(len(ticks) * 0.99))] * 1000:.2f} ms, "
                f"max {ticks[-1] * 1000:.2f} ms (from {longest[2]})"
            )
        total = statistics.median(sum(t[0] for t in run) for run, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(f"  main thread in all: {total:.3f} s of {wall:.1f} s from the first tick to the end (median)")
        if args.verbose:
            for t, cpu, where in sorted(every, reverse=True)[:8]:
                print(f"    {t * 1000:8.2f} ms ({cpu * 1000:6.2f} ms CPU)  {where}")
        if lift:
            print("  (no model makes this size: the bench lifted the size check)")


if __name__ == "__main__":
    main()
