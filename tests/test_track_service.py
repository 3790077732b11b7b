"""Tracks on the service (/v1/tracks, issue 29): a clip's camera move as a job of a real `realcam serve` on loopback.

Refusals before anything is queued (content types, archives that are not clips, the clip limits, options), the job
kind kept apart from generation jobs, a failed track that names no server path, cancel of a running track (its
child process ends), and on true renders: the move in metres from frames and a depth map, the relative fallback
from a video without one, and a done track surviving a restart.
"""

import http.client
import io
import json
import os
import time
import zipfile

import numpy as np
import pytest
from helpers import Server, http_call, run_blender_script
from PIL import Image

from realcam.evaluate.accuracy import load_track
from realcam.evaluate.metrics import rotation_angles
from realcam.generate.video import write_mp4
from realcam_core import api
from realcam_core.camera import relative_to_first
from realcam_core.client import BackendError
from realcam_core.client_tracks import pack_clip
from realcam_core.re10k import read_re10k

W, H, N = 256, 192, 20
FOV = 60.0  # textured_moves.py's lens
ZIP, JSON_TYPE = "application/zip", "application/json"


def call(port, method, path, body=b"", ctype=None):
    """One raw request: (status, decoded JSON or None)."""
    status, data, _ = http_call(port, method, path, body, ctype, timeout=120)
    return status, data


