"""Where the time of one take goes, with a small model: the overhead around the model made visible.

    python bench/job_stages.py [--size 256x160] [--frames 17] [--steps 8]

Real Blender with the add-on, a real backend process with a tiny random-weight
Wan model. Stages: reading the camera, packing the bundle (copy + zip), upload
(submit until queued), validation (the backend's bundle check, timed alone),
load / encode / denoise / decode / write (from the backend's result.json),
download, and import into the sequencer (the movie strip).
"""

import argparse
import contextlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blender import blender_with_addon, import_sample  # noqa: E402
from _server import tiny_server  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="256x160")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--steps", type=int, default=8)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    from realcam.testing.tiny_wan import build_wan22_ti2v

    bpy, pkg, tmp = blender_with_addon()
    model = build_wan22_ti2v(os.path.join(tmp, "tiny-wan"))
    stack = contextlib.ExitStack()
    client = stack.enter_context(tiny_server(os.path.join(tmp, "data"), model))
    try:
        prefs = bpy.context.preferences.addons[pkg].preferences
        prefs.backend_url = client.base
        scene = import_sample(bpy, w, h, args.frames)
        scene.realcam.model, scene.realcam.steps = "tiny", args.steps
        bpy.ops.realcam.preset(kind="TRUCK_LEFT")
        bpy.ops.realcam.preview()
        tasks, flows, seq = (sys.modules[f"{pkg}.{m}"] for m in ("tasks", "flows.generate", "edit.sequencer"))
        stamps = {}
        task = tasks.Task("generate", None, scene.realcam.shot_id)
        original = task.report

        def report(stage, *a, **kw):
            key = stage.split(" (")[0]
            stamps.setdefault(key, time.perf_counter())
            original(stage, *a, **kw)

        task.report = report
        task.gen = flows.generate(task, bpy.context, scene)
        t0 = time.perf_counter()
        tasks.RUNNER.start(task)
        while not task.done:
            tasks.RUNNER.pump()
            time.sleep(0.01)
        t_end = time.perf_counter()
        if task.error:
            raise SystemExit(f"generate failed: {task.error}")
        take = json.loads(scene.realcam.takes[-1].settings)
        result = json.load(open(os.path.join(take["take"], "result.json")))
        from realcam_core.bundle import validate_bundle

        t = time.perf_counter()
        validate_bundle(os.path.join(take["take"], "bundle"))
        validation = time.perf_counter() - t
        t = time.perf_counter()
        strip = seq.add_take(
            scene.realcam.edit_scene,
            scene,
            os.path.join(take["take"], "video.mp4"),
            scene.frame_start,
            args.frames,
            "again",
            {},
        )
        strip_import = time.perf_counter() - t
        first_poll = min(v for k, v in stamps.items() if k in ("queued", "starting", "load", "encode", "denoise"))
        rows = [
            ("read camera (main thread, sliced)", stamps["packing the job"] - stamps["reading the camera"]),
            (
                "pack bundle: copy + zip (worker thread)",
                stamps["connecting to the backend"] - stamps["packing the job"],
            ),
            ("upload: submit until queued", first_poll - stamps["connecting to the backend"]),
            ("  of which bundle validation", validation),
        ]
        rows += [(f"backend {k.replace('_s', '')}", v) for k, v in result["timings"].items() if k != "total_s"]
        rows += [
            ("download video + result", stamps["done"] - stamps["downloading"]),
            ("  of which the sequencer strip", strip_import),
            ("total, click to strip", t_end - t0),
        ]
        archive = os.path.getsize(os.path.join(take["take"], "bundle.zip"))
        print(
            f"one take: {args.frames} frames at {w}x{h}, {args.steps} steps, tiny Wan 2.2-layout model, "
            f"bundle {archive / 1024:.0f} KiB"
        )
        for name, sec in rows:
            print(f"  {name:42s} {sec * 1000:9.1f} ms")
        del strip
    finally:
        stack.close()


if __name__ == "__main__":
    main()
