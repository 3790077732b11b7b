"""Where a 1920x1080 photo import's time goes: the main thread's Blender steps and the numpy workers, on one clock.

    python bench/import_timeline.py [--size 1920x1080] [--repeat 3]

Drives photo_mesh.write_mesh step by step as the import does (numpy parts in worker threads) and prints, per run,
each main-thread step (send: Blender work, wait: for a worker's part) and each numpy part (start, wall, its own
thread's CPU time), in ms from the start. The first run warms up and is not printed.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blender import blender_with_addon  # noqa: E402
from pointcloud import synthetic_photo  # noqa: E402

PARTS = ("face_mask", "topology_counts", "grid_faces", "grid_edges", "grid_corner_edges", "grid_vertices")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    bpy, pkg, _ = blender_with_addon()
    photo_mesh, tasks = sys.modules[f"{pkg}.shot.photo_mesh"], sys.modules[f"{pkg}.tasks"]

    rgb, depth, K = synthetic_photo(w, h)
    log, start = [], [0.0]

    def timed(name):
        fn = getattr(photo_mesh, name)

        def run(*a, **kw):
            t, c = time.perf_counter(), time.thread_time()
            out = fn(*a, **kw)
            log.append((name, t - start[0], time.perf_counter() - t, time.thread_time() - c))
            return out

        setattr(photo_mesh, name, run)

    for name in (*PARTS, "colors_linear"):
        timed(name)
    for run in range(args.repeat + 1):
        log.clear()
        start[0] = t0 = time.perf_counter()
        gen = photo_mesh.write_mesh(f"timeline{run}", photo_mesh.photo_parts(rgb, depth, K, 1.05))
        steps = []
        while True:
            t = time.perf_counter()
            try:
                item = gen.send(None)
            except StopIteration as stop:
                steps.append(("send", t - t0, time.perf_counter() - t))
                name = stop.value
                break
            steps.append(("send", t - t0, time.perf_counter() - t))
            if isinstance(item, tasks.WaitFor):
                t = time.perf_counter()
                item.check.__self__.result()  # WaitFor(future.done)
                steps.append(("wait", t - t0, time.perf_counter() - t))
        total = time.perf_counter() - t0
        bpy.data.meshes.remove(bpy.data.meshes[name])
        if run == 0:
            continue
        sends = sum(d for k, _, d in steps if k == "send")
        print(f"run {run}: {w}x{h} mesh in {total * 1000:.0f} ms, main thread in Blender {sends * 1000:.0f} ms")
        print("  main thread: " + " ".join(f"{k}@{s * 1000:.0f}+{d * 1000:.0f}" for k, s, d in steps))
        for name, s, d, c in sorted(log, key=lambda x: x[1]):
            print(f"  {name:18s} at {s * 1000:6.1f}  wall {d * 1000:6.1f}  CPU {c * 1000:6.1f}")


if __name__ == "__main__":
    main()
