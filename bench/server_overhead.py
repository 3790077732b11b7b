"""Request overhead of the backend service, on a real server process with a small model.

    python bench/server_overhead.py [--jobs 50]

Starts `realcam serve` on a free loopback port with tiny random-weight models,
runs one warm-up job (the model loads), then measures: submitting a bundle
until it is queued, polling a job's state, and the time from submitting to the
first denoising step reported with the model already loaded (polled every 2 ms).
Then, in this process, what the request checks cost on their own: the Host,
Origin, token and content-type rules, and judging the archive from its central
directory before unpacking.
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
from helpers import make_bundle  # noqa: E402

from realcam.testing.tiny_wan import build_wan22_ti2v  # noqa: E402
from realcam_core.bundle import pack_bundle  # noqa: E402


def ms(values):
    p90 = sorted(values)[int(len(values) * 0.9)]
    return f"median {statistics.median(values) * 1000:7.1f} ms, p90 {p90 * 1000:7.1f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=50)
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
        print(check_costs(path, client.base))
    finally:
        stack.close()


def check_costs(archive: str, base_url: str) -> str:
    """The request checks alone, in this process (no network), median of many runs."""
    try:
        from realcam.service.guard import Guard
        from realcam_core import api
        from realcam_core.bundle import Limits, inspect_archive
    except ImportError:
        return "request checks: not in this version"
    host = base_url.split("//", 1)[1]
    guard = Guard("127.0.0.1", [], "a-token-long-enough-1234")
    headers = {
        "host": host,
        "authorization": "Bearer a-token-long-enough-1234",
        "content-type": api.BUNDLE_CONTENT_TYPE,
        "content-length": str(os.path.getsize(archive)),
    }
    limits = Limits(max_frames=241, max_pixels=1280 * 720)

    def median_us(fn, n=2000):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e6

    g = median_us(lambda: guard.refusal("POST", "/v1/jobs", headers))
    z = median_us(lambda: inspect_archive(archive, limits), 500)
    return (
        f"request checks alone: Host/Origin/token/type {g:7.1f} us, "
        f"archive judged from its central directory {z:7.1f} us"
    )


if __name__ == "__main__":
    main()
