"""The job queue on a Ray cluster (`realcam serve --cluster`): throughput with 1 and 2 slots, and what Ray adds
to each job, next to the single-machine server. Everything on this machine, on loopback.

    python bench/cluster_throughput.py [--jobs 8] [--steps 40] [--size 64x64] [--frames 9] [--overhead-jobs 10]

Starts a local Ray cluster (tests/ray_cluster.py: a head with one `realcam_slot`; later a second node with
another), a real `realcam serve` process joined to it through ray://, and tiny random-weight Wan jobs
(9 frames, 64x64 unless told). Each slot's torch gets one thread (each node declares one CPU), like a GPU per slot: the
second slot adds compute, as a second GPU would. The single-machine server runs with one thread too.

Measured, as bench/server_overhead.py does for one machine: submit -> first denoising step seen through the
API, model loaded, polled every 2 ms (median of --overhead-jobs, run one after the other, 4 steps each), also
less the engine's own time to that step (its result.json timings), which leaves what the service costs; and
throughput: --jobs jobs submitted at once, from the first submit to the last result in the job folder;
model loads: how many of those jobs loaded their model (result.json's model_loaded_for_this_job), after a
warm-up job per slot.
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)

from _server import tiny_server  # noqa: E402
from helpers import bundle_zip  # noqa: E402
from ray_cluster import LocalRayCluster  # noqa: E402

from realcam.testing.tiny_wan import build_wan22_ti2v  # noqa: E402

FINISHED = ("done", "failed", "cancelled")


def wait_done(client, job_id, every=0.1):
    while True:
        job = client.job(job_id)
        if job["state"] in FINISHED:
            assert job["state"] == "done", job
            return job
        time.sleep(every)


def first_step_latency(client, tmp, label, count):
    """Median and p90 of submit -> first denoising step reported, and the median of the same less the engine's
    own time to that step (load check, encode, one step: from result.json), i.e. what the service around the
    engine costs (upload, checks, dispatch, for a cluster the bundle's trip to the actor and the progress
    report's trip back), in ms."""
    times, service = [], []
    for i in range(count):
        path = bundle_zip(tmp, f"{label}-o{i}", steps=4, n=9, seed=1000 + i)
        t = time.perf_counter()
        job = client.submit(path)
        while True:
            state = client.job(job["id"])
            if (state["progress"].get("step") or 0) >= 1 or state["state"] in FINISHED:
                times.append(time.perf_counter() - t)
                break
            time.sleep(0.002)
        wait_done(client, job["id"], every=0.01)
        client.download(job["id"], "result", os.path.join(tmp, "result.json"))
        with open(os.path.join(tmp, "result.json")) as fh:
            timings = json.load(fh)["timings"]
        engine_first = timings["load_s"] + timings["encode_s"] + timings["denoise_s"] / 4
        service.append(times[-1] - engine_first)
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.9)] * 1000, statistics.median(service) * 1000


def throughput(client, tmp, label, args):
    """Wall time of args.jobs jobs submitted at once, the slots they used, and how many loaded the model."""
    w, h = (int(v) for v in args.size.split("x"))
    paths = [
        bundle_zip(tmp, f"{label}-t{i}", steps=args.steps, n=args.frames, w=w, h=h, seed=2000 + i)
        for i in range(args.jobs)
    ]
    t = time.perf_counter()
    ids = [client.submit(p)["id"] for p in paths]
    done = [wait_done(client, j) for j in ids]
    wall = time.perf_counter() - t
    loads, engine = 0, []
    for j in ids:
        client.download(j, "result", os.path.join(tmp, "result.json"))
        with open(os.path.join(tmp, "result.json")) as fh:
            result = json.load(fh)
        loads += bool(result["model_loaded_for_this_job"])
        engine.append(result["timings"]["total_s"])
    return wall, len({(d.get("worker") or {}).get("slot") for d in done}), loads, statistics.median(engine)


