"""The service under a third attack (issue 26): stalled sockets, full disks, small uploads that cost gigabytes,
damaged job folders, floods of deletes and log lines. The first two rounds are test_service_uploads.py and
test_service_security.py.

Real `realcam serve` processes on loopback and raw sockets for the hostile peers. A disk that fills on
demand is the test-only tests/pace_stages/sitecustomize.py (REALCAM_TEST_FULL_DISK: every os.replace of the
server fails with ENOSPC while a file exists, which is how the store saves states and the engine puts a
take in place); where a small tmpfs can be mounted (root), ffmpeg meets a really full disk too.
"""

import errno
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from helpers import (
    BUNDLE_TYPE,
    JSON_TYPE,
    ROOT,
    Server,
    bundle_zip,
    free_port,
    make_bundle,
    probe_mp4,
    read_bytes,
    set_settings,
    small_tmpfs,
    wait_for_job,
)
from helpers import http_call as call

from realcam_core import api

PACE = os.path.join(ROOT, "tests", "pace_stages")


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
        ("GET", "/nope", None, 404),  # "/" is the dashboard
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


BAD_TOKENS = {
    "spaces": (" " * 20, "blank"),
    "tabs": ("\t" * 20, "blank"),
    "no-break spaces": ("\u00a0" * 20, "blank"),
    "em and ideographic spaces": ("\u2003\u3000" * 10, "blank"),
    "a no-break space inside": ("a-long-token\u00a0with-nbsp", "non-ASCII"),
    "spaces inside": ("token with spaces in it", "white space"),
    "zero-width spaces": ("\u200b" * 20, "non-ASCII"),  # not white space to Python, invisible all the same
    "one character": ("a" * 32, "different characters"),
    "two characters": ("abababababababab", "different characters"),
    "short": ("short-1234", "at least 16"),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_blank_or_guessable_token_is_refused_for_every_interface(kind):
    from realcam.errors import UserError
    from realcam.service.config import ServerConfig, check_bind

    token, words = BAD_TOKENS[kind]
    with pytest.raises(UserError, match=words) as e:
        check_bind(ServerConfig(data_dir="unused", host="0.0.0.0", token=token))
    assert "secrets.token_urlsafe" in str(e.value)  # says how to make a good one


@pytest.mark.slow
def test_realcam_serve_refuses_a_blank_token_without_a_traceback(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "realcam", "serve", "--host", "0.0.0.0", "--port", str(free_port())]
        + ["--data", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "REALCAM_TOKEN": "\u00a0" * 20},
    )
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "blank" in r.stderr and "Traceback" not in r.stderr, r.stderr


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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    with small_tmpfs(tmp_path / "small", "1m") as mnt:
        yield mnt


def test_an_mp4_that_does_not_fit_raises_disk_full(tiny_tmpfs):
    """imageio-ffmpeg never read ffmpeg's exit status: a cut MP4 looked written."""
    from realcam.generate.video import write_mp4
    from realcam.service.outcome import disk_full

    frames = np.random.default_rng(0).integers(0, 255, (24, 256, 256, 3), np.uint8)
    with pytest.raises(OSError) as e:
        write_mp4(str(tiny_tmpfs / "v.mp4"), frames, 24.0)
    assert e.value.errno == errno.ENOSPC and disk_full(e.value)


# ------------------------------------------------------------------ 9, 10, 5. what a manifest may ask for


def _manifest(tmp_path, edit):
    folder = tmp_path / "m"
    if not folder.exists():
        make_bundle(folder, w=64, h=48)
    data = json.loads((folder / "manifest.json").read_text())
    edit(data)
    return data


def _problems(tmp_path, edit):
    from realcam_core.bundle import parse_manifest

    return [str(p) for p in parse_manifest(_manifest(tmp_path, edit))[1]]


def _set_fx(data, fx, i=1):
    data["frames"][i]["intrinsics"]["fx"] = fx


def _set_t(data, t, i=1):
    data["frames"][i]["c2w"][0][3] = t


