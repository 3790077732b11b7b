"""Jobs outlive what happens around them: the worker keeps running and says so on a full disk, when a job is
deleted as it is picked up, when its thread dies; identical submits make one job and racing deletes one
delete; a restart cleans half-written state files; downloads carry their digest.

Real `realcam serve` processes on loopback, and a real full disk: a small tmpfs mounted for the test (which
needs root; where it cannot be mounted the full-disk test is skipped and says why).
"""

import base64
import errno
import hashlib
import http.client
import json
import os
import threading
import time

import pytest
from helpers import (
    JSON_TYPE,
    Server,
    assert_json_4xx,
    bundle_zip,
    free_port,
    http_call,
    http_post,
    make_bundle,
    read_bytes,
    small_tmpfs,
    wait_for_job,
)


@pytest.fixture
def small_disk(tmp_path):
    with small_tmpfs(tmp_path / "data", "24m") as mnt:
        yield mnt


def fill(folder):
    """Write a file until the file system says it is full; its path."""
    path = os.path.join(folder, "filler")
    with open(path, "wb", buffering=0) as fh:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    fh.write(bytes(size))
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    return path


def health(port):
    status, data, _ = http_call(port, "GET", "/v1/health")
    return status, data


def test_a_full_disk_stalls_the_queue_visibly_and_it_resumes(small_disk, tmp_path, tiny_models):
    s = Server(small_disk, tiny_models)
    try:
        c = s.client
        a = c.submit(bundle_zip(tmp_path, "a", steps=200, seed=1))
        wait_for_job(c, a["id"], states=("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 2)
        b = c.submit(bundle_zip(tmp_path, "b", steps=1, seed=2))
        filler = fill(small_disk)
        # A submission on a full disk is refused with a reason, not a 500.
        status, data = http_post(s.port, "/v1/jobs", read_bytes(bundle_zip(tmp_path, "c", seed=3)))
        assert_json_4xx(status, data, 507, 503)
        assert "disk" in data["error"] and str(small_disk) not in data["error"]
        # The cancelled job's state cannot be written: the worker must live, and health must say so.
        c.cancel(a["id"])
        deadline = time.time() + 20
        while time.time() < deadline:
            status, h = health(s.port)
            if h.get("status") != "ok":
                break
            time.sleep(0.2)
        assert h["status"] != "ok", h
        assert "No space left" in h["worker"]["error"], h
        assert str(small_disk) not in json.dumps(h)
        os.remove(filler)
        assert wait_for_job(c, b["id"])["state"] == "done"
        assert c.job(a["id"])["state"] == "cancelled"
        assert c.health()["status"] == "ok"
        folder = small_disk / "jobs" / a["id"]
        assert json.loads((folder / "state.json").read_text())["state"] == "cancelled"
        assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]  # nothing half-written left
    finally:
        s.stop()


def test_a_job_deleted_as_the_worker_picks_it_up(tmp_path):
    from realcam.generate.job import RunOptions
    from realcam.service.jobstore import JobStore
    from realcam.service.worker import Worker

    store = JobStore(str(tmp_path / "data"))

    def add(seed, model):
        incoming = store.new_incoming()
        make_bundle(os.path.join(incoming, "bundle"), model=model, seed=seed)
        return store.add(incoming, {"digest": f"d{seed}", "model": model})

    first = add(1, "tiny")
    pick = store.next_queued
    deleted = []

    def pick_then_delete(timeout):  # the DELETE lands between the pick and the start
        job_id = pick(timeout)
        if job_id is not None and not deleted:
            store.delete(job_id)
            deleted.append(job_id)
        return job_id

    store.next_queued = pick_then_delete
    worker = Worker(store, RunOptions(device="cpu"), {})
    worker.start()
    try:
        time.sleep(1.0)
        assert deleted == [first["id"]]
        assert worker._thread.is_alive()
        # The next job still runs (and fails on its unknown model, with a reason).
        second = add(2, "no-such-model")
        deadline = time.time() + 60
        while store.get(second["id"])["state"] not in ("failed", "done") and time.time() < deadline:
            time.sleep(0.1)
        job = store.get(second["id"])
        assert job["state"] == "failed" and job["error"], job
    finally:
        worker.stop()


def test_health_reports_a_dead_worker(tmp_path):
    import uvicorn

    from realcam.service.server import ServerConfig, create_app

    port = free_port()
    app = create_app(ServerConfig(data_dir=str(tmp_path / "data"), port=port))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    try:
        deadline = time.time() + 30
        while not srv.started and time.time() < deadline:
            time.sleep(0.05)
        status, h = health(port)
        assert status == 200 and h["status"] == "ok" and h["worker"]["alive"]
        app.state.worker.stop()  # the thread ends, as if something had killed it
        status, h = health(port)
        assert status == 503 and h["status"] != "ok" and not h["worker"]["alive"], h
        assert "worker" in h["error"]
    finally:
        srv.should_exit = True
        t.join(15)


def test_identical_submits_at_once_make_one_job_and_deletes_race_cleanly(limited_server, tmp_path):
    path = bundle_zip(tmp_path, "dup", seed=21, steps=1)
    body = read_bytes(path)
    results, lock = [], threading.Lock()
    go = threading.Barrier(10)

    def submit():
        go.wait()
        r = http_post(limited_server.port, "/v1/jobs", body)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(s in (200, 201) for s, _ in results), results
    assert len({d["id"] for _, d in results}) == 1
    assert sorted(s for s, _ in results) == [200] * 9 + [201]
    job_id = results[0][1]["id"]
    statuses = []
    go = threading.Barrier(10)

    def delete():
        go.wait()
        status, data, _ = http_call(limited_server.port, "DELETE", f"/v1/jobs/{job_id}", ctype=JSON_TYPE)
        with lock:
            statuses.append((status, data))

    threads = [threading.Thread(target=delete) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(s for s, _ in statuses) == [204] + [404] * 9, statuses
    assert all(d["error"] for s, d in statuses if s == 404)
    assert job_id not in [j["id"] for j in limited_server.client.jobs()]


def test_real_downloads_carry_and_pass_their_digest(limited_server, tmp_path):
    c = limited_server.client
    job = c.submit(bundle_zip(tmp_path, "dl", seed=31, steps=1))
    assert wait_for_job(c, job["id"])["state"] == "done"
    for what in ("video", "frames", "result"):
        conn = http.client.HTTPConnection("127.0.0.1", limited_server.port, timeout=60)
        conn.request("GET", f"/v1/jobs/{job['id']}/{what}")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        assert resp.getheader("Repr-Digest") == f"sha-256=:{digest}:", what
        assert int(resp.getheader("Content-Length")) == len(body)
        dest = tmp_path / f"{what}.bin"
        c.download(job["id"], what, str(dest))
        assert dest.read_bytes() == body or what == "frames"
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")]


def test_a_restart_cleans_stray_temporary_state_files(tmp_path, tiny_models):
    data = tmp_path / "data"
    s = Server(data, tiny_models)
    try:
        job = s.client.submit(bundle_zip(tmp_path, "j", seed=41, steps=1))
        assert wait_for_job(s.client, job["id"])["state"] == "done"
    finally:
        s.stop()
    folder = data / "jobs" / job["id"]
    (folder / "state.json.12345.tmp").write_text('{"half": ')
    (folder / "state.json.abc123.tmp").write_text("")
    s = Server(data, tiny_models)
    try:
        assert s.client.job(job["id"])["state"] == "done"
        assert sorted(os.listdir(folder)) == ["bundle", "state.json", "take"]
    finally:
        s.stop()
