"""Shared test helpers: paths, subprocess runners, fixture data, a real backend server.

Imported by test modules as `from helpers import ...` (tests/ is on sys.path);
pytest fixtures stay in conftest.py.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "samples")
BLENDER_SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blender_scripts")


# Other Blender versions the add-on is tested on, each in its own environment (scripts/blender_envs.sh);
# .venv's own bpy is 4.5.
BLENDER_VERSIONS = os.environ.get("REALCAM_BLENDER_VERSIONS", "4.2 5.0").split()
BLENDER_ENVS = os.path.join(ROOT, ".venv", "blender")


def blender_pythons():
    """(version, Python with that bpy or None, why it is missing) for .venv's bpy and each other version."""
    from importlib.metadata import version

    out = [(version("bpy").rsplit(".", 1)[0], sys.executable, None)]
    for ver in BLENDER_VERSIONS:
        python = os.path.join(BLENDER_ENVS, ver, "bin", "python")
        if os.path.exists(python):
            out.append((ver, python, None))
            continue
        skip = os.path.join(BLENDER_ENVS, f"{ver}.skip")
        why = "is not set up (scripts/test.sh sets it up)"
        if os.path.exists(skip):
            with open(skip) as fh:
                why = "cannot be installed here: " + (fh.read().strip().splitlines() or ["no reason given"])[-1]
        out.append((ver, None, why))
    return out