@pytest.mark.parametrize(
    "edit, refused",
    [
        (lambda d: d["settings"].update(fps=1.0), None),
        (lambda d: d["settings"].update(fps=240), None),
        (lambda d: d["settings"].update(fps=24000 / 1001), None),
        (lambda d: d["settings"].update(fps=0.999), "settings.fps"),
        (lambda d: d["settings"].update(fps=240.001), "settings.fps"),
        (lambda d: d["settings"].update(fps=1e-9), "settings.fps"),
        # 64x48: the long side is 64, so focal lengths from 0.064 to 64000 pixels
        (lambda d: _set_fx(d, 0.064), None),
        (lambda d: _set_fx(d, 64000.0), None),
        (lambda d: _set_fx(d, 0.0639), "frames[1].intrinsics"),
        (lambda d: _set_fx(d, 64001.0), "frames[1].intrinsics"),
        (lambda d: _set_fx(d, 1e-300), "frames[1].intrinsics"),
        (lambda d: _set_t(d, 1e4), None),
        (lambda d: _set_t(d, -1e4 - 1), "frames[1].c2w"),
        (lambda d: _set_t(d, 1e300), "frames[1].c2w"),
        (lambda d: d["settings"].update(prompt="x" * 8192), None),
        (lambda d: d["settings"].update(prompt="x" * 8193), "settings.prompt"),
        (lambda d: d["settings"].update(negative_prompt="\u20ac" * 2731), "settings.negative_prompt"),  # 8193 B
        (lambda d: d["settings"].update(prompt="x" * (7 << 20)), "settings.prompt"),
    ],
)
def test_manifest_bounds_at_and_past_the_limit(edit, refused, tmp_path):
    problems = _problems(tmp_path, edit)
    if refused is None:
        assert problems == []
    else:
        assert problems and all(refused in p for p in problems), problems


@pytest.mark.parametrize(
    "attack, edit, where",
    [
        ("focal 1e-300", lambda d: _set_fx(d, 1e-300), "frames[1].intrinsics"),
        ("translation 1e300", lambda d: _set_t(d, 1e300), "frames[1].c2w"),
        ("fps 1e-9", lambda d: d["settings"].update(fps=1e-9), "settings.fps"),
    ],
)
def test_the_issues_cameras_and_frame_rate_are_refused_at_submit(server, tmp_path, attack, edit, where):
    """Extreme but finite cameras made the camera model's take black, and an fps of 1e-9 was recorded for an
    MP4 that played at 16: now each is a 422 naming the field, before a job exists."""
    before = len(server.client.jobs())
    body = read_bytes(bundle_zip(tmp_path, "extreme", seed=31, edit=edit))
    status, data, _ = call(server.port, "POST", "/v1/jobs", body, BUNDLE_TYPE)
    assert_error_shape(status, data, 422)
    assert any(p.startswith(f"manifest.json: {where}") for p in data["problems"]), (attack, data)
    assert len(server.client.jobs()) == before


def test_manifest_values_are_counted_before_parsing():
    from realcam_core.bundle import Limits
    from realcam_core.bundle.manifest import json_values_over

    limits = Limits(max_frames=40)
    n = limits.max_manifest_values
    assert n == 16384 + 64 * 40
    at = "[" + ",".join("1" * 1 for _ in range(n)) + "]"  # n - 1 commas and one list: n
    assert json_values_over(at, n) is None
    assert json_values_over("[" + ",".join("1" for _ in range(n + 1)) + "]", n) == n + 1
    empties = "[" + ",".join(["[]"] * 2_700_000) + "]"  # the 8 MB attack: 2.7 M empty lists
    assert json_values_over(empties, n) == 5_400_000
    assert json_values_over(json.dumps({"s": ",[{" * 100_000}), n) is None  # inside a string: no values


