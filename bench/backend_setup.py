"""Set up backend, timed: each stage of a real set-up from the add-on (in Blender, bpy) and the environment's size.

python bench/backend_setup.py [--auto] [--no-pip-cache] [--keep]

By default torch comes from pip's own settings with the tested requirement (on this machine: the local CPU
build); --auto lets the set-up choose for this machine as an artist's would (CUDA or CPU index). --no-pip-cache
makes pip download every package again (a first set-up on a new machine); by default pip's cache is used as it
is. The environment is removed afterwards unless --keep.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _blender import blender_with_addon  # noqa: E402


def folder_size(path: str) -> tuple[int, int]:
    total = files = 0
    for root, _, names in os.walk(path):
        for n in names:
            p = os.path.join(root, n)
            if not os.path.islink(p):
                total += os.path.getsize(p)
                files += 1
    return total, files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--auto", action="store_true", help="let the set-up pick torch for this machine")
    ap.add_argument("--no-pip-cache", action="store_true", help="pip downloads everything again")
    ap.add_argument("--keep", action="store_true", help="keep the environment (printed) afterwards")
    args = ap.parse_args()
    if args.no_pip_cache:
        os.environ["PIP_NO_CACHE_DIR"] = "1"
    bpy, pkg, tmp = blender_with_addon()
    os.environ["HF_HOME"] = os.path.join(tmp, "hf")
    bpy.context.preferences.system.use_online_access = True
    prefs = bpy.context.preferences.addons[pkg].preferences
    if not args.auto:
        prefs.backend_setup.torch_source, prefs.backend_setup.torch_index_url = "CUSTOM", ""
    bs = sys.modules[f"{pkg}.backend.setup"]
    tasks = sys.modules[f"{pkg}.tasks"]

    task = tasks.Task("backend set-up", None, bs.SETUP_KEY)
    task.gen = sys.modules[f"{pkg}.flows.backend_setup"].setup_task(task, "setup")
    tasks.RUNNER.start(task)
    t0 = time.monotonic()
    began = {}
    while not task.done:
        tasks.RUNNER.pump()
        began.setdefault(task.stage, time.monotonic() - t0)
        time.sleep(0.05)
    total = time.monotonic() - t0
    if task.error:
        raise SystemExit(f"set-up failed: {task.error}")
    record = bs.be.read_json(os.path.join(bs.env_dir(), bs.be.SETUP_RECORD))
    torch = record["torch"]
    cache = "pip cache off" if args.no_pip_cache else "pip's cache as it is"
    print(
        f"set-up of backend {record['version']}: {torch['requirement']} ({torch['build']} build, "
        f"{torch['index_url'] or 'pip settings'}), {cache}"
    )
    stages = [s for s in bs.be.STAGES if s in began]
    for i, s in enumerate(stages):
        end = began[stages[i + 1]] if i + 1 < len(stages) else began.get("done", total)
        print(f"  {s:12s} {end - began[s]:7.1f} s")
    print(f"  {'total':12s} {total:7.1f} s (the worker's own start included)")
    status = task.result
    print(f"first start of the installed backend (the check): {status['start_s']:.1f} s")
    size, files = folder_size(bs.env_dir())
    site = next(os.path.join(root, d) for root, dirs, _ in os.walk(bs.env_dir()) for d in dirs if d == "site-packages")
    torch_size, _ = folder_size(os.path.join(site, "torch"))
    print(f"environment: {size / 1e9:.2f} GB in {files} files (torch {torch_size / 1e9:.2f} GB)")
    if args.keep:
        print(f"kept: {bs.env_dir()}")
    else:
        bs.be.remove_tree(bs.env_dir())


if __name__ == "__main__":
    main()
