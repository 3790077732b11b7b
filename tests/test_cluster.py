"""`realcam serve --cluster`: a real local Ray cluster (a head and worker nodes, each its own process group on
its own loopback address, one `realcam_slot` each), the real server process joined to it through `ray://`,
tiny-model jobs through the HTTP API.

One cluster and one server serve the whole module (a cluster takes 10-20 s to start here); the tests run in
file order and leave the cluster with two slots for the next one; the last one replaces the server.
"""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import psutil
import pytest
from helpers import ROOT, Server, bundle_zip, http_call, probe_mp4, run_cli, wait_for_job
from ray_cluster import LocalRayCluster

from realcam_core import api
from realcam_core.client import BackendError, Client


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    token_file = os.path.expanduser("~/.ray/auth_token")
    had_token_file = os.path.exists(token_file)
    c = LocalRayCluster()
    # A job can be held after its first step until a test lets it go (tests/pace_stages): the slots run there.
    c.hold_dir = tmp_path_factory.mktemp("hold")
    pace = os.path.join(ROOT, "tests", "pace_stages")
    c.env["PYTHONPATH"] = os.pathsep.join(p for p in (pace, c.env.get("PYTHONPATH")) if p)
    c.env["REALCAM_TEST_HOLD_DIR"] = str(c.hold_dir)
    try:
        c.start_head()
        c.add_node()
        yield c
    finally:
        left = c.shutdown()
    assert not left, f"Ray processes left behind: {left}"
    # Nothing of Ray's stays in the home folder (a stray token file turns auth on for the next cluster).
    assert had_token_file or not os.path.exists(token_file)


TOKEN = "cluster-test-token-0123456789"  # the studio's way: a token, so health shows nothing to strangers


class _Holder:
    server: Server


@pytest.fixture(scope="module")
def served(cluster, tiny_models, tmp_path_factory):
    """The server; a test may replace it (the restart test), teardown stops whichever runs."""
    h = _Holder()
    h.data = tmp_path_factory.mktemp("cluster") / "data"
    h.server = Server(h.data, tiny_models, cluster=cluster, token=TOKEN)
    yield h
    h.server.stop()


def result_of(client, job_id, tmp_path):
    path = tmp_path / f"{job_id}.json"
    client.download(job_id, "result", str(path))
    return json.loads(path.read_text())


@pytest.mark.slow
def test_without_cluster_ray_is_never_imported(tmp_path):
    code = (
        "import sys\n"
        "from realcam.cli import build_parser\n"
        "from realcam.service.server import ServerConfig, create_app\n"
        "app = create_app(ServerConfig(data_dir=sys.argv[1]))\n"
        "app.state.worker.start(); app.state.worker.stop()\n"
        "print(type(app.state.worker).__name__, sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Worker", "[]"]
    r = run_cli("serve", "--data", str(tmp_path), "--cluster", "head-without-port")
    assert r.returncode == 2 and "expected ray://HEAD:10001" in r.stderr