def test_fps_of_result_json_and_the_mp4_agree(server, tmp_path):
    from realcam_core.bundle import pack_bundle

    c = server.client
    for fps in (1.0, 24000 / 1001, 240.0):
        folder = tmp_path / f"fps{fps:.3f}"
        make_bundle(folder, n=5, w=64, h=64, model="tiny", seed=int(fps * 10))
        set_settings(folder, steps=1, fps=fps)
        job = c.submit(pack_bundle(str(folder), str(folder) + ".zip"))
        assert wait_for_job(c, job["id"])["state"] == "done"
        c.download(job["id"], "video", str(tmp_path / "v.mp4"))
        c.download(job["id"], "result", str(tmp_path / "r.json"))
        recorded = json.loads((tmp_path / "r.json").read_text())["fps"]
        frames, played, _ = probe_mp4(str(tmp_path / "v.mp4"))
        assert frames == 5 and abs(recorded - fps) < 1e-6 and abs(played - recorded) < 0.01, (fps, recorded, played)


def test_a_model_that_produces_nan_fails_its_job_clearly(tiny_models, tmp_path):
    """A take of NaN frames was written as a black video, state done."""
    import torch
    from safetensors.torch import load_file, save_file

    from realcam.errors import UserError
    from realcam.generate.engine import Engine
    from realcam.generate.job import RunOptions

    model = tmp_path / "nan-model"
    shutil.copytree(tiny_models["wan22-ti2v"], model)
    weights = next((model / "vae").glob("*.safetensors"))
    state = load_file(str(weights))
    last = [k for k in state if k.startswith("decoder.") and k.endswith(".bias")][-1]
    state[last] = torch.full_like(state[last], float("nan"))
    save_file(state, str(weights))
    make_bundle(tmp_path / "job", n=5, w=64, h=64)
    set_settings(tmp_path / "job", steps=1)
    with pytest.raises(UserError, match="non-finite values") as e:
        Engine().run(tmp_path / "job", tmp_path / "take", RunOptions(model=str(model), device="cpu"))
    assert "no take was written" in str(e.value)
    assert not (tmp_path / "take").exists()


# ------------------------------------------------------------------ 11. images that cannot be read


def _chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_chunk(png: bytes, chunk: bytes) -> bytes:
    """The PNG with one more chunk right after its header (IHDR is 8 + 25 bytes)."""
    return png[:33] + chunk + png[33:]


def _garbage_pixels(png: bytes) -> bytes:
    """The PNG with its compressed pixels replaced by noise of the same length, checksums made right again."""
    import struct

    i = png.index(b"IDAT") - 4
    n = struct.unpack(">I", png[i : i + 4])[0]
    noise = np.random.default_rng(5).integers(0, 256, n, dtype=np.uint8).tobytes()
    return png[:i] + _chunk(b"IDAT", noise) + png[i + 12 + n :]


def _bomb(kind: bytes, mib: int) -> bytes:
    import zlib

    packed = zlib.compress(bytes(mib << 20), 9)  # about 1 KiB per MiB
    if kind == b"zTXt":
        return _chunk(kind, b"Comment\x00\x00" + packed)
    return _chunk(kind, b"profile\x00\x00" + packed)  # iCCP


@pytest.mark.parametrize(
    "name, spoil, words",
    [
        ("preview/0002.png", _garbage_pixels, "preview/0002.png: cannot be decoded"),
        ("reference.png", _garbage_pixels, "reference.png: cannot be decoded"),
        ("preview/0001.png", lambda b: _with_chunk(b, _bomb(b"zTXt", 64)), "preview/0001.png: cannot be decoded"),
        ("preview/0003.png", lambda b: _with_chunk(b, _bomb(b"iCCP", 64)), "preview/0003.png: cannot be decoded"),
    ],
)
def test_images_that_cannot_be_decoded_are_refused_at_submit_naming_the_file(server, tmp_path, name, spoil, words):
    def files(folder):
        path = os.path.join(folder, name)
        with open(path, "rb") as fh:
            data = fh.read()
        with open(path, "wb") as fh:
            fh.write(spoil(data))

    path = bundle_zip(tmp_path, "spoilt", seed=hash(name) % 1000, files=files)
    assert os.path.getsize(path) < 200_000  # a small upload
    with open(path, "rb") as fh:
        status, data, _ = call(server.port, "POST", "/v1/jobs", fh.read(), BUNDLE_TYPE)
    assert_error_shape(status, data, 422)
    assert words in data["error"] and str(tmp_path) not in json.dumps(data), data


