"""A photo import in real Blender, before and after issue 30: how long it takes and how long Blender's main thread
is held per timer tick.

    python bench/import_ticks.py [--sizes 1280x704,1920x1080] [--repeat 3] [--before REV] [--verbose]

Two Blender processes in the same run, one after the other: the add-on as it was at REV (taken from git: its
addon/ folder, built with this checkout's manifest), then this checkout's. Each imports the sample photo with its
depth map (no backend) from the default startup file, on the interactive path: the Import Photo operator returns
and its task runs on the add-on's timer, called here the way Blender's event loop calls it (after the interval it
asks for, without a window in the context). The operator's own call counts as a tick. Per import: the time from
pressing Import to the task's end (undo step included), each tick's main-thread time (wall and CPU) and their sum.
No video model makes 1920x1080, so for sizes a model refuses, the bench lifts the model's size check: the import's
own work is what is measured. The ratios are after / before, medians over the imports.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blender import ROOT, blender_with_addon  # noqa: E402

# The last commit before the import was cut into slices (issue 30 item 3, issue 25 item 9).
BEFORE = "113aaede5e29395c985b4781abf4449e59fefd09"


def import_once(bpy, pkg, size, lift_size_check):
    """One interactive import: ([(seconds, main-thread CPU seconds, what the tick did)] per tick, wall seconds)."""
    tasks = sys.modules[f"{pkg}.tasks"]
    models = sys.modules[f"{pkg}.realcam_core.models"]
    cam = json.load(open(os.path.join(ROOT, "samples", "room_camera.json")))
    problems = models.ModelSpec.problems
    if lift_size_check:
        models.ModelSpec.problems = lambda self, *a, **k: []
    try:
        runner = tasks.RUNNER
        before = runner.tasks[-1] if runner.tasks else None
        t0, cpu = time.perf_counter(), time.thread_time()
        bpy.ops.realcam.import_photo(
            filepath=os.path.join(ROOT, "samples", "room.jpg"),
            depth_map=os.path.join(ROOT, "samples", "room_depth.png"),
            focal_px=cam["fx"] * size[0] / 832,
            model="wan2.2-ti2v-5b",
            width=size[0],
            height=size[1],
            frames=17,
            replace=False,
        )
        ticks = [(time.perf_counter() - t0, time.thread_time() - cpu, "the operator")]
        task = runner.tasks[-1]
        assert task is not before, "the import did not start a task"
        while not task.done:
            where = task.message or task.stage
            t, cpu = time.perf_counter(), time.thread_time()
            with bpy.context.temp_override(window=None):
                interval = tasks.timer()
            did = f"{where} .. {task.message or task.stage}"
            ticks.append((time.perf_counter() - t, time.thread_time() - cpu, did))
            time.sleep(interval)  # Blender's turn: the timer comes back after the interval it asked for
        wall = time.perf_counter() - t0
        if task.error:
            raise SystemExit(f"import failed: {task.error}")
        return ticks, wall
    finally:
        models.ModelSpec.problems = problems


def measure(root, sizes, repeat, out):
    """In this process: import each size `repeat` times with the add-on of `root` (None: this checkout); the
    results as JSON into out."""
    bpy, pkg, _tmp = blender_with_addon(root=root)
    bpy.ops.wm.read_homefile(use_factory_startup=True)  # the default startup file (cube, light, camera)
    assert pkg in bpy.context.preferences.addons and "Cube" in bpy.data.objects
    tasks = sys.modules[f"{pkg}.tasks"]
    tasks.RUNNER.blocking = False  # an interactive Blender: the timer does the work
    models = sys.modules[f"{pkg}.realcam_core.models"]
    spec = models.known_model("wan2.2-ti2v-5b").spec
    results = {}
    for size in sizes:
        lift = bool(spec.problems(size[0], size[1], 17))
        runs = []
        for _ in range(repeat):
            ticks, wall = import_once(bpy, pkg, size, lift)
            runs.append({"ticks": ticks, "wall": wall})
            if bpy.context.window is not None:  # back to the artist's scene, as a click does
                bpy.context.window.scene = bpy.data.scenes["Scene"]
        results[f"{size[0]}x{size[1]}"] = {"runs": runs, "lifted": lift}
    with open(out, "w") as fh:
        json.dump(results, fh)


def old_addon(rev: str, tmp: str) -> str:
    """A folder with the add-on's sources at rev (this checkout's manifest and README: the bundle checks versions)."""
    root = os.path.join(tmp, "before")
    os.makedirs(root)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev, "addon"], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"cannot take the add-on at {rev} from git: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
    for name in ("blender_manifest.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), root)
    return root


def summary(runs) -> dict:
    every = [t for r in runs for t in r["ticks"]]
    longest = max(every, key=lambda t: t[0])
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "main": statistics.median(sum(t[0] for t in r["ticks"]) for r in runs),
        "ticks": statistics.median(len(r["ticks"]) for r in runs),
        "max": longest[0],
        "max_cpu": max(t[1] for t in every),
        "max_where": longest[2],
        "median": statistics.median(t[0] for t in every),
        "over_50ms": sum(1 for t in every if t[0] > 0.05) / len(runs),
        "every": every,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1280x704,1920x1080")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", default=BEFORE, help="the git revision whose add-on is the reference")
    ap.add_argument("--verbose", action="store_true", help="list the longest ticks and what they did")
    ap.add_argument("--measure", nargs=2, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)  # one side, in a child
    args = ap.parse_args()
    sizes = [tuple(int(v) for v in text.split("x")) for text in args.sizes.split(",")]
    if args.measure:
        root, out = args.measure
        measure(None if root == "-" else root, sizes, args.repeat, out)
        return
    tmp = tempfile.mkdtemp(prefix="realcam-import-ticks-")
    try:
        sides = {}
        for side, root in (("before", old_addon(args.before, tmp)), ("after", "-")):
            out = os.path.join(tmp, f"{side}.json")
            cmd = [sys.executable, os.path.abspath(__file__), "--measure", root, out]
            # Blender's and the build's chatter to stderr: stdout is the table (run_all.py copies it into the docs).
            subprocess.run([*cmd, "--sizes", args.sizes, "--repeat", str(args.repeat)], check=True, stdout=sys.stderr)
            with open(out) as fh:
                sides[side] = json.load(fh)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"photo import from pressing Import to its end, before = add-on at {args.before[:7]}, after = this checkout")
    print(f"(median of {args.repeat} imports each, from the default startup file; ratio = after / before)")
    for text in args.sizes.split(","):
        b, a = summary(sides["before"][text]["runs"]), summary(sides["after"][text]["runs"])
        w, h = (int(v) for v in text.split("x"))
        print(f"import {text} ({w * h} points):")
        print(f"  {'':34} {'before':>10} {'after':>10} {'ratio':>7}")
        rows = (
            ("import time (s)", "wall", 1, "{:10.3f}"),
            ("main thread in all (s)", "main", 1, "{:10.3f}"),
            ("longest tick (ms)", "max", 1000, "{:10.1f}"),
            ("  its CPU time (ms)", "max_cpu", 1000, "{:10.1f}"),
            ("median tick (ms)", "median", 1000, "{:10.2f}"),
            ("ticks", "ticks", 1, "{:10.0f}"),
            ("ticks over 50 ms per import", "over_50ms", 1, "{:10.1f}"),
        )
        for label, key, scale, fmt in rows:
            ratio = f"{a[key] / b[key]:7.2f}" if b[key] else f"{'-':>7}"
            print(f"  {label:<34} {fmt.format(b[key] * scale)} {fmt.format(a[key] * scale)} {ratio}")
        print(f"  longest tick before: {b['max_where']}; after: {a['max_where']}")
        if args.verbose:
            for t, cpu, where in sorted(a["every"], reverse=True)[:8]:
                print(f"    after  {t * 1000:8.2f} ms ({cpu * 1000:6.2f} ms CPU)  {where}")
        if sides["after"][text]["lifted"]:
            print("  (no model makes this size: the bench lifted the size check)")


if __name__ == "__main__":
    main()
