"""The backend service: a real server process on loopback, small random-weight models."""

import json
import os
import subprocess
import sys
import threading
import urllib.request
import zipfile

import pytest
from helpers import Server, bundle_zip, make_bundle, probe_mp4, run_cli, wait_for_job

from realcam_core.bundle import pack_bundle
from realcam_core.client import BackendError, Client


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models):
    s = Server(
        tmp_path_factory.mktemp("srv") / "data",
        tiny_models,
        "--max-frames",
        "40",
        "--max-upload-mb",
        "3",
        "--max-pixels",
        "16384",
        "--model-dir",
        f"tiny-fun={tiny_models['wan22-fun-camera']}",
        "--model-dir",
        f"tiny-realcam={tiny_models['realcam-i2v-256']}",
    )
    yield s
    s.stop()


def test_submit_poll_download(server, tmp_path):
    c = server.client
    h = c.health()
    assert h["api_version"] == 1 and h["bundle_schema_versions"] == [1]
    job = c.submit(bundle_zip(tmp_path, "a", n=7))
    assert job["state"] == "queued" and job["frames"] == 7 and job["scene_frames"] == [1001, 1007]
    assert c.submit(bundle_zip(tmp_path, "a", n=7))["id"] == job["id"]  # the same bundle twice: harmless
    done = wait_for_job(c, job["id"])
    assert done["state"] == "done", done
    c.download(job["id"], "video", str(tmp_path / "v.mp4"))
    assert probe_mp4(str(tmp_path / "v.mp4"))[0] == 7
    c.download(job["id"], "frames", str(tmp_path / "f.zip"))
    assert len(zipfile.ZipFile(tmp_path / "f.zip").namelist()) == 7
    c.download(job["id"], "result", str(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text())["frames"] == 7
    assert any(j["id"] == job["id"] for j in c.jobs())
    listing = c.models()
    names = [m["name"] for m in listing["video"]]
    assert "wan2.2-ti2v-5b" in names and "tiny" in names
    tiny = next(m for m in listing["video"] if m["name"] == "tiny")
    assert tiny["configured"] and tiny["spec"]["max_frames"] == 121  # the local folder's limits
    # `realcam models` prints the same catalogue the server serves (one listing, two views).
    printed = run_cli("models").stdout
    for m in listing["video"] + listing["depth"]:
        if not m.get("configured"):
            assert m["name"] in printed and m["id"] in printed and m["licence"] in printed
    with urllib.request.urlopen(server.url + "/openapi.json") as r:
        assert "/v1/jobs" in json.load(r)["paths"]


def test_camera_model_runs_with_noise_shaping_through_the_server(server, tmp_path):
    c = server.client
    job = c.submit(bundle_zip(tmp_path, "fun", n=5, steps=3, model="tiny-fun"))
    assert wait_for_job(c, job["id"])["state"] == "done"
    c.download(job["id"], "result", str(tmp_path / "r.json"))
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["camera_condition"]["used"] and res["sns"]["enabled"] and res["sns"]["shaped_steps"]
    fun = next(m for m in c.models()["video"] if m["name"] == "tiny-fun")
    assert fun["spec"]["family"] == "wan-fun-camera"


def test_the_papers_camera_model_runs_through_the_server_with_its_scale_recorded(server, tmp_path):
    c = server.client
    job = c.submit(bundle_zip(tmp_path, "realcam", n=5, steps=2, model="tiny-realcam"))
    assert job["frames"] == 5 and job["model_name"] == "RealCam-I2V 256 (local)"
    assert wait_for_job(c, job["id"], timeout=300)["state"] == "done"
    c.download(job["id"], "result", str(tmp_path / "r.json"))
    res = json.loads((tmp_path / "r.json").read_text())
    cc = res["camera_condition"]
    assert cc["used"] and cc["model"] == "realcam-i2v" and cc["epipolar_strides"] == [8, 16]
    assert cc["scale"] == {
        "family": "realcam-i2v",
        "units_per_metre": 1.0,
        "translation": "metric",
        "source": "trained metric",
        "near_depth_m": None,
        "upstream_inference_scale": 0.5,
    }
    assert res["generated_frames"] == 8 and res["sns"]["shaped_steps"] == [0]
    listed = next(m for m in c.models()["video"] if m["name"] == "tiny-realcam")
    assert listed["spec"]["camera"] == "realcam-i2v" and listed["spec"]["max_frames"] == 8  # the tiny model's


def test_cancel_while_running_then_delete(server, tmp_path):
    c = server.client
    with pytest.raises(BackendError, match="1000 steps is more than Wan 2.2 TI2V-5B supports"):
        c.submit(bundle_zip(tmp_path, "toolong", steps=1000, seed=5))
    job = c.submit(bundle_zip(tmp_path, "long", steps=200, seed=5))
    running = wait_for_job(c, job["id"], states=("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 2)
    assert running["progress"]["total"] == 200 and running["progress"]["eta_s"] is not None
    c.cancel(job["id"])
    assert wait_for_job(c, job["id"])["state"] == "cancelled"
    with pytest.raises(BackendError) as e:
        c.download(job["id"], "video", str(tmp_path / "x.mp4"))
    assert e.value.status == 409 and not (tmp_path / "x.mp4").exists()
    c.delete(job["id"])
    with pytest.raises(BackendError) as e:
        c.job(job["id"])
    assert e.value.status == 404


def test_twenty_jobs_at_once_finish_in_order(server, tmp_path):
    c = server.client
    zips = [bundle_zip(tmp_path, f"j{i}", steps=1, seed=100 + i) for i in range(20)]
    jobs, lock = [], threading.Lock()

    def submit(z):
        j = c.submit(z)
        with lock:
            jobs.append(j)

    threads = [threading.Thread(target=submit, args=(z,)) for z in zips]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({j["id"] for j in jobs}) == 20
    finished = [wait_for_job(c, j["id"], timeout=300) for j in jobs]
    assert all(j["state"] == "done" for j in finished)
    by_seq = sorted(finished, key=lambda j: j["seq"])
    starts = [j["started_at"] for j in by_seq]
    assert starts == sorted(starts)  # run in submission order
    assert all(a["finished_at"] <= b["started_at"] for a, b in zip(by_seq, by_seq[1:], strict=False))  # one at a time


def raw_post(port, chunk, count, declare_length):
    """POST count chunks, reading the answer even if the server stops listening mid-upload."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/v1/jobs")
    conn.putheader("Content-Type", "application/vnd.realcam.bundle+zip")
    if declare_length:
        conn.putheader("Content-Length", str(len(chunk) * count))
    else:
        conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for _ in range(count):
            if declare_length:
                conn.send(chunk)
            else:
                conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        if not declare_length:
            conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server refused before the end, as it should
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def test_bad_input_is_refused_and_the_server_keeps_serving(server, tmp_path):
    def post(body, path="/v1/jobs"):
        req = urllib.request.Request(
            server.url + path, data=body, method="POST", headers={"Content-Type": "application/vnd.realcam.bundle+zip"}
        )
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    status, body = post(b"")
    assert status == 400 and "no file" in body["error"]
    status, body = post(b"this is not a zip")
    assert status == 400 and "not a zip archive" in body["problems"][0]
    # Over the limit: refused from the declared length, and while streaming when none is declared.
    for declared in (True, False):
        status, body = raw_post(server.port, os.urandom(1 << 20), 6, declared)
        assert status == 413 and "over the limit" in body["error"], body

    def two_faults(d):
        d["frames"][2]["c2w"][0][0] = 5.0
        d["frames"][3]["scene_frame"] = 1

    bad = bundle_zip(tmp_path, "bad", edit=two_faults)
    os.remove(os.path.join(tmp_path, "bad", "preview", "0004.png"))
    bad = pack_bundle(os.path.join(tmp_path, "bad"), os.path.join(tmp_path, "bad.zip"))
    status, body = post(open(bad, "rb").read())
    assert status == 422 and len(body["problems"]) == 3
    assert any("frames[2].c2w" in p for p in body["problems"])
    assert any("preview/0004.png: missing" in p for p in body["problems"])

    for name in ("../escape.png", "/etc/cron.d/x"):
        with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
            zf.writestr("manifest.json", "{}")
            zf.writestr(name, "x")
        status, body = post((tmp_path / "evil.zip").read_bytes())
        assert status == 422 and name in body["problems"][0]

    status, body = post(open(bundle_zip(tmp_path, "long", n=41), "rb").read())
    assert status == 422 and "41 frames is more than allowed (40)" in " ".join(body["problems"])
    status, body = post(open(bundle_zip(tmp_path, "wide", w=192, h=128), "rb").read())
    assert status == 422 and "larger than allowed" in " ".join(body["problems"])
    status, body = post(open(bundle_zip(tmp_path, "v2", edit=lambda d: d.update(schema_version=2)), "rb").read())
    assert status == 422 and "unknown schema version 2" in body["problems"][0]
    status, body = post(open(bundle_zip(tmp_path, "path", model="/etc"), "rb").read())
    assert status == 422 and "not a model this server knows" in body["error"]

    folder = tmp_path / "json"
    make_bundle(folder)
    (folder / "manifest.json").write_text('{"schema": "realcam.job-bundle", ')
    status, body = post(open(pack_bundle(folder, tmp_path / "json.zip"), "rb").read())
    assert status == 422 and "not valid JSON" in body["problems"][0]

    for path in ("/v1/jobs/0123", "/v1/jobs/" + "f" * 32, "/v1/jobs/..%2F..%2Fetc"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(server.url + path)
        assert e.value.code == 404
    assert server.client.health()["status"] == "ok"


def test_kill_9_during_a_job_then_restart(tmp_path, tiny_models):
    data = tmp_path / "data"
    s = Server(data, tiny_models)
    c = s.client
    first = c.submit(bundle_zip(tmp_path, "first", steps=1))
    assert wait_for_job(c, first["id"])["state"] == "done"
    victim = c.submit(bundle_zip(tmp_path, "victim", steps=200, seed=7))
    queued = c.submit(bundle_zip(tmp_path, "after", steps=1, seed=8))
    wait_for_job(c, victim["id"], states=("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 2)
    s.kill9()
    s2 = Server(data, tiny_models)
    try:
        c2 = s2.client
        again = wait_for_job(c2, victim["id"], timeout=300)
        assert again["state"] == "done" and again["attempts"] == 2
        assert wait_for_job(c2, queued["id"])["state"] == "done"
        assert c2.job(queued["id"])["started_at"] >= again["finished_at"]
        c2.download(first["id"], "video", str(tmp_path / "first.mp4"))  # earlier results survive
        assert probe_mp4(str(tmp_path / "first.mp4"))[0] == 5
        assert not [n for n in os.listdir(data / "jobs" / victim["id"]) if n.startswith(".realcam-job-")]
    finally:
        s2.stop()


def test_a_stopped_server_runs_its_interrupted_job_again(tmp_path, tiny_models):
    """A graceful stop (what Blender does to its embedded backend when it quits) is not a cancel."""
    data = tmp_path / "data"
    s = Server(data, tiny_models)
    victim = s.client.submit(bundle_zip(tmp_path, "victim", steps=200, seed=9))
    wait_for_job(s.client, victim["id"], states=("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 1)
    s.stop()
    s2 = Server(data, tiny_models)
    try:
        again = wait_for_job(s2.client, victim["id"], states=("running",), cond=lambda j: j.get("attempts") == 2)
        assert again["state"] == "running"  # queued again at the start and run from the beginning
        s2.client.cancel(victim["id"])  # a user's cancel still cancels
        assert wait_for_job(s2.client, victim["id"])["state"] == "cancelled"
    finally:
        s2.stop()


def test_token_and_bind_rules(tmp_path, tiny_models):
    r = subprocess.run(
        [sys.executable, "-m", "realcam", "serve", "--host", "0.0.0.0", "--data", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "REALCAM_TOKEN": ""},
    )
    assert r.returncode == 2 and "refusing to listen on 0.0.0.0" in r.stderr and "token" in r.stderr
    s = Server(tmp_path / "d2", tiny_models, token="s3cret")
    try:
        assert Client(s.url).health()["status"] == "ok"  # health stays open for probes
        with pytest.raises(BackendError) as e:
            Client(s.url).jobs()
        assert e.value.status == 401
        with pytest.raises(BackendError) as e:
            Client(s.url, token="wrong").jobs()
        assert e.value.status == 401
        assert s.client.jobs() == []
    finally:
        s.stop()
