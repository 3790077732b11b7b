"""Set up backend, Check, Update, Remove, Download model: what runs in Blender (the preferences show it, ui/).

The work runs in worker processes, never in Blender's own Python: setup_worker.py under Blender's Python
(it makes the private environment in the extension's user folder), `realcam download` under the environment's
Python. Task generators (tasks.py) start them in Background steps, read their progress lines on timer ticks, and
cancel them; Blender's main thread only draws.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time

import bpy

from .. import extension
from ..tasks import Background, Sleep, Task, TaskCancelled
from . import env as be
from . import process

SETUP_KEY = "realcam:backend"  # tasks are keyed like scenes; these belong to no scene and never block one
DOWNLOAD_KEY = "realcam:download"
DEFAULT_START_COMMAND = "realcam serve"


def blender_python() -> str:
    """Blender's own Python executable: inside Blender, sys.executable is its bundled Python; with bpy as a module
    (the tests), the Python that imported bpy. The only place the add-on asks."""
    return sys.executable


def extension_dir() -> str:
    return extension.FOLDER


def user_dir() -> str:
    return extension.user_folder()


def env_dir() -> str:
    return os.path.join(user_dir(), be.ENV_DIR)


def log_path(name: str = be.SETUP_LOG) -> str:
    return os.path.join(user_dir(), be.LOG_DIR, name)


def is_installed() -> bool:
    return os.path.isfile(be.env_python(env_dir()))


# ----------------------------------------------------------------- worker processes


class WorkerProcess:
    """A worker that prints one JSON object per line. Its stderr and any other line go to the log."""

    def __init__(self, argv: list[str], log: str, cancel_via_stdin: bool):
        self.argv, self.log, self.cancel_via_stdin = argv, log, cancel_via_stdin
        self.proc: subprocess.Popen | None = None
        self.events: queue.Queue = queue.Queue()
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        os.makedirs(os.path.dirname(self.log), exist_ok=True)
        with open(self.log, "a", encoding="utf-8") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if self.cancel_via_stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=be.clean_env(),
                **be.spawn_kw(),
            )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                with open(self.log, "a", encoding="utf-8") as log:
                    log.write(line)

    def drain(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    @property
    def finished(self) -> bool:
        return self.proc is not None and not self._reader.is_alive() and self.proc.poll() is not None

    def cancel(self, grace: float = 30.0) -> None:
        """Ask the worker to stop and clean up; stop it and what it started if it does not within grace."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.cancel_via_stdin:
            try:
                self.proc.stdin.write("cancel\n")
                self.proc.stdin.close()
                self.proc.wait(grace)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        be.kill_tree(self.proc)


def _watch(task: Task, worker: WorkerProcess, on_event, grace: float):
    """Task step: feed the worker's events to on_event until it ends; Cancel stops it (raising TaskCancelled)."""
    try:
        while True:
            done = worker.finished  # read before draining: nothing can arrive after
            for ev in worker.drain():
                on_event(ev)
            if done:
                return worker.proc.returncode
            yield Sleep(0.15)
    except TaskCancelled:
        task.report("cancelling")
        yield Background(worker.cancel, grace)
        raise


# ----------------------------------------------------------------- status shown in the preferences


class _State:
    def __init__(self):
        self.task: Task | None = None  # the last set-up, check or removal
        self.download: Task | None = None
        self.download_name = ""
        self.plans: dict[str, dict] = {}  # model name -> size and licence, asked before downloading
        self._status_cache = (None, None)  # (mtime, status)

    def status(self) -> dict | None:
        """The last check's result (the file the worker writes), re-read only when it changed."""
        path = os.path.join(user_dir(), be.STATUS_FILE)
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return None
        if self._status_cache[0] != mtime:
            self._status_cache = (mtime, be.read_json(path))
        return self._status_cache[1]


STATE = _State()


def needs_update() -> str | None:
    """Why the installed backend is not the one this add-on carries, or None."""
    record = be.read_json(os.path.join(env_dir(), be.SETUP_RECORD))
    if record is None:
        return None
    try:
        bundle = be.read_bundle(extension_dir())
    except be.SetupError:
        return None
    if record.get("version") != bundle["version"]:
        return f"installed backend {record.get('version')}, add-on {bundle['version']}: click Update"
    if record.get("wheel_sha256") != bundle["wheel_sha256"]:
        return f"this add-on carries another build of backend {bundle['version']}: click Update"
    return None


# ----------------------------------------------------------------- tasks


def _require_online(what: str) -> None:
    if not bpy.app.online_access:
        raise be.SetupError(
            f"Blender's online access is off: allow it in Preferences > System > Network ({what} from the internet)"
        )


