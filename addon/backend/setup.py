"""The backend's set-up as the add-on runs it: where its environment is, the worker processes that build, check and
download, what the last check found, whether an update is due.

The work runs in worker processes, never in Blender's own Python: setup_worker.py under Blender's Python (it makes
the private environment in the extension's user folder), `realcam download` under the environment's Python. The tasks
that start, watch and cancel them are flows/backend_setup.py; the preferences draw what is here (ui/preferences.py).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

from .. import extension
from ..tasks import Background, Sleep, Task, TaskCancelled
from . import env as be
from . import process_tree

SETUP_KEY = "realcam:backend"  # tasks are keyed like scenes; these belong to no scene and never block one
DOWNLOAD_KEY = "realcam:download"
DEFAULT_START_COMMAND = "realcam serve"
# Run by Blender's own Python, alone: it imports env.py and the modules beside it as a private package.
WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "setup_worker.py")


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
                env=process_tree.clean_env(),
                **process_tree.spawn_kw(),
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
        process_tree.kill_tree(self.proc)


def watch_worker(task: Task, worker: WorkerProcess, on_event, grace: float):
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


# ----------------------------------------------------------------- what the tasks leave and find


def remove_leftovers(udir: str) -> None:
    for path in be.leftovers(udir):
        be.remove_tree(path)


def remove_all(udir: str) -> None:
    remove_leftovers(udir)
    env = os.path.join(udir, be.ENV_DIR)
    if os.path.exists(env) and not be.remove_tree(env):
        raise be.SetupError(f"could not delete {env} completely: close programs that use it and Remove again")
    try:
        os.remove(os.path.join(udir, be.STATUS_FILE))
    except OSError:
        pass


def mark_cached(name: str) -> None:
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
