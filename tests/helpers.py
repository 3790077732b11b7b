"""Shared test helpers: paths, subprocess runners, fixture data, a real backend server.

Imported by test modules as `from helpers import ...` (tests/ is on sys.path);
pytest fixtures stay in conftest.py.
"""

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
    proc = subprocess.run(
        [python or sys.executable, os.path.join(BLENDER_SCRIPTS, name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def run_cli(*args, env_extra=None, timeout=300):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "realcam", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env
    )


def save_rgb(path, w=64, h=48, seed=0, **kw):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, **kw)
    return str(path)


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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `realcam serve` process on a free loopback port with the tiny models configured."""

    def __init__(self, data, models, *extra, token=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
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
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        from realcam_core.client import BackendError, Client

        self.client = Client(self.url, token=token, timeout=60)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}")
            try:
                self.client.health()
                return
            except BackendError:
                time.sleep(0.2)
        raise AssertionError("server did not start")

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
