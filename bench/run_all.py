"""Run every benchmark and write docs/benchmarks.md with a description of the machine.

python bench/run_all.py [--out docs/benchmarks.md]
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOISE = re.compile(
    r"^(EGL |Info:|STATUS|building:|complete$|created:|Success parsing|Fra:|Saved:|Time:|Read |PLY import of|"
    r"\[transformers\]|.*it/s\]|Warning|Writing model shards|Loading)"
)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(next(ln for ln in fh if ln.startswith("MemTotal")).split()[1])
            mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    import numpy
    import torch

    try:
        import bpy

        bver = bpy.app.version_string
    except Exception:
        bver = "?"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU (CPU only)"
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {gpu}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}, "
        f"Blender (bpy) {bver}"
    )


def kept_gpu_sections(path: str) -> list[str]:
    """Sections no CPU run can remake, so a rewrite keeps them: measured on a lent GPU machine ("## On a GPU: ...")
    and recorded by hand ("## Recorded by hand ...")."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return []
    kept = r"^## (?:On a GPU:|Recorded by hand).*?(?=^## |\Z)"
    return [m.group(0).rstrip() + "\n" for m in re.finditer(kept, text, re.M | re.S)]


def run(args: list[str], timeout=1800) -> str:
    r = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip() and not NOISE.match(ln)]
    if r.returncode != 0:
        lines.append(f"(exited with {r.returncode}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''})")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    args = ap.parse_args()
    tiny = tempfile.mkdtemp(prefix="realcam-bench-models-")
    subprocess.run([sys.executable, "-m", "realcam", "tiny-models", tiny], check=True, capture_output=True)
    benches = [
        ("Point cloud of a 1920x1080 depth map (numpy)", ["bench/pointcloud.py"]),
        ("Photo import into Blender vs PLY + Blender's PLY importer", ["bench/import_vs_ply.py", "--repeat", "5"]),
        ("Eevee preview render per frame at 832x480", ["bench/preview_render.py", "--size", "832x480"]),
        ("Scene fixes (scale, focal, depth edge) on a 1280x704 shot", ["bench/scene_fixes.py", "--size", "1280x704"]),
        ("Undo: the preview's quick state of three 1280x704 shots", ["bench/undo_check.py", "--size", "1280x704"]),
        (
            "Noise shaping overhead at real latent sizes",
            [
                "bench/sns_overhead.py",
                "--tiny-model",
                os.path.join(tiny, "wan22-ti2v"),
                "--tiny-model",
                os.path.join(tiny, "svd"),
            ],
        ),
        ("Camera condition cost of Wan2.2-Fun-5B-Control-Camera at 1280x704x121", ["bench/camera_adapter.py"]),
        ("Backend service request overhead", ["bench/server_overhead.py"]),
        ("Memory of small uploads that are costly to read", ["bench/upload_memory.py"]),
        ("The service under attack: deletes, stalled sockets, a log flood", ["bench/service_attacks.py"]),
        ("Studio dashboard: page weight, state answer, update latency", ["bench/dashboard.py"]),
        ("Job queue on a local Ray cluster: 1 and 2 slots, overhead per job", ["bench/cluster_throughput.py"]),
        ("Stages of one take with a small model", ["bench/job_stages.py"]),
        (
            "Long shots: chaining cost, seams and loop closure",
            ["bench/long_shot.py", "--tiny-models", tiny],
        ),
        ("Blender main thread per timer tick while generating", ["bench/addon_ticks.py"]),
        ("Blender main thread per timer tick while importing a photo", ["bench/import_ticks.py"]),
        ("Set up backend: time per stage and the environment's size", ["bench/backend_setup.py"]),
        ("Camera accuracy (`realcam eval`) on true renders, 25 frames at 256x160", ["bench/eval_accuracy.py"]),
        ("Camera move from a clip (`realcam track`) on true renders, 20 frames at 256x192", ["bench/track.py"]),
    ]
    parts = [
        f"# Benchmarks\n\nWritten by `python bench/run_all.py` on "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC.\n\nMachine: {machine()}\n"
    ]
    for title, cmd in benches:
        print(f"== {title}", flush=True)
        out = run(cmd)
        print(out, flush=True)
        shown = " ".join(c if not c.startswith(tiny) else "<tiny models>" + c[len(tiny) :] for c in cmd)
        parts.append(f"## {title}\n\n`python {shown}`\n\n```\n{out}\n```\n")
    parts += kept_gpu_sections(args.out)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