def zip_bytes(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def png(w=64, h=48, seed=0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def frames_zip(n=5, w=64, h=48, extra=None) -> bytes:
    return zip_bytes({**{f"frames/{i:04d}.png": png(w, h, i) for i in range(n)}, **(extra or {})})


def video(name, tmp_path, n, fps, w=64, h=48, stated=True) -> bytes:
    """A video of n noise frames; stated=False: a Matroska stream written to a pipe, whose header states no
    duration (only decoding it tells how long it is)."""
    import subprocess

    import imageio_ffmpeg

    path = tmp_path / name
    rgb = np.random.default_rng(n).integers(0, 255, (n, h, w, 3), dtype=np.uint8)
    write_mp4(str(path), rgb, fps, quality=5)
    if stated:
        return path.read_bytes()
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-c", "copy", "-f", "matroska", "-"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a, np.float32))
    return buf.getvalue()


def wait(client, track_id, states=api.FINISHED, timeout=600, cond=None, seen=None):
    """Poll a track until it is in one of states (and cond(track) holds); seen collects the stages it went by."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        t = client.track(track_id)
        if seen is not None:
            seen.add(t["progress"]["stage"])
        if t["state"] in states and (cond is None or cond(t)):
            return t
        time.sleep(0.2)
    raise AssertionError(f"track {track_id} stuck: {client.track(track_id)}")


def track_children(pid: int) -> list[int]:
    """Live processes pid started with multiprocessing's spawn (a track's child; not its resource tracker)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    cmdline = fh.read()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z" and b"spawn_main" in cmdline:
                out.append(int(name))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with small clip limits; no video model is needed for tracks."""
    root = tmp_path_factory.mktemp("tracks")
    empty = root / "no-model"
    empty.mkdir()
    s = Server(
        root / "data",
        {"wan22-ti2v": empty, "svd": empty},
        "--max-track-frames", "30", "--max-track-pixels", str(320 * 240), "--max-track-seconds", "2",
        "--max-upload-mb", "8", "--depth-model-dir", f"empty-depth={empty}",
    )  # fmt: skip
    s.data = root / "data"
    yield s
    s.stop()


# ---------------------------------------------------------------- refusals, before anything is queued


def test_refusals_name_the_problem_and_queue_nothing(server):
    p = server.port
    depth_ok = npy(np.full((48, 64), 3.0))
    cases = [
        # (body, content type, query, status, words in the error or its problems)
        (frames_zip(), "text/plain", "", 415, "video type"),
        (frames_zip(), api.BUNDLE_CONTENT_TYPE, "", 415, "application/zip"),
        (b"not a zip at all", ZIP, "", 400, "not a zip"),
        (frames_zip(extra={"notes.txt": b"hi"}), ZIP, "", 422, "notes.txt"),
        (frames_zip(extra={"clip.mp4": b"x"}), ZIP, "", 422, "one clip"),
        (zip_bytes({"depth.npy": depth_ok}), ZIP, "", 422, "one clip"),
        (frames_zip(extra={"frames/0009.png": png(32, 24)}), ZIP, "", 422, "is 32x24"),
        (frames_zip(extra={"frames/0009.png": b"\x89PNG broken"}), ZIP, "", 422, "not a PNG or JPEG"),
        (frames_zip(n=31), ZIP, "", 413, "--max-track-frames"),
        (frames_zip(w=400, h=300), ZIP, "", 413, "--max-track-pixels"),
        (frames_zip(n=2), ZIP, "", 422, "at least 3"),
        (frames_zip(extra={"depth.npy": npy(np.ones((10, 10)))}), ZIP, "", 422, "depth map"),
        (frames_zip(extra={"depth.npy": depth_ok}), ZIP, "?depth_frame=7", 422, "frames 0 to 4"),
        (frames_zip(extra={"depth.npy": depth_ok}), ZIP, "?relative=true", 422, "relative"),
        (frames_zip(extra={"depth.npy": depth_ok}), ZIP, "?depth_model=empty-depth", 422, "exclude each other"),
        (frames_zip(), ZIP, "?fov=200", 422, "fov 200"),
        (frames_zip(), ZIP, "?fov=60&focal_px=100", 422, "exclude each other"),
        (frames_zip(), ZIP, "?max_frames=500", 422, f"2 to {api.TRACK_MAX_SAMPLED}"),
        (frames_zip(), ZIP, "?focal_px=nan", 422, "finite"),
        (frames_zip(), ZIP, "?depth_model=/etc", 422, "not a model this server knows"),
        (frames_zip(), ZIP, "?depth_frame=-1", 422, "count from 0"),
        (b"not a video", "video/mp4", "", 422, "not a video"),
    ]
    for body, ctype, query, status, words in cases:
        got, data = call(p, "POST", api.track_path() + query, body, ctype)
        text = json.dumps(data)
        assert got == status and words in text, (ctype, query, words, got, data)
        assert str(server.data) not in text  # no path of the server's machine
    assert server.client.tracks() == []
    assert os.listdir(os.path.join(str(server.data), "uploads")) == []  # no upload left behind


def test_size_path_and_duration_limits_hold_against_lying_uploads(server, tmp_path):
    """Uploads made to get past the limits: videos longer, denser or larger than allowed (one whose header states
    no duration, so that only decoding tells; decoding stops just past the limit), a body over the upload limit,
    archive entries that climb out of the job folder or link elsewhere, an entry that expands past the limits.
    Each is refused naming the limit, nothing is queued, and nothing is written outside the server's folders."""
    p = server.port
    link = zipfile.ZipInfo("frames/0001.png")
    link.external_attr = (0o120777 << 16) | 0x20  # a symbolic link to /etc/passwd
    linked = io.BytesIO()
    with zipfile.ZipFile(linked, "w") as zf:
        zf.writestr("frames/0000.png", png())
        zf.writestr(link, "/etc/passwd")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(5):
            zf.writestr(f"frames/{i:04d}.png", png(seed=i))
        zf.writestr("depth.npy", b"\0" * (64 * 2**20))  # 64 MiB of zeros: 64 KiB packed
    cases = [
        # (body, content type, status, words)
        (video("stated.mp4", tmp_path, 100, 25.0), "video/mp4", 413, "4.0 seconds, over this server's limit of 2"),
        (video("unstated.mkv", tmp_path, 20, 5.0, stated=False), "video/x-matroska", 413, "--max-track-seconds"),
        (video("dense.mkv", tmp_path, 60, 50.0, stated=False), "video/x-matroska", 413, "--max-track-frames"),
        (video("wide.mp4", tmp_path, 5, 25.0, w=400, h=304), "video/mp4", 413, "400x304"),
        (zip_bytes({"clip.mkv": video("z.mkv", tmp_path, 20, 5.0, stated=False)}), ZIP, 413, "--max-track-seconds"),
        (frames_zip(extra={"../escape.png": png()}), ZIP, 422, "escape.png"),
        (frames_zip(extra={"/tmp/escape.png": png()}), ZIP, 422, "escape.png"),
        (frames_zip(extra={"frames/../../escape.png": png()}), ZIP, 422, "escape.png"),
        (linked.getvalue(), ZIP, 422, "0001.png"),
        (bomb.getvalue(), ZIP, 413, "archive"),
    ]
    slowest = 0.0
    for body, ctype, status, words in cases:
        t0 = time.perf_counter()
        got, data = call(p, "POST", api.track_path(), body, ctype)
        slowest = max(slowest, time.perf_counter() - t0)
        text = json.dumps(data)
        assert got == status and words in text, (ctype, words, got, data)
        assert str(server.data) not in text
    print(f"slowest refusal {slowest:.2f} s")
    # A body declared over --max-upload-mb is refused from its headers, before a byte of it is read.
    conn = http.client.HTTPConnection("127.0.0.1", p, timeout=30)
    try:
        conn.putrequest("POST", api.track_path())
        conn.putheader("Content-Type", "video/mp4")
        conn.putheader("Content-Length", str(9 * 2**20))
        conn.endheaders()
        resp = conn.getresponse()
        data = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 413 and "over the limit of 8388608" in json.dumps(data), (resp.status, data)
    assert server.client.tracks() == []
    assert os.listdir(os.path.join(str(server.data), "uploads")) == []
    assert not any("escape.png" in names for _, _, names in os.walk(server.data.parent))


def test_a_track_is_a_job_of_its_own_kind_a_failure_names_no_path_and_a_repeat_is_the_same_track(server, tmp_path):
    """Noise frames cannot be tracked: the track fails with the pipeline's reason in the client's words. It is
    listed under /v1/tracks, not /v1/jobs; the same clip with the same options is the same track."""
    c = server.client
    (tmp_path / "noise").mkdir()
    for i in range(6):
        (tmp_path / "noise" / f"{i:04d}.png").write_bytes(png(64, 48, 100 + i))
    archive = pack_clip(str(tmp_path / "noise"), str(tmp_path / "noise.zip"))
    t = c.submit_track(archive, fov=FOV, relative=True)
    assert t["kind"] == "track" and t["clip"] == "6 frames" and (t["width"], t["height"]) == (64, 48)
    assert t["options"] == {"fov": FOV, "relative": True, "depth_frame": 0, "max_frames": 48, "max_side": 960}
    again = c.submit_track(archive, fov=FOV, relative=True)
    assert again["id"] == t["id"]
    other = c.submit_track(archive, fov=50.0, relative=True)  # other options: another track
    assert other["id"] != t["id"]
    done = wait(c, t["id"])
    assert done["state"] == "failed" and "frames could be placed" in done["error"], done
    assert "the uploaded clip" in done["error"] and str(server.data) not in done["error"]
    assert [x["id"] for x in c.tracks()][:2] == [t["id"], other["id"]] and c.jobs() == []
    for path in (api.job_path(t["id"]), api.job_path(t["id"], "video")):
        status, data = call(server.port, "GET", path)
        assert status == 404 and "/v1/tracks/" in data["error"]
    with pytest.raises(BackendError) as e:
        c.download_track(t["id"], "move", str(tmp_path / "m.txt"))
    assert e.value.status == 409 and not (tmp_path / "m.txt").exists()
    with pytest.raises(BackendError) as e:
        c.track("0" * 32)
    assert e.value.status == 404
    wait(c, other["id"])
    for x in (t, other):
        c.delete_track(x["id"])
    assert c.tracks() == []


# ---------------------------------------------------------------- on true renders


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    out = tmp_path_factory.mktemp("track_service_renders")
    run_blender_script("textured_moves.py", out, W, H, N, "orbit", "truck", "--depth")
    return out


def _errors(move_file, truth_file, report):
    got = np.stack([f.c2w() for f in read_re10k(move_file).frames])
    _, gt = load_track(str(truth_file), (W, H))
    truth = relative_to_first(gt[report["registered_frames"]])
    t_err = np.linalg.norm(got[:, :3, 3] - truth[:, :3, 3], axis=1)
    r_err = np.degrees(rotation_angles(truth[:, :3, :3], got[:, :3, :3]))
    return t_err, r_err, np.linalg.norm(truth[:, :3, 3], axis=1).max(), truth


@pytest.mark.slow
def test_frames_and_a_depth_map_give_the_move_in_metres_and_a_restart_keeps_it(renders, tmp_path):
    empty = tmp_path / "no-model"
    empty.mkdir()
    server = Server(tmp_path / "data", {"wan22-ti2v": empty, "svd": empty})
    try:
        server.data = tmp_path / "data"
        c = server.client
        move = renders / "orbit"
        archive = pack_clip(str(move / "frames"), str(tmp_path / "orbit.zip"), str(move / "depth" / "0000.exr"))
        t = c.submit_track(archive, fov=FOV)
        seen = set()
        done = wait(c, t["id"], seen=seen)
        assert done["state"] == "done", done
        assert "reconstruct" in seen and seen <= set(api.TRACK_STAGES), seen
        c.download_track(t["id"], "move", str(tmp_path / "move.txt"))
        c.download_track(t["id"], "report", str(tmp_path / "move.json"))
        rep = json.loads((tmp_path / "move.json").read_text())
        assert rep["clip"] == "20 frames" and rep["camera_file"] == "move.txt"
        assert (
            rep["scale"]["status"] == "metric" and rep["scale"]["depth_source"] == "the uploaded depth map (depth.exr)"
        )
        assert str(server.data) not in json.dumps(rep)
        t_err, r_err, reach, _ = _errors(tmp_path / "move.txt", move / "cameras.txt", rep)
        print(f"service, orbit: translation error max {100 * t_err.max() / reach:.2f} % of {reach:.3f} m, rotation "
              f"{r_err.max():.3f} deg")  # fmt: skip
        assert t_err.max() < 0.03 * reach and r_err.max() < 0.3
    finally:
        server.stop()
    # The server stops and starts again: the done track and its files are there.
    restarted = Server(tmp_path / "data", {"wan22-ti2v": empty, "svd": empty})
    try:
        assert restarted.client.track(t["id"])["state"] == "done"
        restarted.client.download_track(t["id"], "move", str(tmp_path / "again.txt"))
        assert (tmp_path / "again.txt").read_bytes() == (tmp_path / "move.txt").read_bytes()
    finally:
        restarted.stop()


@pytest.mark.slow
def test_a_video_without_depth_gives_relative_scale_and_a_cancel_ends_the_tracking_process(tmp_path, renders):
    """A raw video upload (video/mp4), no depth map, and the server's depth model without weights: the track is
    done at relative scale and says why. A second track is cancelled while it reconstructs: its child process
    is gone at once and the server keeps running."""
    empty = tmp_path / "no-model"
    empty.mkdir()
    srv = Server(tmp_path / "data", {"wan22-ti2v": empty, "svd": empty}, "--depth-model-dir", f"mine={empty}")
    try:
        c = srv.client
        rgb = np.stack([np.asarray(Image.open(renders / "truck" / "frames" / f"{i:04d}.png")) for i in range(N)])
        write_mp4(str(tmp_path / "truck.mp4"), rgb, 25.0, quality=10)
        t = c.submit_track(str(tmp_path / "truck.mp4"), fov=FOV, depth_model="mine")
        assert t["fps"] == pytest.approx(25.0) and t["clip_frames"] == N and t["duration_s"] == pytest.approx(0.8)
        done = wait(c, t["id"])
        assert done["state"] == "done", done
        c.download_track(t["id"], "report", str(tmp_path / "r.json"))
        rep = json.loads((tmp_path / "r.json").read_text())
        assert rep["scale"]["status"] == "relative" and "could not be loaded" in rep["scale"]["reason"]
        assert str(empty) not in json.dumps(rep)  # the configured folder is redacted
        assert [w["code"] for w in rep["warnings"]] == ["relative_scale"]

        t2 = c.submit_track(str(tmp_path / "truck.mp4"), fov=FOV, relative=True)
        wait(c, t2["id"], states=("running",), cond=lambda x: x["progress"]["stage"] == "reconstruct", timeout=120)
        kids = track_children(srv.proc.pid)
        assert kids, "the track runs in a child process"
        t0 = time.time()
        assert c.cancel_track(t2["id"])["state"] in ("running", "cancelled")
        assert wait(c, t2["id"], timeout=30)["state"] == "cancelled"
        print(f"cancelled in {time.time() - t0:.2f} s")
        deadline = time.time() + 10
        while set(kids) & set(track_children(srv.proc.pid)) and time.time() < deadline:
            time.sleep(0.1)
        assert not set(kids) & set(track_children(srv.proc.pid))
        assert c.health()["status"] == "ok"
    finally:
        srv.stop()