def warm(client, tmp, label, slots):
    """Until `slots` jobs submitted together have run on `slots` different slots (each has the model)."""
    for k in range(30):
        ids = [
            client.submit(bundle_zip(tmp, f"{label}-w{k}-{i}", steps=1, n=9, seed=3000 + 10 * k + i))["id"]
            for i in range(slots)
        ]
        used = {(wait_done(client, j).get("worker") or {}).get("slot") for j in ids}
        if len(used) >= slots:
            return
        time.sleep(1)
    raise RuntimeError(f"{slots} slots never took jobs side by side")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--size", default="64x64", help="WxH of the throughput jobs")
    ap.add_argument("--frames", type=int, default=9, help="frames of the throughput jobs")
    ap.add_argument("--overhead-jobs", type=int, default=10)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="realcam-bench-")
    try:
        measure(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args, tmp):
    model = build_wan22_ti2v(os.path.join(tmp, "tiny-wan"))
    one_thread = {"OMP_NUM_THREADS": "1"}
    rows = []

    with tiny_server(os.path.join(tmp, "local"), model, env=one_thread) as client:
        warm(client, tmp, "local", 1)
        latency = first_step_latency(client, tmp, "local", args.overhead_jobs)
        rows.append(("single machine (in-process worker)", latency, *throughput(client, tmp, "local", args)))

    cluster = LocalRayCluster()
    stack = contextlib.ExitStack()
    try:
        t = time.perf_counter()
        cluster.start_head()
        print(f"Ray head up in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        client = stack.enter_context(
            tiny_server(
                os.path.join(tmp, "cluster"), model, "--cluster", cluster.client_address, env=cluster.client_env
            )
        )
        print(f"server joined the cluster (ray://) in {time.perf_counter() - t:.1f} s")
        warm(client, tmp, "c1", 1)
        latency = first_step_latency(client, tmp, "c1", args.overhead_jobs)
        rows.append(("Ray cluster, 1 slot", latency, *throughput(client, tmp, "c1", args)))
        t = time.perf_counter()
        cluster.add_node()
        warm(client, tmp, "c2", 2)
        print(f"second node joined and its slot took jobs in {time.perf_counter() - t:.1f} s")
        wall, used, loads, engine = throughput(client, tmp, "c2", args)
        rows.append((f"Ray cluster, 2 slots ({used} used)", None, wall, used, loads, engine))
    finally:
        stack.close()
        left = cluster.shutdown()
        if left:
            print(f"Ray processes left: {left}")

    print(
        f"throughput: {args.jobs} jobs of {args.frames} frames {args.size}, {args.steps} steps, submitted at once; "
        "first step: 9 frames 64x64, 4 steps, one job at a time; tiny Wan 2.2 model, one torch thread per worker"
    )
    print(
        f"{'':36s} {'submit -> first step':>22s} {'less the engine':>16s} {'throughput':>28s} "
        f"{'engine/job':>11s} {'model loads':>12s}"
    )
    for label, latency, wall, _, loads, engine in rows:
        first = f"{latency[0]:6.1f} ms ({latency[1]:6.1f})" if latency else "-"
        service = f"{latency[2]:6.1f} ms" if latency else "-"
        rate = f"{args.jobs / wall * 60:6.1f} jobs/min ({wall:5.1f} s)"
        print(f"{label:36s} {first:>22s} {service:>16s} {rate:>28s} {engine:9.2f} s {loads:>5d} of {args.jobs}")
    print(
        "(first step: median, p90 in brackets; less the engine: the median of each job's first-step time less its "
        "engine's own time to that step; engine/job: result.json total_s, median)"
    )
    local, one = rows[0][1], rows[1][1]
    print(
        f"Ray adds per job before its first step: {one[2] - local[2]:+.1f} ms of service time "
        f"({one[0] - local[0]:+.1f} ms in all, with the engines' own speed difference)"
    )
    print(f"2 slots vs 1: {rows[1][2] / rows[2][2]:.2f}x the throughput")


if __name__ == "__main__":
    main()