def test_a_bundle_at_the_image_limits_is_accepted(server, tmp_path):
    """A text chunk of exactly Pillow's 1 MiB limit, compressed, is an image like any other."""
    import zlib

    def files(folder):
        path = os.path.join(folder, "preview/0001.png")
        with open(path, "rb") as fh:
            data = fh.read()
        text = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a" * ((1 << 20) - 16), 9))
        with open(path, "wb") as fh:
            fh.write(_with_chunk(data, text))

    with open(bundle_zip(tmp_path, "fine", seed=777, files=files), "rb") as fh:
        status, data, _ = call(server.port, "POST", "/v1/jobs", fh.read(), BUNDLE_TYPE)
    assert status == 201, data


# ------------------------------------------------------------------ 5. small uploads cost little


def _peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM")).split()[1]) / 1024


def _manifest_zip(tmp_path, name, text):
    import zipfile

    folder = tmp_path / name
    make_bundle(folder, n=5, w=64, h=64)
    (folder / "manifest.json").write_text(text)
    path = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                kind = zipfile.ZIP_DEFLATED if f.suffix == ".json" else zipfile.ZIP_STORED
                zf.write(f, f.relative_to(folder).as_posix(), compress_type=kind)
    return path.read_bytes()


def test_small_uploads_of_many_values_cost_little_memory(server, tmp_path):
    from realcam_core.bundle import Limits
    from realcam_core.bundle.manifest import json_values_over

    limits = Limits(max_frames=40)  # the server's
    make_bundle(tmp_path / "base", n=5, w=64, h=64)
    base = json.loads((tmp_path / "base" / "manifest.json").read_text())

    def with_source(count):
        have = json_values_over(json.dumps({**base, "source": {"x": []}}), 0)
        return json.dumps({**base, "source": {"x": [0] * (count - have + 1)}})  # k zeros add k - 1 commas

    limit = limits.max_manifest_values
    at = with_source(limit)
    assert json_values_over(at, limit) is None and json_values_over(at, limit - 1) == limit
    status, data, _ = call(server.port, "POST", "/v1/jobs", _manifest_zip(tmp_path, "at", at), BUNDLE_TYPE)
    assert status == 201, data
    over = with_source(limit + 1)
    status, data, _ = call(server.port, "POST", "/v1/jobs", _manifest_zip(tmp_path, "over", over), BUNDLE_TYPE)
    assert_error_shape(status, data, 422)
    assert f"holds {limit + 1} values" in data["error"], data
    # Five at once, each as many empty lists as the manifest's size limit holds (the 8 MiB attack did not
    # fit any more): the server's peak memory barely moves.
    bomb = _manifest_zip(tmp_path, "bomb", "[" + ",".join(["[]"] * (limits.max_manifest_bytes // 3 - 1)) + "]")
    assert len(bomb) < 200_000
    before = _peak_rss_mib(server.proc.pid)
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(call(server.port, "POST", "/v1/jobs", bomb, BUNDLE_TYPE)))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    after = _peak_rss_mib(server.proc.pid)
    print(
        f"\nfive manifests of {limits.max_manifest_bytes // 3} empty lists at once: peak RSS {before:.0f} -> "
        f"{after:.0f} MiB"
    )
    assert [a[0] for a in answers] == [422] * 5, [a[:2] for a in answers]
    assert after - before < 100, (before, after)


# ------------------------------------------------------------------ 2. stalled sockets deny nothing


def _open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.slow
def test_stalled_heads_at_the_open_file_limit_deny_nothing(tmp_path, tiny_models):
    from realcam.service.connections import connection_limits

    limit = 256
    cap, _ = connection_limits(limit)

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    s = Server(tmp_path / "data", tiny_models, "--header-timeout", "3", preexec_fn=low_limit)
    log = tmp_path / "data.log"
    try:
        logged = log.stat().st_size
        socks = []
        for i in range(3 * limit):  # far more than the server can hold open
            try:
                sock = socket.create_connection(("127.0.0.1", s.port), timeout=5)
                sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
                socks.append(sock)
            except OSError:
                pass
            if i % 64 == 0:
                assert _open_files(s.proc.pid) < limit
        latencies = []
        for _ in range(5):
            t = time.monotonic()
            status, data, _ = call(s.port, "GET", "/v1/health", timeout=10)
            latencies.append(time.monotonic() - t)
            assert status == 200, data
        print(
            f"\n{len(socks)} stalled heads against a {limit}-file server (cap {cap}): health in at most "
            f"{max(latencies) * 1000:.0f} ms, {_open_files(s.proc.pid)} files open"
        )
        assert max(latencies) < 2.0, latencies
        # Submissions need files too (the upload, the job's folder, the take): a job still runs to its end.
        job = s.client.submit(bundle_zip(tmp_path, "during", steps=1, seed=3))
        assert wait_for_job(s.client, job["id"])["state"] == "done"
        # Every stalled head is closed: the oldest made room for newer ones, the rest ran out of time.
        time.sleep(4)
        answers = []
        for sock in socks:
            sock.settimeout(5)
            try:
                data = sock.recv(4096)
            except OSError:
                data = b"reset"
            answers.append(data.split(b"\r\n", 1)[0])
            sock.close()
        assert all(a in (b"", b"reset", b"HTTP/1.1 408 Request Timeout") for a in answers), set(answers)
        assert b"HTTP/1.1 408 Request Timeout" in answers  # the last ones, which nothing pushed out
        # A head begun after a keep-alive request has the same limit.
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = b""
            while b"\r\n\r\n" not in first:
                first += sock.recv(65536)
            head, body = first.split(b"\r\n\r\n", 1)
            length = int(
                next(
                    v for k, _, v in (h.partition(b": ") for h in head.split(b"\r\n")) if k.lower() == b"content-length"
                )
            )
            while len(body) < length:
                body += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200") and len(body) == length
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 12")
            t = time.monotonic()
            rest = b""
            while chunk := sock.recv(65536):
                rest += chunk
            assert rest.startswith(b"HTTP/1.1 408") and b'"error"' in rest and 2 < time.monotonic() - t < 6
        grown = log.stat().st_size - logged
        text = log.read_text(errors="replace")
        print(f"the log grew {grown} bytes; 'Too many open files' {text.count('Too many open files')} times")
        assert grown < 64_000, grown
    finally:
        s.stop()


# ------------------------------------------------------------------ 13, 16. what strangers get and log


def test_strangers_cannot_fill_the_log_nor_read_the_servers_state(tmp_path, tiny_models):
    token = "a-token-long-enough-for-anything-9"
    s = Server(tmp_path / "data", tiny_models, token=token)
    log = tmp_path / "data.log"
    try:
        logged = log.stat().st_size
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(100):  # 60 KB queries: over the head limit (431 when it trickles in, 414 when not)
            status, data, _ = call(s.port, "GET", "/v1/health?" + "q" * 60_000)
            assert_error_shape(status, data, 414, 431)
        for _ in range(100):  # 6 KB queries: within the head, over the URL limit
            status, data, _ = call(s.port, "GET", "/v1/health?" + "q" * 6_000)
            assert_error_shape(status, data, 414)
        status, data, _ = call(s.port, "GET", "/v1/health?" + "q" * 4000)  # at the limit: answered
        assert status == 200
        for _ in range(100):  # refused for the token, each with a long URL
            status, data, _ = call(s.port, "GET", "/v1/jobs?" + "q" * 4000)
            assert_error_shape(status, data, 401)
        for _ in range(20):  # a head that trickles in past its limit
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
                sock.sendall(b"GET /v1/health?" + b"q" * 10_000)
                sock.sendall(b"q" * 10_000)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 431") and b'"error"' in answer, answer[:300]
        grown = log.stat().st_size - logged
        print(f"\n320 refused requests with 4-60 KB URLs grew the log by {grown} bytes")
        assert grown < 20_000, grown
        # Health without the token: enough to find and match the server, nothing of its state.
        public = call(s.port, "GET", "/v1/health")[1]
        assert set(public) == {"status", "version", "api_version", "bundle_schema_versions", "limits", "worker"}
        full = call(s.port, "GET", "/v1/health", headers=auth)[1]
        assert "device_info" in full and "queued" in full and full["worker"]["alive"]
    finally:
        s.stop()
