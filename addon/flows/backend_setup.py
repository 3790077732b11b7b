"""Set up (or update), check and remove the backend's private environment; download a model into the Hugging
Face cache. Each runs a worker process (backend/setup.py) from a Background step, reads its progress lines on timer
ticks, and stops it on Cancel; Blender's main thread only draws."""

from __future__ import annotations

import os
import time

import bpy

from .. import extension
from ..backend import command_line, process, setup
from ..backend import env as be
from ..tasks import Background, Task, TaskCancelled


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
    elif not setup.is_installed():
        raise be.SetupError("the backend is not set up: click Set up backend")
    be.read_bundle(setup.extension_dir())  # a clear message now if this build carries no backend
    udir = setup.user_dir()
    if action == "setup" and process.started_here():
        task.report("stopping the running backend")
        yield Background(process.stop)  # an update replaces its files (Windows locks them)
    plan = {
        "action": action,
        "user_dir": udir,
        "extension_dir": setup.extension_dir(),
        "log": setup.log_path(),
        "torch": {"source": s.torch_source, "requirement": s.torch_requirement, "index_url": s.torch_index_url},
        "index_url": s.index_url,
    }
    plan_path = os.path.join(udir, be.LOG_DIR, f"{action}-plan.json")
    os.makedirs(os.path.dirname(plan_path), exist_ok=True)
    be.write_json(plan_path, plan)
    script = setup.WORKER_SCRIPT
    # -I: Blender's Python without the user's PYTHONPATH or site folder; the worker finds its helper itself.
    worker = setup.WorkerProcess(
        [setup.blender_python(), "-I", script, plan_path], setup.log_path(), cancel_via_stdin=True
    )
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
        code = yield from setup.watch_worker(task, worker, on_event, grace=30.0)
    except TaskCancelled:
        yield Background(setup.remove_leftovers, udir)  # the worker cleans up; this covers one that was killed
        raise
    if result.get("event") == "failed":
        raise be.SetupError(result["error"])
    if result.get("event") == "cancelled":
        raise TaskCancelled()
    if result.get("event") != "done":
        raise be.SetupError(f"the set-up worker stopped unexpectedly (exit code {code}); see {setup.log_path()}")
    status = result["status"]
    if action == "setup":
        p = extension.prefs()
        p.start_command = command_line.join_command(be.start_argv(setup.env_dir()))
        p.auto_start = True
        bpy.context.preferences.is_dirty = True  # saved with the preferences
    task.report("done", len(be.STAGES), len(be.STAGES), message=setup.summary(status))
    return status


def remove_task(task: Task):
    task.report("stopping the backend")
    if process.started_here():
        yield Background(process.stop)
    task.report("deleting the environment")
    yield Background(setup.remove_all, setup.user_dir())
    p = extension.prefs()
    if command_line.split_command(p.start_command)[:1] == be.start_argv(setup.env_dir())[:1]:
        p.start_command = setup.DEFAULT_START_COMMAND
        bpy.context.preferences.is_dirty = True
    return None


def download_task(task: Task, name: str, info_only: bool):
    """Task: ask a model's size and licence (info_only), or fetch it into the Hugging Face cache."""
    if not setup.is_installed():
        raise be.SetupError("set up the backend first: the download runs in its environment")
    _require_online("models come from the Hugging Face hub")
    argv = [be.env_python(setup.env_dir()), "-m", "realcam", "download", name, "--json"] + (
        ["--info"] if info_only else []
    )
    worker = setup.WorkerProcess(argv, setup.log_path(be.DOWNLOAD_LOG), cancel_via_stdin=False)
    task.report("asking the hub for the size and licence" if info_only else "starting the download")
    yield Background(worker.start)
    result, started = {}, time.monotonic()

    def on_event(ev):
        kind = ev.get("event")
        if kind == "plan":
            setup.STATE.plans[name] = ev
        elif kind == "progress":
            done, total = ev["done"], ev["total"]
            first = result.setdefault("first", (time.monotonic(), done))
            rate = (done - first[1]) / max(time.monotonic() - first[0], 1e-3)
            eta = (total - done) / rate if rate > 0 else None
            task.report("downloading", done, total, eta, message=f"{done / 1e9:.2f} of {total / 1e9:.2f} GB")
        elif kind in ("done", "error"):
            result.update(ev)

    code = yield from setup.watch_worker(task, worker, on_event, grace=0.0)  # stopped at once: the partial file stays
    if result.get("event") == "error":
        raise be.SetupError(result["message"])
    if code != 0 or (not info_only and result.get("event") != "done"):
        raise be.SetupError(f"the download stopped (exit code {code}); see {setup.log_path(be.DOWNLOAD_LOG)}")
    if not info_only:
        setup.mark_cached(name)
    task.report("done", message=f"{name}: {time.monotonic() - started:.0f} s")
    return setup.STATE.plans.get(name)
