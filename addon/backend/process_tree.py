"""The set-up's child processes: started in their own process group with a clean environment, stopped with
everything they started."""

from __future__ import annotations

import os
import signal
import subprocess


def clean_env(base: dict | None = None) -> dict:
    """The environment for the backend's processes: nothing from Blender's or a test's Python leaks in."""
    env = dict(os.environ if base is None else base)
    for k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__"):
        env.pop(k, None)
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn_kw() -> dict:
    """Popen options for a worker: its own process group (so stopping it stops what it started), no console
    window on Windows."""
    if os.name == "nt":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
    return {"start_new_session": True}


def kill_tree(p: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a process started with spawn_kw and everything it started."""
    if p.poll() is not None:
        return
    if os.name == "nt":
        subprocess.run(["taskkill", "/PID", str(p.pid), "/T", "/F"], capture_output=True, **spawn_kw())
    else:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            p.terminate()
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        if os.name != "nt":
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        p.kill()
        p.wait(grace)
