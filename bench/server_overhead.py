"""Request overhead of the backend service, on a real server process with a small model.

    python bench/server_overhead.py [--jobs 10]

Starts `realcam serve` on a free loopback port with tiny random-weight models,
runs one warm-up job (the model loads), then measures: submitting a bundle
until it is queued, polling a job's state, and the time from submitting to the
first denoising step reported with the model already loaded (polled every 2 ms).
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _server import tiny_server  # noqa: E402
from conftest import make_bundle  # noqa: E402

from realcam.testing.tiny_models import build_wan22_ti2v  # noqa: E402
from realcam_core.bundle import pack_bundle  # noqa: E402


def ms(values):
    p90 = sorted(values)[int(len(values) * 0.9)]
    return f"median {statistics.median(values) * 1000:7.1f} ms, p90 {p90 * 1000:7.1f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=10)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="realcam-bench-")
    model = build_wan22_ti2v(os.path.join(tmp, "tiny-wan"))
    stack = contextlib.ExitStack()
    t0 = time.time()
    client = stack.enter_context(tiny_server(os.path.join(tmp, "data"), model))
    try:
        print(f"server up in {time.time() - t0:.1f} s")

        def bundle(seed, steps):
            folder = os.path.join(tmp, f"b{seed}")
            make_bundle(folder, n=9, w=64, h=64, model="tiny", seed=seed)
            path = os.path.join(folder, "manifest.json")
            data = json.load(open(path))
            data["settings"]["steps"] = steps
            json.dump(data, open(path, "w"))
            return pack_bundle(folder, folder + ".zip")

        def wait_done(job_id):
            while client.job(job_id)["state"] not in ("done", "failed", "cancelled"):
                time.sleep(0.01)

        warm = client.submit(bundle(0, 2))
        wait_done(warm["id"])
        submit_t, poll_t, first_step_t = [], [], []
        for i in range(args.jobs):
            path = bundle(i + 1, 4)
            size = os.path.getsize(path)
            t = time.perf_counter()
            job = client.submit(path)
            submit_t.append(time.perf_counter() - t)
            while True:
                t1 = time.perf_counter()
                state = client.job(job["id"])
                poll_t.append(time.perf_counter() - t1)
                if (state["progress"].get("step") or 0) >= 1 or state["state"] == "done":
                    first_step_t.append(time.perf_counter() - t)
                    break
                time.sleep(0.002)
            wait_done(job["id"])
        print(f"bundle: 9 frames 64x64, {size / 1024:.0f} KiB archive")
        print(f"submit -> queued (upload, unpack, validate, store): {ms(submit_t)}")
        print(f"poll one job's state:                              {ms(poll_t)}")
        print(f"submit -> first denoising step, model loaded:      {ms(first_step_t)}")
    finally:
        stack.close()


if __name__ == "__main__":
    main()