def setup_task(task: Task, action: str):
    """Task: set up (or update) the environment, or check the installed one."""
    s = extension.prefs().backend_setup
    if action == "setup":
        _require_online("the set-up downloads Python packages")
    elif not is_installed():
        raise be.SetupError("the backend is not set up: click Set up backend")
    be.read_bundle(extension_dir())  # a clear message now if this build carries no backend
    udir = user_dir()
    if action == "setup" and process.started_here():
        task.report("stopping the running backend")
        yield Background(process.stop)  # an update replaces its files (Windows locks them)
    plan = {
        "action": action,
        "user_dir": udir,
        "extension_dir": extension_dir(),
        "log": log_path(),
        "torch": {"source": s.torch_source, "requirement": s.torch_requirement, "index_url": s.torch_index_url},
        "index_url": s.index_url,
    }
    plan_path = os.path.join(udir, be.LOG_DIR, f"{action}-plan.json")
    os.makedirs(os.path.dirname(plan_path), exist_ok=True)
    be.write_json(plan_path, plan)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "setup_worker.py")
    # -I: Blender's Python without the user's PYTHONPATH or site folder; the worker finds its helper itself.
    worker = WorkerProcess([blender_python(), "-I", script, plan_path], log_path(), cancel_via_stdin=True)
    task.report("starting", 0, len(be.STAGES))
    yield Background(worker.start)
    result = {}

    def on_event(ev):
        kind = ev.get("event")
        if kind == "stage":
            task.report(ev["stage"], ev["index"], ev["total"], message=ev.get("message", ""))
        elif kind == "message":
            task.report(task.stage, task.step, task.total, message=ev.get("message", ""))
        elif kind in ("done", "failed", "cancelled"):
            result.update(ev)

    try:
        code = yield from _watch(task, worker, on_event, grace=30.0)
    except TaskCancelled:
        yield Background(_remove_leftovers, udir)  # the worker cleans up; this covers one that was killed
        raise
    if result.get("event") == "failed":
        raise be.SetupError(result["error"])
    if result.get("event") == "cancelled":
        raise TaskCancelled()
    if result.get("event") != "done":
        raise be.SetupError(f"the set-up worker stopped unexpectedly (exit code {code}); see {log_path()}")
    status = result["status"]
    if action == "setup":
        p = extension.prefs()
        p.start_command = be.join_command(be.start_argv(env_dir()))
        p.auto_start = True
        bpy.context.preferences.is_dirty = True  # saved with the preferences
    task.report("done", len(be.STAGES), len(be.STAGES), message=summary(status))
    return status


def _remove_leftovers(udir: str) -> None:
    for path in be.leftovers(udir):
        be.remove_tree(path)


def _remove_all(udir: str) -> None:
    _remove_leftovers(udir)
    env = os.path.join(udir, be.ENV_DIR)
    if os.path.exists(env) and not be.remove_tree(env):
        raise be.SetupError(f"could not delete {env} completely: close programs that use it and Remove again")
    try:
        os.remove(os.path.join(udir, be.STATUS_FILE))
    except OSError:
        pass


def remove_task(task: Task):
    task.report("stopping the backend")
    if process.started_here():
        yield Background(process.stop)
    task.report("deleting the environment")
    yield Background(_remove_all, user_dir())
    p = extension.prefs()
    if be.split_command(p.start_command)[:1] == be.start_argv(env_dir())[:1]:
        p.start_command = DEFAULT_START_COMMAND
        bpy.context.preferences.is_dirty = True
    return None


def download_task(task: Task, name: str, info_only: bool):
    """Task: ask a model's size and licence (info_only), or fetch it into the Hugging Face cache."""
    if not is_installed():
        raise be.SetupError("set up the backend first: the download runs in its environment")
    _require_online("models come from the Hugging Face hub")
    argv = [be.env_python(env_dir()), "-m", "realcam", "download", name, "--json"] + (["--info"] if info_only else [])
    worker = WorkerProcess(argv, log_path(be.DOWNLOAD_LOG), cancel_via_stdin=False)
    task.report("asking the hub for the size and licence" if info_only else "starting the download")
    yield Background(worker.start)
    result, started = {}, time.monotonic()

    def on_event(ev):
        kind = ev.get("event")
        if kind == "plan":
            STATE.plans[name] = ev
        elif kind == "progress":
            done, total = ev["done"], ev["total"]
            first = result.setdefault("first", (time.monotonic(), done))
            rate = (done - first[1]) / max(time.monotonic() - first[0], 1e-3)
            eta = (total - done) / rate if rate > 0 else None
            task.report("downloading", done, total, eta, message=f"{done / 1e9:.2f} of {total / 1e9:.2f} GB")
        elif kind in ("done", "error"):
            result.update(ev)

    code = yield from _watch(task, worker, on_event, grace=0.0)  # stopped at once: the partial file stays
    if result.get("event") == "error":
        raise be.SetupError(result["message"])
    if code != 0 or (not info_only and result.get("event") != "done"):
        raise be.SetupError(f"the download stopped (exit code {code}); see {log_path(be.DOWNLOAD_LOG)}")
    if not info_only:
        _mark_cached(name)
    task.report("done", message=f"{name}: {time.monotonic() - started:.0f} s")
    return STATE.plans.get(name)


def _mark_cached(name: str) -> None:
    status = STATE.status()
    if not status:
        return
    for m in status.get("models", []):
        if name in (m.get("name"), m.get("id")):
            m["cached"] = True
    be.write_json(os.path.join(user_dir(), be.STATUS_FILE), status)


# ----------------------------------------------------------------- what the preferences say of it


def summary(status: dict | None) -> str:
    if not status:
        return "not checked yet"
    if not status.get("ok"):
        return f"does not run: {status.get('error')}"
    dev = status.get("device") or {}
    if dev.get("device") == "cuda":
        where = f"{dev.get('name')}, {dev.get('memory_gb')} GB"
    elif dev.get("device") == "mps":
        where = "Apple GPU (MPS)"
    else:
        where = "CPU only"
    return f"backend {status.get('version')}, torch {dev.get('torch')}, {where}"
