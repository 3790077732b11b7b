"""`realcam track` on true renders: time per clip and per frame, accuracy, and data-mode throughput 1 vs N workers.

python bench/track.py [--size 256x192] [--frames 20] [--moves orbit,truck,dolly_in,pan] [--clips 4]
                      [--workers N] [--renders DIR]

Renders a textured room along each move with Cycles and its true depth (tests/blender_scripts/textured_moves.py
--depth), then
1. tracks each clip once through the CLI (a fresh process, as an artist runs it) with the lens given and the
   true depth of frame 0 as an EXR map: seconds per clip and per frame, translation error in % of the move's
   reach, rotation error in degrees, scale spread;
2. tracks the same clips with the lens estimated: the focal length found against the true one;
3. tracks a folder of --clips clips (copies of the moves) in data mode with 1 worker and with --workers
   (default: all cores), depth from a tiny random Depth Anything model: clips per minute and the speed-up.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOV = 60.0


def render(out, w, h, frames, moves):
    todo = [m for m in moves if not os.path.exists(os.path.join(out, m, "cameras.txt"))]
    if todo:
        script = os.path.join(ROOT, "tests", "blender_scripts", "textured_moves.py")
        r = subprocess.run(
            [sys.executable, script, out, str(w), str(h), str(frames), *todo, "--depth"],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode:
            sys.exit(r.stdout[-2000:] + r.stderr[-2000:])


def cpu_seconds() -> float:
    """CPU time of finished child processes (and theirs): what a clip costs, whatever else loads the machine."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(*args):
    """(CompletedProcess, wall seconds, CPU seconds) of `realcam ARGS`."""
    t0, c0 = time.perf_counter(), cpu_seconds()
    r = subprocess.run([sys.executable, "-m", "realcam", *map(str, args)], capture_output=True, text=True, check=False)
    return r, time.perf_counter() - t0, cpu_seconds() - c0


def track(clip, out, *extra):
    r, dt, cpu = run("track", clip, "--out", out, *extra)
    if r.returncode:
        return None, dt, cpu, (r.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(r.stdout), dt, cpu, None


def errors(renders, move, rep, size):
    from realcam.evaluate.accuracy import load_track
    from realcam.evaluate.metrics import rotation_angles
    from realcam_core.camera import relative_to_first
    from realcam_core.re10k import read_re10k

    _, gt = load_track(os.path.join(renders, move, "cameras.txt"), size)
    truth = relative_to_first(gt[rep["registered_frames"]])
    got = np.stack([f.c2w() for f in read_re10k(rep["camera_file"]).frames])
    reach = np.linalg.norm(truth[:, :3, 3], axis=1).max()
    t = np.linalg.norm(got[:, :3, 3] - truth[:, :3, 3], axis=1).max()
    r = np.degrees(rotation_angles(truth[:, :3, :3], got[:, :3, :3])).max()
    # A pan's true track moves by Blender's float32 noise only: a percentage of that means nothing.
    return reach, (f"{100 * t / reach:.2f}" if reach > 1e-4 else f"{t:.1e} m"), r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="256x192")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--moves", default="orbit,truck,dolly_in,pan")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--renders", help="reuse (or keep) renders in this folder")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    moves = a.moves.split(",")
    renders = a.renders or tempfile.mkdtemp(prefix="realcam-bench-track-renders-")
    render(renders, w, h, a.frames, moves)
    work = tempfile.mkdtemp(prefix="realcam-bench-track-")
    print(f"# realcam track on true renders ({renders}), {w}x{h}, {a.frames} frames, {os.cpu_count()} cores")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(
        "| move | lens | registered | fx (true) | reach m | trans err % | rot err deg | spread % | s/clip | s/frame "
        "| CPU s/clip |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    true_fx = 0.5 * w / np.tan(np.radians(FOV / 2))
    for move in moves:
        frames = os.path.join(renders, move, "frames")
        depth = os.path.join(renders, move, "depth", "0000.exr")
        for lens, extra in (("given", ("--fov", FOV)), ("estimated", ())):
            rep, dt, cpu, err = track(frames, os.path.join(work, f"{move}-{lens}.txt"), "--depth-map", depth, *extra)
            if rep is None:
                print(f"| {move} | {lens} | failed: {err[:60]} ||||||||")
                continue
            reach, t, r = errors(renders, move, rep, (w, h))
            s = rep["scale"]
            spread = f"{100 * s['spread']:.2f}" if s["status"] == "metric" else s["status"]
            print(
                f"| {move} | {lens} | {rep['frames_registered']}/{rep['frames_sampled']} | "
                f"{rep['intrinsics']['fx']:.1f} ({true_fx:.1f}) | {reach:.3f} | {t} | {r:.3f} | {spread} | "
                f"{dt:.1f} | {dt / rep['frames_sampled']:.2f} | {cpu:.1f} |",
                flush=True,
            )

    from realcam.testing.tiny_models import build_all

    model = build_all(os.path.join(work, "models"), only=["depth-anything"])["depth-anything"]
    clips = os.path.join(work, "clips")
    os.makedirs(clips)
    for i in range(a.clips):
        move = moves[i % len(moves)]
        shutil.copytree(os.path.join(renders, move, "frames"), os.path.join(clips, f"{i:02d}-{move}"))
    print(f"\n# data mode: {a.clips} clips, depth from a tiny random Depth Anything")
    print("| workers | seconds | clips/min | speed-up | CPU s/clip | load average before |")
    print("|---|---|---|---|---|---|")
    base = None
    for workers in sorted({1, a.workers}):
        load = os.getloadavg()[0]
        out = os.path.join(work, f"poses-{workers}")
        r, dt, cpu = run("track", clips, "--out", out, "--fov", FOV, "--depth-model", model, "--workers", workers)
        summary = json.loads(r.stdout) if r.stdout.strip() else {"failed": r.stderr[-200:]}
        if summary.get("failed"):
            print(f"| {workers} | failed: {summary['failed']} |||||")
            continue
        base = base or dt
        print(
            f"| {workers} | {dt:.1f} | {60 * a.clips / dt:.1f} | {base / dt:.2f} | {cpu / a.clips:.1f} | {load:.1f} |",
            flush=True,
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
