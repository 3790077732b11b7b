"""The service under a third attack (issue 26): stalled sockets, full disks, small uploads that cost gigabytes,
damaged job folders, floods of deletes and log lines. The first two rounds are test_service_hardening.py.

Real `realcam serve` processes on loopback and raw sockets for the hostile peers. A disk that fills on
demand is the test-only tests/pace_stages/sitecustomize.py (REALCAM_TEST_FULL_DISK: every os.replace of the
server fails with ENOSPC while a file exists, which is how the store saves states and the engine puts a
take in place); where a small tmpfs can be mounted (root), ffmpeg meets a really full disk too.
"""

import errno
import http.client
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from helpers import ROOT, Server, bundle_zip, free_port, wait_for_job

from realcam_core import api

BUNDLE_TYPE = "application/vnd.realcam.bundle+zip"
JSON_TYPE = "application/json"
PACE = os.path.join(ROOT, "tests", "pace_stages")


def call(port, method, path, body=b"", ctype=None, headers=None, timeout=60):
    """One raw HTTP request; (status, decoded JSON or None, response)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        if ctype:
            conn.putheader("Content-Type", ctype)
        if body or method in ("POST", "DELETE"):
            conn.putheader("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders(body or None)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    return resp.status, data, resp


def assert_error_shape(status, data, *codes):
    assert status in codes, (status, data)
    assert isinstance(data, dict) and set(data) >= {"error", "problems"} and data["error"], data
    assert "detail" not in data, data


def paced_env(tmp_path, **extra):
    """The environment of a server whose jobs can be held (hold files) and whose disk can be filled."""
    hold = tmp_path / "hold"
    hold.mkdir(exist_ok=True)
    env = {
        "PYTHONPATH": os.pathsep.join(p for p in (PACE, os.environ.get("PYTHONPATH")) if p),
        "REALCAM_TEST_HOLD_DIR": str(hold),
        **extra,
    }
    return hold, env


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models):
    s = Server(tmp_path_factory.mktemp("attacks") / "data", tiny_models, "--max-frames", "40")
    yield s
    s.stop()


# ------------------------------------------------------------------ 17. every refusal in one shape


def test_unknown_paths_and_wrong_methods_answer_in_the_error_shape(server):
    for method, path, ctype, code in [
        ("GET", "/v1/nope", None, 404),
        ("GET", "/", None, 404),
        ("GET", "/v2/jobs", None, 404),
        ("DELETE", "/v1/health", JSON_TYPE, 405),
        ("PUT", "/v1/jobs", JSON_TYPE, 405),
        ("POST", "/v1/jobs/0123456789abcdef0123456789abcdef/video", JSON_TYPE, 405),
    ]:
        status, data, resp = call(server.port, method, path, ctype=ctype)
        assert_error_shape(status, data, code)
        assert path in data["error"]
        if code == 405:
            assert resp.getheader("Allow"), dict(resp.getheaders())
            assert resp.getheader("Allow") in data["error"]


# ------------------------------------------------------------------ 7. a token that cannot be guessed, or sent


@pytest.mark.parametrize(
    "token, words",
    [
        (" " * 20, "blank"),
        ("\t" * 20, "blank"),
        ("\u00a0" * 20, "blank"),  # no-break spaces
        ("\u2003\u3000" * 10, "blank"),  # em and ideographic spaces
        ("a-long-token\u00a0with-nbsp", "non-ASCII"),
        ("token with spaces in it", "white space"),
        ("\u200b" * 20, "non-ASCII"),  # zero-width spaces: not white space to Python, invisible all the same
        ("a" * 32, "different characters"),
        ("abababababababab", "different characters"),
        ("short-1234", "at least 16"),
    ],
)
def test_a_blank_or_guessable_token_is_refused_for_every_interface(token, words, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "realcam", "serve", "--host", "0.0.0.0", "--port", str(free_port())]
        + ["--data", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "REALCAM_TOKEN": token},
    )
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert words in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_token_rules_accept_what_the_docs_suggest():
    import secrets

    from realcam.errors import UserError
    from realcam.service.config import ServerConfig, check_bind

    for _ in range(20):
        check_bind(ServerConfig(data_dir="unused", host="0.0.0.0", token=secrets.token_urlsafe(24)))
    check_bind(ServerConfig(data_dir="unused", token="s3cret"))  # loopback: any token that can be sent
    with pytest.raises(UserError, match="blank"):
        check_bind(ServerConfig(data_dir="unused", token="   "))  # not even on loopback: no client can send it


# ------------------------------------------------------------------ 12. a damaged job store


def _job_state(job_id, seq, state="cancelled", **extra):
    return {
        "id": job_id,
        "seq": seq,
        "state": state,
        "created_at": 1000.0 + seq,
        "started_at": None,
        "finished_at": 1001.0 + seq,
        "progress": {"stage": state},
        "error": None,
        "attempts": 1,
        "digest": f"d{seq}",
        "model": "tiny",
        **extra,
    }


def _put_job(jobs, job_id, text):
    (jobs / job_id).mkdir(parents=True)
    (jobs / job_id / "bundle").mkdir()
    (jobs / job_id / "bundle" / "keep.txt").write_text("what the artist made")
    if text is not None:
        (jobs / job_id / "state.json").write_text(text)


def test_damaged_job_folders_are_listed_explained_and_deletable(tmp_path, tiny_models):
    data = tmp_path / "data"
    jobs = data / "jobs"
    ids = {k: f"{i:032x}" for i, k in enumerate(["good", "nan", "cut", "copy", "bare", "badseq", "huge"], 1)}
    _put_job(jobs, ids["good"], json.dumps(_job_state(ids["good"], 1)))
    nan = json.dumps(_job_state(ids["nan"], 2, finished_at=-1.0, attempts="two", progress=[1]))
    nan = nan.replace('"created_at": 1002.0', '"created_at": NaN').replace("-1.0", "Infinity")
    _put_job(jobs, ids["nan"], nan.replace('"started_at": null', '"started_at": 1e999'))
    _put_job(jobs, ids["cut"], json.dumps(_job_state(ids["cut"], 3))[:40])
    _put_job(jobs, ids["copy"], json.dumps(_job_state(ids["good"], 4)))  # a folder copied: the same id inside
    _put_job(jobs, ids["bare"], None)
    _put_job(jobs, ids["badseq"], json.dumps(_job_state(ids["badseq"], 6) | {"seq": "6"}))
    _put_job(jobs, ids["huge"], json.dumps(_job_state(ids["huge"], 7, note="x" * (2 << 20))))
    s = Server(data, tiny_models)
    try:
        status, listing, _ = call(s.port, "GET", "/v1/jobs")
        assert status == 200, listing
        by_id = {j["id"]: j for j in listing["jobs"]}
        assert sorted(by_id) == sorted(ids.values())  # every folder once, by its own name
        assert len(listing["jobs"]) == len(ids)
        assert by_id[ids["good"]]["state"] == "cancelled"
        assert by_id[ids["copy"]]["state"] == "cancelled" and by_id[ids["copy"]]["seq"] == 4
        sane = by_id[ids["nan"]]
        assert sane["state"] == "cancelled" and sane["attempts"] == 0 and isinstance(sane["progress"], dict)
        assert sane["created_at"] is None and sane["started_at"] is None and sane["finished_at"] is None
        for name in ("cut", "bare", "badseq", "huge"):
            job = by_id[ids[name]]
            assert job["state"] == "damaged", job
            assert "state file" in job["error"] and "delete" in job["error"], job
            assert str(data) not in json.dumps(job)
        assert s.client.jobs()  # the add-on's client reads the listing, damaged jobs included
        assert s.client.health()["damaged"] == 4
        # A damaged job cannot be cancelled, downloaded or run; it can be deleted, and then it is gone.
        status, body, _ = call(s.port, "POST", api.job_path(ids["cut"], "cancel"), ctype=JSON_TYPE)
        assert_error_shape(status, body, 409)
        status, body, _ = call(s.port, "GET", api.job_path(ids["cut"], "video"))
        assert_error_shape(status, body, 409)
        assert (jobs / ids["cut"] / "bundle" / "keep.txt").exists()  # kept for a person until deleted
        s.client.delete(ids["cut"])
        assert not (jobs / ids["cut"]).exists()
        assert ids["cut"] not in [j["id"] for j in s.client.jobs()]
    finally:
        s.stop()
    log = open(str(data) + ".log", encoding="utf-8", errors="replace").read()
    for name in ("bare", "badseq", "huge"):
        assert f"job {ids[name]} is damaged" in log
    assert f"job folder {ids['copy']} holds the state of job" in log


def test_a_data_folder_that_cannot_hold_jobs_is_refused_clearly(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "jobs").write_text("not a folder")
    r = subprocess.run(
        [sys.executable, "-m", "realcam", "serve", "--port", str(free_port()), "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "is a file, not a folder" in r.stderr and "--data" in r.stderr, r.stderr
    assert (data / "jobs").read_text() == "not a folder"  # nothing of the user's touched


# ------------------------------------------------------------------ 8. deletes never block the server


def test_a_flood_of_deletes_during_a_decode_blocks_nothing(tmp_path, tiny_models):
    hold, env = paced_env(tmp_path, REALCAM_TEST_HOLD_UNCANCELLABLE="1")
    (hold / "hold-1").write_text("")
    s = Server(tmp_path / "data", tiny_models, env=env)
    try:
        c = s.client
        job = c.submit(bundle_zip(tmp_path, "held", steps=3, seed=1))
        wait_for_job(c, job["id"], states=("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 1)
        folder = tmp_path / "data" / "jobs" / job["id"]
        results, latencies = [], []
        go = threading.Barrier(46)

        def delete():
            go.wait()
            t = time.monotonic()
            status, _, _ = call(s.port, "DELETE", api.job_path(job["id"]), ctype=JSON_TYPE, timeout=120)
            results.append((status, time.monotonic() - t))

        threads = [threading.Thread(target=delete) for _ in range(45)]
        for t in threads:
            t.start()
        go.wait()
        for _ in range(20):  # health and the listing answer at once while the deletes are in
            t = time.monotonic()
            status, h, _ = call(s.port, "GET", "/v1/health", timeout=60)
            latencies.append(time.monotonic() - t)
            assert status == 200, h
        for t in threads:
            t.join(120)
        print(
            f"\n45 DELETEs of a job in an uncancellable step: health {max(latencies) * 1000:.0f} ms at most, "
            f"the slowest DELETE {max(d for _, d in results) * 1000:.0f} ms"
        )
        assert sorted(code for code, _ in results) == [204] + [404] * 44, results
        assert max(d for _, d in results) < 5, results
        assert max(latencies) < 1.0, latencies
        # Gone for clients at once; its folder goes when its step ends.
        assert job["id"] not in [j["id"] for j in c.jobs()]
        status, data, _ = call(s.port, "GET", api.job_path(job["id"]))
        assert_error_shape(status, data, 404)
        assert folder.exists()
        (hold / "hold-1").unlink()
        deadline = time.time() + 60
        while folder.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert not folder.exists()
        assert c.health()["running"] == 0
        # The worker goes on: the same bundle again is a new job, and it runs.
        again = c.submit(bundle_zip(tmp_path, "held", steps=3, seed=1))
        assert again["id"] != job["id"] and wait_for_job(c, again["id"])["state"] == "done"
    finally:
        s.stop()


def test_a_job_deleted_while_it_runs_is_gone_after_a_restart(tmp_path, tiny_models):
    hold, env = paced_env(tmp_path, REALCAM_TEST_HOLD_UNCANCELLABLE="1")
    (hold / "hold-2").write_text("")
    s = Server(tmp_path / "data", tiny_models, env=env)
    try:
        job = s.client.submit(bundle_zip(tmp_path, "held", steps=3, seed=2))
        wait_for_job(s.client, job["id"], states=("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 1)
        s.client.delete(job["id"])
        s.kill9()  # before its step ended: the mark on disk finishes the delete
    finally:
        s.stop()
    s = Server(tmp_path / "data", tiny_models)
    try:
        assert s.client.jobs() == []
        assert not (tmp_path / "data" / "jobs" / job["id"]).exists()
    finally:
        s.stop()


# ------------------------------------------------------------------ 3. a full disk fails no job


def test_a_take_that_does_not_fit_requeues_its_job_and_the_queue_waits(tmp_path, tiny_models):
    full = tmp_path / "disk-full"
    hold, env = paced_env(tmp_path, REALCAM_TEST_FULL_DISK=str(full))
    (hold / "hold-1").write_text("")
    s = Server(tmp_path / "data", tiny_models, env=env)
    try:
        c = s.client
        a = c.submit(bundle_zip(tmp_path, "a", steps=2, seed=1))
        wait_for_job(c, a["id"], states=("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 1)
        b = c.submit(bundle_zip(tmp_path, "b", steps=1, seed=2))
        full.write_text("")
        (hold / "hold-1").unlink()  # a decodes and writes its take onto the full disk
        deadline = time.time() + 60
        while time.time() < deadline:
            status, h, _ = call(s.port, "GET", "/v1/health")
            if status != 200:
                break
            time.sleep(0.1)
        assert_error_shape(status, h, 503)
        assert "disk is full" in h["error"] and "queued again" in h["error"], h
        assert str(tmp_path) not in json.dumps(h)
        time.sleep(3)  # the queue waits: neither job fails meanwhile, however long
        jobs = {j["id"]: j for j in c.jobs()}
        assert jobs[a["id"]]["state"] == "queued" and jobs[b["id"]]["state"] == "queued", jobs
        assert call(s.port, "GET", "/v1/health")[0] == 503
        full.unlink()  # space again: both run, in order
        assert wait_for_job(c, a["id"])["state"] == "done"
        assert wait_for_job(c, b["id"])["state"] == "done"
        assert c.job(a["id"])["attempts"] == 1  # the try on the full disk did not count
        assert c.health()["status"] == "ok"
        assert not [n for n in os.listdir(tmp_path / "data" / "jobs" / a["id"]) if n.startswith(".")]
    finally:
        s.stop()


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_an_mp4_that_does_not_fit_raises_disk_full(tiny_tmpfs):
    """imageio-ffmpeg never read ffmpeg's exit status: a cut MP4 looked written."""
    import numpy as np

    from realcam.generate.video import write_mp4
    from realcam.service.outcome import disk_full

    frames = np.random.default_rng(0).integers(0, 255, (24, 256, 256, 3), np.uint8)
    with pytest.raises(OSError) as e:
        write_mp4(str(tiny_tmpfs / "v.mp4"), frames, 24.0)
    assert e.value.errno == errno.ENOSPC and disk_full(e.value)