@pytest.mark.slow
def test_a_slot_keeps_to_the_servers_offline_mode(tmp_path):
    # The slot is a plain class (Ray wraps it in the server): built here, in a process of its own, as a Ray
    # worker would build it, with huggingface_hub imported already (the constant) or not yet (the variable).
    code = (
        "import os, sys\n"
        "if sys.argv[1] == 'imported':\n"
        "    import huggingface_hub.constants\n"
        "from realcam.service.slot import Slot\n"
        "s = Slot('realcam-slot-0', 'realcam-test', {'hf_hub_offline': '1', 'device': 'cpu'})\n"
        "import huggingface_hub.constants as c\n"
        "print(c.HF_HUB_OFFLINE, os.environ['HF_HUB_OFFLINE'], s.status()['device']['device'])\n"
        "s.close()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["TMPDIR"] = str(tmp_path)
    for when in ("imported", "later"):
        out = subprocess.run([sys.executable, "-c", code, when], capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["True", "1", "cpu"], (when, out.stdout)
        assert "local Ray instance" not in out.stderr  # outside Ray the slot never starts a cluster of its own
    assert os.listdir(tmp_path) == []  # close() removed the slot's folder


def test_jobs_spread_over_two_slots_in_submission_order(served, tmp_path):
    c = served.server.client
    jobs = [c.submit(bundle_zip(tmp_path, f"j{i}", steps=3, seed=i)) for i in range(4)]
    stages = set()
    pending = {j["id"] for j in jobs}
    while pending:
        for job_id in list(pending):
            job = c.job(job_id)
            stages.add(job["progress"].get("stage"))
            if job["state"] in ("done", "failed", "cancelled"):
                pending.discard(job_id)
        time.sleep(0.05)
    done = [c.job(j["id"]) for j in jobs]
    assert [d["state"] for d in done] == ["done"] * 4, done
    assert len({d["worker"]["slot"] for d in done}) == 2  # both slots, on both nodes, took jobs
    assert len({d["worker"]["node"] for d in done}) == 2
    starts = [d["started_at"] for d in done]
    assert starts == sorted(starts)  # started in submission order
    known = set(api.PROGRESS_STAGES)  # every stage the service reports is one the API names
    assert "done" in stages and stages <= known, stages
    # The results landed in the server's own job folders, as from a single machine.
    for d in done:
        take = served.data / "jobs" / d["id"] / "take"
        assert sorted(os.listdir(take)) == ["frames", "result.json", "video.mp4"]
    c.download(jobs[0]["id"], "video", str(tmp_path / "v.mp4"))
    assert probe_mp4(str(tmp_path / "v.mp4"))[0] == 5
    c.download(jobs[0]["id"], "frames", str(tmp_path / "f.zip"))
    assert len(zipfile.ZipFile(tmp_path / "f.zip").namelist()) == 5
    assert result_of(c, jobs[0]["id"], tmp_path)["frames"] == 5
    h = c.health()
    assert h["status"] == "ok" and h["loaded_model"] == "tiny" and h["queued"] == 0 and h["running"] == 0
    slots = h["worker"]["slots"]
    assert len(slots) == 2 and all(s["answers"] and s["model"] == "tiny" and s["job"] is None for s in slots)
    assert all(s["device"]["device"] == "cpu" for s in slots)  # each slot says what it generates on
    # Without the token, health tells only what finding the server needs: no cluster address, no node.
    public = Client(served.server.url).health()
    assert public["status"] == "ok" and public["api_version"] == api.API_VERSION and "limits" in public
    shown = json.dumps(public)
    hidden = [h["worker"]["cluster"], *(s["node"] for s in slots), *(d["worker"]["node"] for d in done)]
    assert not [x for x in hidden if x in shown], public
    assert "slots" not in shown and "device_info" not in public and "loaded_model" not in public
    # The studio dashboard shows the same slots, and where each job ran.
    status, state, _ = http_call(
        served.server.port, "GET", "/ui/api/state", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200 and state["server"]["cluster"], state
    shown = [(s["name"], s["node"], s["model"], s["device"]["device"], s["answers"]) for s in state["server"]["slots"]]
    assert shown == [(s["name"], s["node"], s["model"], s["device"]["device"], s["answers"]) for s in slots]
    ran_on = {j["id"]: j["worker"]["slot"] for j in state["jobs"]}
    assert all(ran_on[d["id"]] == d["worker"]["slot"] for d in done)


def test_a_model_stays_loaded_and_its_jobs_go_to_the_slot_holding_it(served, tmp_path):
    c = served.server.client
    # Leave one slot holding each model: the older job takes the slot holding its model or an empty one,
    # the other job loads its model on the other slot.
    t1 = c.submit(bundle_zip(tmp_path, "t1", steps=1, seed=1))
    s1 = c.submit(bundle_zip(tmp_path, "s1", steps=1, seed=1, model="tiny-svd"))
    t1, s1 = wait_for_job(c, t1["id"]), wait_for_job(c, s1["id"])
    assert t1["state"] == s1["state"] == "done"
    assert t1["worker"]["slot"] != s1["worker"]["slot"]
    assert c.health()["loaded_model"] == "tiny,tiny-svd"
    # Both slots idle: each job goes to the slot that holds its model, the older one first, and nothing loads.
    s2 = c.submit(bundle_zip(tmp_path, "s2", steps=1, seed=2, model="tiny-svd"))
    t2 = c.submit(bundle_zip(tmp_path, "t2", steps=1, seed=2))
    s2, t2 = wait_for_job(c, s2["id"]), wait_for_job(c, t2["id"])
    assert s2["worker"]["slot"] == s1["worker"]["slot"] and t2["worker"]["slot"] == t1["worker"]["slot"]
    assert s2["started_at"] <= t2["started_at"]
    assert result_of(c, s1["id"], tmp_path)["model_loaded_for_this_job"] is True
    assert result_of(c, s2["id"], tmp_path)["model_loaded_for_this_job"] is False
    assert result_of(c, t2["id"], tmp_path)["model_loaded_for_this_job"] is False


def test_progress_cancel_and_delete_reach_the_remote_actor(served, tmp_path):
    c = served.server.client
    a = c.submit(bundle_zip(tmp_path, "long-a", steps=200, seed=3))
    b = c.submit(bundle_zip(tmp_path, "long-b", steps=200, seed=4))
    running = wait_for_job(c, a["id"], ("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 2)
    p = running["progress"]  # step, total and ETA come from the actor as they do from a local worker
    assert p["stage"] == "denoise" and p["total"] == 200 and p["eta_s"] is not None and p["eta_s"] > 0
    later = wait_for_job(c, a["id"], ("running",), cond=lambda j: j["progress"]["step"] > p["step"])
    assert later["progress"]["step"] > p["step"]
    c.cancel(a["id"])
    assert wait_for_job(c, a["id"], timeout=60)["state"] == "cancelled"
    wait_for_job(c, b["id"], ("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 1)
    c.delete(b["id"])  # running: gone for clients at once, cancelled on its actor, removed when it stops
    with pytest.raises(BackendError):
        c.job(b["id"])
    deadline = time.time() + 60
    while c.health()["running"] and time.time() < deadline:  # its actor has stopped it
        time.sleep(0.05)
    assert c.health()["running"] == 0 and not (served.data / "jobs" / b["id"]).exists()
    # Both actors stopped: two new jobs start at once, one on each (a busy actor is never given a job).
    quick = [c.submit(bundle_zip(tmp_path, f"after{i}", steps=1, seed=10 + i)) for i in range(2)]
    quick = [wait_for_job(c, q["id"]) for q in quick]
    assert [q["state"] for q in quick] == ["done", "done"]
    assert len({q["worker"]["slot"] for q in quick}) == 2
    assert max(q["started_at"] for q in quick) < min(q["finished_at"] for q in quick)  # side by side


def test_worker_process_killed_at_every_attempt_fails_after_the_limit(served, tmp_path):
    c = served.server.client
    victim = c.submit(bundle_zip(tmp_path, "victim", steps=200, seed=5))
    other = c.submit(bundle_zip(tmp_path, "other", steps=60, seed=6))
    killed = []
    for attempt in (1, 2, 3):
        job = wait_for_job(
            c,
            victim["id"],
            ("running",),
            timeout=120,
            cond=lambda j, a=attempt: j["attempts"] == a and (j["progress"].get("step") or 0) >= 1,
        )
        os.kill(job["worker"]["pid"], signal.SIGKILL)  # the slot actor's process: Ray restarts it
        killed.append(job["worker"]["pid"])
    failed = wait_for_job(c, victim["id"], timeout=60)
    assert failed["state"] == "failed" and failed["attempts"] == 3, failed
    assert "was lost" in failed["error"] and "tried 3 times" in failed["error"]
    done = wait_for_job(c, other["id"], timeout=120)
    assert done["state"] == "done" and done["attempts"] == 1, done  # the other job never noticed
    assert len(set(killed)) == 3


def test_worker_node_killed_mid_job_runs_again_elsewhere(served, cluster, tmp_path):
    c = served.server.client
    # Both jobs hold after their first step until released: seen running together, the victim still running
    # when its node dies, however loaded the machine (waited on states, never on time).
    seeds = (20, 21)
    holds = [cluster.hold_dir / f"hold-{s}" for s in seeds]
    for h in holds:
        h.touch()
    try:
        jobs = [c.submit(bundle_zip(tmp_path, f"nk{i}", steps=3, seed=s)) for i, s in enumerate(seeds)]
        running = all_running(c, [j["id"] for j in jobs], timeout=240)
        victim = next(r for r in running if r["worker"]["node"] != cluster.head_ip)  # the head is the cluster
        other = next(r for r in running if r["id"] != victim["id"])
        t = time.time()
        cluster.kill_node(victim["worker"]["node"])
        cluster.add_node()  # a machine joins: the lost slot's actor comes back there
        again = wait_for_job(
            c,
            victim["id"],
            ("running",),
            timeout=240,
            cond=lambda j: j["attempts"] == 2 and (j["progress"].get("step") or 0) >= 1,
        )
        assert again["worker"]["node"] != victim["worker"]["node"]
        print(f"node killed: its job running again on {again['worker']['node']} {time.time() - t:.1f} s later")
        still = c.job(other["id"])
        assert still["state"] == "running" and still["attempts"] == 1, still  # held all along, never moved
    finally:
        for h in holds:
            h.unlink(missing_ok=True)
    done = wait_for_job(c, victim["id"], timeout=180)
    assert done["state"] == "done" and done["attempts"] == 2, done
    other = wait_for_job(c, other["id"], timeout=180)
    assert other["state"] == "done" and other["attempts"] == 1  # the other job never noticed
    assert probe_mp4_of(c, victim["id"], tmp_path) == 5


def all_running(client, ids, timeout=120):
    """The jobs, once all of them are running at the same time (each past its first step)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = [client.job(i) for i in ids]
        if all(j["state"] == "running" and (j["progress"].get("step") or 0) >= 1 for j in jobs):
            return jobs
        ended = [j for j in jobs if j["state"] in ("done", "failed", "cancelled")]
        assert not ended, f"a job ended before all were running together: {ended}"
        time.sleep(0.05)
    raise AssertionError(f"jobs {ids} not all running within {timeout} s: {[client.job(i) for i in ids]}")


def probe_mp4_of(client, job_id, tmp_path):
    path = tmp_path / f"{job_id}.mp4"
    client.download(job_id, "video", str(path))
    return probe_mp4(str(path))[0]


def test_server_killed_and_restarted_reattaches_and_carries_on(served, tiny_models, cluster, tmp_path):
    c = served.server.client
    before = [j["id"] for j in c.jobs() if j["state"] == "done"]
    victim = c.submit(bundle_zip(tmp_path, "reattach", steps=200, seed=30))
    queued = [c.submit(bundle_zip(tmp_path, f"q{i}", steps=2, seed=31 + i)) for i in range(3)]
    wait_for_job(c, victim["id"], ("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 2)
    served.server.kill9()
    # Started again as a server on a node of the cluster would be: `--cluster auto` joins it directly (not
    # through ray://; RAY_ADDRESS picks this cluster among any others on the machine). The actors are found
    # through the data folder, whatever the way in.
    env = {**cluster.client_env, "RAY_ADDRESS": cluster.address}
    served.server = Server(served.data, tiny_models, "--cluster", "auto", env=env, token=TOKEN)
    c = served.server.client
    done = wait_for_job(c, victim["id"], timeout=180)
    # Re-adopted where it ran, not run again: still the first attempt.
    assert done["state"] == "done" and done["attempts"] == 1, done
    for q in queued:
        assert wait_for_job(c, q["id"], timeout=120)["state"] == "done"
    assert all(c.job(j)["state"] == "done" for j in before)
    assert probe_mp4_of(c, victim["id"], tmp_path) == 5
    # A clean stop frees the slots (their GPUs): the actors' processes go.
    pids = {c.job(j)["worker"]["pid"] for j in [victim["id"], *(q["id"] for q in queued)]}
    served.server.stop()
    deadline = time.time() + 30
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
        assert time.time() < deadline, "slot actors still alive after the server stopped"
        time.sleep(0.2)
