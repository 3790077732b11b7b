"""`realcam eval` on true renders along known moves: scores over repeated runs, and time per video.

python bench/eval_accuracy.py [--size 256x160] [--frames 25] [--runs 3] [--moves dolly_in,pan,...]
                              [--python OTHER_PYTHON] [--renders DIR]

Renders a textured room along each move with Cycles (tests/blender_scripts/textured_moves.py), then
scores every video against its own, true track --runs times through the CLI (a fresh process each
time, as an artist runs it). A right scorer gives small numbers, the same in every run. --python
runs another checkout's `realcam` (e.g. main's .venv/bin/python) on the same renders, for before/after.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOVES = ("dolly_in", "dolly_out", "pan", "orbit", "crane", "zoom", "truck")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="256x160")
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--moves", default=",".join(MOVES))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--renders", help="reuse (or keep) renders in this folder")
    a = ap.parse_args()
    w, h = a.size.lower().split("x")
    moves = a.moves.split(",")
    out = a.renders or tempfile.mkdtemp(prefix="realcam-bench-eval-")
    todo = [m for m in moves if not os.path.exists(os.path.join(out, m, "cameras.txt"))]
    if todo:
        script = os.path.join(ROOT, "tests", "blender_scripts", "textured_moves.py")
        r = subprocess.run(
            [sys.executable, script, out, w, h, str(a.frames), *todo], capture_output=True, text=True, check=False
        )
        if r.returncode:
            sys.exit(r.stdout[-2000:] + r.stderr[-2000:])
    from PIL import Image

    first = os.path.join(out, moves[0], "frames")
    names = sorted(os.listdir(first))
    size = "x".join(map(str, Image.open(os.path.join(first, names[0])).size))
    print(f"# realcam eval on true renders in {out}, {size}, {len(names)} frames, {a.runs} runs, {a.python}")
    print("| move | run | registered | model | RotErr | TransErr | CamMC | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for move in moves:
        for run in range(a.runs):
            t0 = time.perf_counter()
            r = subprocess.run(
                [a.python, "-m", "realcam", "eval", os.path.join(out, move, "frames"), "--cameras"]
                + [os.path.join(out, move, "cameras.txt")],
                capture_output=True,
                text=True,
                check=False,
            )
            dt = time.perf_counter() - t0
            try:
                d = json.loads(r.stdout)
                row = [d["registered"], d.get("model", "incremental"), d["RotErr"], d["TransErr"], d["CamMC"]]
                row = [str(x) if isinstance(x, (int, str)) else f"{x:.4f}" for x in row]
            except json.JSONDecodeError:
                why = (r.stderr.strip().splitlines() or ["?"])[-1][:60]
                row = ["failed", why, "", "", ""]
                if r.stdout.strip():
                    row[1] += f" (stdout not JSON: {r.stdout[:40]!r})"
            print(f"| {move} | {run} | " + " | ".join(row) + f" | {dt:.1f} |", flush=True)


if __name__ == "__main__":
    main()