def run_blender_script(name, *args, user_dir=None, python=None, timeout=900):
    """Run a script under tests/blender_scripts in a fresh Python with real bpy.

    user_dir: Blender's user folders (the extension lands there), never the home folder.
    python: another Blender version's Python (the blender_python fixture); the backend stays on this one."""
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    if user_dir is not None:
        env["BLENDER_USER_RESOURCES"] = str(user_dir)
    # REALCAM_PROFILE_DIR=folder: each script runs under cProfile, its profile in folder/<script>.prof.
    profile = os.environ.get("REALCAM_PROFILE_DIR")
    prof = ["-m", "cProfile", "-o", os.path.join(profile, name + ".prof")] if profile else []
    proc = subprocess.run(
        [python or sys.executable, *prof, os.path.join(BLENDER_SCRIPTS, name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


# In blender_report's arguments: where the script takes the path of its JSON report.
REPORT = "<the report's path>"


def blender_report(work, name, *args, python=None, timeout=900) -> dict:
    """Run a Blender test script (run_blender_script) with Blender's user folders in work/blender-user and its JSON
    report in work/report.json, passed to the script where args has REPORT; the report."""
    report = os.path.join(str(work), "report.json")
    args = [report if a is REPORT else a for a in args]
    run_blender_script(name, *args, user_dir=os.path.join(str(work), "blender-user"), python=python, timeout=timeout)
    import json

    with open(report) as fh:
        return json.load(fh)


def run_cli(*args, env_extra=None, timeout=300):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "realcam", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )


def run_cli_offline(*args, hf_home, timeout=300):
    """The realcam command with the hub offline and its model cache at hf_home (empty: what a missing model does)."""
    return run_cli(*args, env_extra={"HF_HUB_OFFLINE": "1", "HF_HOME": str(hf_home)}, timeout=timeout)


def online_env(hub_url, hf_home, **extra) -> dict:
    """The environment of a process that downloads from the hub at hub_url into the cache at hf_home (without the
    HF_HUB_OFFLINE a test run may have set)."""
    env = dict(os.environ, HF_ENDPOINT=hub_url, HF_HOME=str(hf_home), **extra)
    env.pop("HF_HUB_OFFLINE", None)
    return env


def run_download(hub_url, hf_home, *args, extra_env=None, timeout=120):
    """`realcam download ARGS` from the hub at hub_url into the cache at hf_home."""
    return subprocess.run(
        [sys.executable, "-m", "realcam", "download", *map(str, args)],
        env=online_env(hub_url, hf_home, **(extra_env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def json_events(text) -> list:
    """The JSON lines of a command's output (what `--json` prints: one event a line)."""
    import json

    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def save_rgb(path, w=64, h=48, seed=0, **kw):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, **kw)
    return str(path)


def axis_angle(axis, angle) -> np.ndarray:
    """The 3x3 rotation by angle (radians) about axis (Rodrigues' formula)."""
    a = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def read_npz(path) -> dict:
    """Every array of an .npz file, read into memory (the file is closed again)."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@contextlib.contextmanager
def default_dtype(dtype):
    """torch's default dtype set to dtype inside the block (models built there take it), put back after."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


class JobPlan:
    """The plan fields adapters read for their call arguments (a small job by default); keywords override them."""

    def __init__(self, **kw):
        self.height, self.width, self.model_frames = 64, 64, 5
        self.steps, self.guidance, self.prompt, self.negative_prompt = 2, 1.0, "a room", ""
        self.camera_condition, self.fps, self.seed = True, 24.0, 0
        self.__dict__.update(kw)


def project(points, K) -> np.ndarray:
    """Pixel coordinates (continuous convention, realcam_core.camera) of OpenCV camera-frame points (..., 3)."""
    p = np.asarray(points, dtype=np.float64)
    z = p[..., 2]
    return np.stack([K.fx * p[..., 0] / z + K.cx, K.fy * p[..., 1] / z + K.cy], axis=-1)


def backproject(u, v, depth, K) -> np.ndarray:
    """OpenCV camera-frame points of pixels (u, v) at z-depth `depth` (not ray length)."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    d = np.asarray(depth, dtype=np.float64)
    return np.stack([(u - K.cx) / K.fx * d, (v - K.cy) / K.fy * d, d * np.ones_like(u)], axis=-1)


def project_blender(points, K) -> np.ndarray:
    """(N, 2) pixel positions of points (N, 3) in Blender axes with the photo's camera at the origin (looking +Y)."""
    p = np.asarray(points, np.float64)
    d = p[:, 1]
    return np.stack([K.cx + K.fx * p[:, 0] / d, K.cy - K.fy * p[:, 2] / d], axis=1)


def make_bundle(folder, n=5, w=64, h=48, depth=True, model="tiny", seed=0):
    """A valid job bundle: a dolly forward with RGBA previews (a hole grows at the right)."""
    from realcam_core.bundle import Frame, JobBundle, Settings, preview_name
    from realcam_core.camera import Intrinsics

    os.makedirs(os.path.join(folder, "preview"), exist_ok=True)
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(ref).save(os.path.join(folder, "reference.png"))
    K = Intrinsics.default_for(w, h)
    frames = []
    for i in range(n):
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[..., :3] = ref
        rgba[..., 3] = 255
        rgba[:, w - i * 2 :, 3] = 0 if i else 255
        Image.fromarray(rgba).save(os.path.join(folder, preview_name(i)))
        c2w = np.eye(4)
        c2w[2, 3] = 0.1 * i
        frames.append(Frame(1001 + i, preview_name(i), K, c2w))
    if depth:
        np.save(os.path.join(folder, "depth.npy"), np.full((h, w), 3.0, np.float32))
    bundle = JobBundle(
        w, h, frames, Settings(model=model, prompt="a room", seed=seed, fps=24.0), depth="depth.npy" if depth else None
    )
    bundle.write_manifest(folder)
    return bundle


def edit_manifest(folder, fn):
    """Change a bundle's manifest in place: fn(the manifest as a dict) edits it."""
    import json

    path = os.path.join(folder, "manifest.json")
    with open(path) as fh:
        data = json.load(fh)
    fn(data)
    with open(path, "w") as fh:
        json.dump(data, fh)


def set_settings(folder, **kw):
    """Edit a bundle's settings in place; sns_enabled and threshold go to settings.sns, dolly=d moves frame i's
    camera d * i along its z axis."""

    def edit(data):
        for k, v in kw.items():
            if k == "sns_enabled":
                data["settings"]["sns"]["enabled"] = v
            elif k == "threshold":
                data["settings"]["sns"]["threshold"] = v
            elif k == "dolly":
                for i, f in enumerate(data["frames"]):
                    f["c2w"][2][3] = v * i
            else:
                data["settings"][k] = v

    edit_manifest(folder, edit)


def bundle_zip(tmp, name, steps=2, n=5, seed=0, model="tiny", w=64, h=64, edit=None, files=None):
    """A job bundle archive (make_bundle with a step count), as the add-on uploads it, in tmp/name.zip.

    edit(manifest dict) changes the manifest and files(folder) the files before packing."""
    from realcam_core.bundle import pack_bundle

    folder = os.path.join(str(tmp), name)
    make_bundle(folder, n=n, w=w, h=h, model=model, seed=seed)
    set_settings(folder, steps=steps)
    if edit:
        edit_manifest(folder, edit)
    if files:
        files(folder)
    return pack_bundle(folder, os.path.join(str(tmp), name + ".zip"))


def frames_of(take):
    """The frames a take folder holds (take/frames/*.png), as one (frames, height, width, channels) array."""
    names = sorted(os.listdir(os.path.join(take, "frames")))
    return np.stack([np.asarray(Image.open(os.path.join(take, "frames", n))) for n in names])


def wait_for_job(client, job_id, states=("done", "failed", "cancelled"), timeout=120, cond=None):
    """Poll a job until it is in one of states (and cond(job) holds); the job."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.job(job_id)
        if job["state"] in states and (cond is None or cond(job)):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not {states} in {timeout} s: {client.job(job_id)}")


# The API's content types, spelt out rather than imported, so that tests read as the contract a client sees.
BUNDLE_TYPE = "application/vnd.realcam.bundle+zip"
JSON_TYPE = "application/json"


def http_call(port, method, path, body=b"", ctype=None, headers=None, timeout=60):
    """One raw HTTP request to 127.0.0.1:port, headers as given (a Host header replaces the default one);
    (status, decoded JSON or None, the response)."""
    import http.client
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    try:
        conn.putrequest(method, path, skip_host="Host" in h, skip_accept_encoding=True)
        if ctype:
            conn.putheader("Content-Type", ctype)
        if body or method in ("POST", "DELETE"):
            conn.putheader("Content-Length", str(len(body)))
        for k, v in h.items():
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


def http_post(port, path, body, ctype=BUNDLE_TYPE, **kw):
    """A raw POST (a bundle, unless ctype says otherwise); (status, decoded JSON or None)."""
    status, data, _ = http_call(port, "POST", path, body, ctype, **kw)
    return status, data


def assert_json_4xx(status, data, *codes):
    """The answer is one of the client-error codes, with a JSON body that says what was wrong."""
    assert status in codes, (status, data)
    assert isinstance(data, dict) and data["error"], data


def read_bytes(path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def files_under(folder) -> set:
    """Every file and folder below folder, as paths relative to it."""
    out = set()
    for dirpath, dirs, files in os.walk(folder):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(dirpath, n), folder))
    return out


def probe_mp4(path):
    """(frame count, fps, (width, height)) of an MP4, by decoding it with the ffmpeg that imageio-ffmpeg ships."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(path)
    meta = reader.__next__()
    count = sum(1 for _ in reader)
    return count, float(meta["fps"]), tuple(meta["size"])


def chromium_path():
    """Debian's chromium (the browser the dashboard's tests drive), or None."""
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def small_tmpfs(mnt, size: str):
    """A real small file system for full-disk tests: a tmpfs of SIZE (e.g. "1m") mounted on MNT (made here).
    Mounting needs root; where it cannot be mounted the test is skipped and says why."""
    import pytest

    mnt.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)]
    r = subprocess.run(mount, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `realcam serve` process on a free loopback port with the tiny models configured.

    cluster: a tests/ray_cluster.LocalRayCluster; the server then runs its jobs there (`--cluster ray://...`).
    env: more environment variables for the server; preexec_fn: run in the server's process before it starts
    (e.g. a lower open-file limit)."""

    def __init__(self, data, models, *extra, token=None, cluster=None, env=None, preexec_fn=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        if cluster is not None:
            extra = (*extra, "--cluster", cluster.client_address)
            env.update(cluster.client_env)
        if token:
            env["REALCAM_TOKEN"] = token
        args = [
            sys.executable,
            "-m",
            "realcam",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(data),
            "--model-dir",
            f"tiny={models['wan22-ti2v']}",
            "--model-dir",
            f"tiny-svd={models['svd']}",
            *extra,
        ]
        self.log = open(os.path.join(str(data) + ".log"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec_fn)
        from realcam_core.client import BackendError, Client

        self.client = Client(self.url, token=token, timeout=60)
        # Joining a cluster through ray:// forks a process on the head per client: on a loaded machine that
        # alone has taken over a minute.
        deadline = time.time() + (240 if "--cluster" in extra else 60)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                raise AssertionError(f"server exited with {self.proc.returncode}")
            try:
                self.client.health()
                return
            except BackendError:
                time.sleep(0.2)
        self.stop()  # no server left behind by a test that failed to start it
        raise AssertionError("server did not start")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class PipelineSpy:
    """Watches the diffusers pipelines the engine calls, changing nothing: each call's arguments and output, the
    latents at every step-end callback before and after the engine's own callback, the scheduler's state there,
    and the timestep every denoiser forward receives.

    Install with monkeypatch (undone after the test): PipelineSpy(monkeypatch, WanImageToVideoPipeline, ...)."""

    def __init__(self, monkeypatch, *pipeline_classes):
        self.calls = []
        for cls in pipeline_classes:
            monkeypatch.setattr(cls, "__call__", self._wrap(cls.__call__))

    def _wrap(self, original):
        spy = self

        def call(pipe, *args, **kwargs):
            record = {"kwargs": dict(kwargs), "steps": [], "timesteps": [], "pipe": pipe}
            spy.calls.append(record)
            engine_cb = kwargs.get("callback_on_step_end")

            def watched(p, i, t, cb_kwargs):
                sched = p.scheduler
                last = getattr(sched, "last_sample", None)
                step = {
                    "i": i,
                    "before": cb_kwargs["latents"].clone(),
                    "step_index": sched.step_index,
                    "sigma_now": float(sched.sigmas[sched.step_index]),
                    "order": getattr(sched, "this_order", None),
                    "last_sample": None if last is None else last.clone(),
                }
                out = engine_cb(p, i, t, cb_kwargs)
                step["after"] = out.get("latents", cb_kwargs["latents"]).clone()
                record["steps"].append(step)
                return out

            if engine_cb is not None:
                kwargs["callback_on_step_end"] = watched
            denoiser = getattr(pipe, "transformer", None) or pipe.unet

            def timestep_of(module, a, kw):
                t = kw["timestep"] if "timestep" in kw else a[1]
                record["timesteps"].append(float(t.max()) if hasattr(t, "max") else float(t))

            handle = denoiser.register_forward_pre_hook(timestep_of, with_kwargs=True)
            try:
                record["output"] = original(pipe, *args, **kwargs)
            finally:
                handle.remove()
            return record["output"]

        return call
