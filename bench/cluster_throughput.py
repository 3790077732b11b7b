"""The job queue on a Ray cluster (`realcam serve --cluster`): throughput with 1 and 2 slots, and what Ray adds
to each job, next to the single-machine server. Everything on this machine, on loopback.

    python bench/cluster_throughput.py [--jobs 8] [--steps 40] [--overhead-jobs 10]

Starts a local Ray cluster (tests/ray_cluster.py: a head with one `realcam_slot`; later a second node with
another), a real `realcam serve` process joined to it through ray://, and tiny random-weight Wan jobs
(9 frames, 64x64). Each slot's torch gets one thread (each node declares one CPU), like a GPU per slot: the
second slot adds compute, as a second GPU would. The single-machine server runs with one thread too.

Measured, as bench/server_overhead.py does for one machine: submit -> first denoising step seen through the
API, model loaded, polled every 2 ms (median of --overhead-jobs, run one after the other, 4 steps each); and
throughput: --jobs jobs submitted at once, from the first submit to the last result in the job folder;
model loads: how many of those jobs loaded their model (result.json's model_loaded_for_this_job), after a
warm-up job per slot.
"""

import argparse
import contextlib
import json
import os
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

from realcam.testing.tiny_models import build_wan22_ti2v  # noqa: E402

FINISHED = ("done", "failed", "cancelled")


def wait_done(client, job_id):
    while True:
        job = client.job(job_id)
        if job["state"] in FINISHED:
            assert job["state"] == "done", job
            return job
        time.sleep(0.01)


def first_step_latency(client, tmp, label, count):
    """Median and p90 of submit -> first denoising step reported, in ms."""
    times = []
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
        wait_done(client, job["id"])
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.9)] * 1000


def throughput(client, tmp, label, jobs, steps):
    """Wall time of `jobs` jobs submitted at once, the slots they used, and how many loaded the model."""
    paths = [bundle_zip(tmp, f"{label}-t{i}", steps=steps, n=9, seed=2000 + i) for i in range(jobs)]
    t = time.perf_counter()
    ids = [client.submit(p)["id"] for p in paths]
    done = [wait_done(client, j) for j in ids]
    wall = time.perf_counter() - t
    loads = 0
    for j in ids:
        client.download(j, "result", os.path.join(tmp, "result.json"))
        with open(os.path.join(tmp, "result.json")) as fh:
            loads += bool(json.load(fh)["model_loaded_for_this_job"])
    return wall, len({(d.get("worker") or {}).get("slot") for d in done}), loads


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
    ap.add_argument("--overhead-jobs", type=int, default=10)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="realcam-bench-")
    model = build_wan22_ti2v(os.path.join(tmp, "tiny-wan"))
    one_thread = {"OMP_NUM_THREADS": "1"}
    rows = []

    with tiny_server(os.path.join(tmp, "local"), model, env=one_thread) as client:
        warm(client, tmp, "local", 1)
        med, p90 = first_step_latency(client, tmp, "local", args.overhead_jobs)
        wall, _, loads = throughput(client, tmp, "local", args.jobs, args.steps)
        rows.append(("single machine (in-process worker)", med, p90, wall, loads))
        local_med = med

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
        med, p90 = first_step_latency(client, tmp, "c1", args.overhead_jobs)
        wall, _, loads = throughput(client, tmp, "c1", args.jobs, args.steps)
        rows.append(("Ray cluster, 1 slot", med, p90, wall, loads))
        cluster_med = med
        t = time.perf_counter()
        cluster.add_node()
        warm(client, tmp, "c2", 2)
        print(f"second node joined and its slot took jobs in {time.perf_counter() - t:.1f} s")
        wall, used, loads = throughput(client, tmp, "c2", args.jobs, args.steps)
        rows.append((f"Ray cluster, 2 slots ({used} used)", None, None, wall, loads))
    finally:
        stack.close()
        left = cluster.shutdown()
        if left:
            print(f"Ray processes left: {left}")

    print(f"{args.jobs} jobs of 9 frames 64x64, {args.steps} steps, tiny Wan 2.2 model, one torch thread per worker")
    print(f"{'':36s} {'submit -> first step (median, p90)':>36s} {'throughput':>28s} {'model loads':>12s}")
    for label, med, p90, wall, loads in rows:
        lat = f"{med:7.1f} ms, {p90:7.1f} ms" if med is not None else "-"
        rate = f"{args.jobs / wall * 60:6.1f} jobs/min ({wall:5.1f} s)"
        print(f"{label:36s} {lat:>36s} {rate:>28s} {loads:>5d} of {args.jobs}")
    print(f"Ray adds per job (submit -> first step, medians): {cluster_med - local_med:+.1f} ms")
    one, two = rows[1][3], rows[2][3]  # wall times
    print(f"2 slots vs 1: {one / two:.2f}x the throughput")


if __name__ == "__main__":
    main()
