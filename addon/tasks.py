"""Long operations without freezing Blender.

A task is a generator run on the main thread in short slices. It yields:
    None             give the UI a turn, continue on the next tick
    Background(fn)   run fn in a worker thread; the generator resumes with its
                     result (or its exception raised at the yield)
    Sleep(seconds)   resume after a while (polling)
    WaitFor(check)   resume once check() is true (e.g. a render finished)

Blender's timer calls `pump()` about ten times a second (right after Blender's
own turn while a task has work it can do at once); each call stops after
TICK_BUDGET seconds of main-thread work, so a tick stays short. Network
calls, file packing and waiting only ever happen in Background. Headless
(bpy.app.background, no event loop) an operator runs its task to completion
with `run_until_done`, through the same code path. Blender as a Python module
never fires timers (and a registered one keeps the process from exiting), so
there the timer is not registered; a script that sets `RUNNER.blocking =
False` gets the interactive behaviour and calls `timer()` itself, as
Blender's event loop would.

A task is keyed by the shot it works on (its id), one at a time per shot. A
task that changed Blender data pushes one undo step when it ends
(`undo_push`), because its operator returned long before. Cancelling a task
raises TaskCancelled at its current yield, so it can clean up (cancel the
backend job) before it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import wait as futures_wait

import bpy

from .realcam_core.addon_only import advice

log = logging.getLogger(__name__)

TICK_BUDGET = 0.012  # seconds of main-thread work per timer tick
TICK_INTERVAL = 0.1
SOON = 0.01  # a task can go on at once (it gave the UI a turn): the next tick after Blender's, not 0.1 s later


class TaskCancelled(Exception):
    pass


class Background:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args


class Sleep:
    def __init__(self, seconds: float):
        self.seconds = seconds


class WaitFor:
    def __init__(self, check, poll: float = 0.1):
        self.check, self.poll = check, poll


class Task:
    def __init__(self, name: str, gen, shot_id: str = ""):
        self.name = name
        self.shot_id = shot_id
        self.gen = gen
        self.stage = "starting"
        self.step = 0
        self.total = 0
        self.eta_s = None
        self.message = ""
        self.stages = ()  # the stages the panel counts ("Stage k of n"), realcam_core.addon_only.progress.plan
        self.error = None  # the reason, once it failed
        self.done = False
        self.cancel_requested = False
        self.result = None
        self._waiting = None  # (kind, payload)
        self._thread_result = None
        self._send = None
        self._throw = None

    # progress, set by the task's own code
    def report(self, stage: str, step: int = 0, total: int = 0, eta_s=None, message: str = ""):
        self.stage, self.step, self.total, self.eta_s, self.message = stage, step, total, eta_s, message
        _tag_redraw()

    @property
    def fraction(self) -> float:
        return (self.step / self.total) if self.total else 0.0

    def cancel(self):
        self.cancel_requested = True

    def _ready(self) -> bool:
        if self._waiting is None:
            return True
        kind, payload = self._waiting
        if kind == "thread":
            return not payload.is_alive()
        if kind == "sleep":
            return time.monotonic() >= payload
        if kind == "wait":
            try:
                return bool(payload())
            except Exception as e:  # a broken check must end the task, not the timer
                self._throw = e
                return True
        return True

    def _advance(self) -> None:
        """Run the generator up to its next yield."""
        if self._waiting and self._waiting[0] == "thread":
            box = self._thread_result
            if "error" in box:
                self._throw = box["error"]
            else:
                self._send = box.get("value")
        self._waiting = None
        try:
            if self.cancel_requested and not isinstance(self._throw, TaskCancelled):
                self.cancel_requested = False
                self._throw = TaskCancelled()
            if self._throw is not None:
                exc, self._throw = self._throw, None
                item = self.gen.throw(exc)
            else:
                value, self._send = self._send, None
                item = self.gen.send(value)
        except StopIteration as stop:
            self.done, self.result = True, stop.value
            if self.stage != "done":
                self.message = ""  # a detail of the last stage, not of how the task ended
            self.stage = "done" if self.error is None else self.stage
            return
        except TaskCancelled:
            self.done, self.stage, self.error = True, "cancelled", None
            return
        except Exception as e:
            self.done, self.stage = True, "failed"
            self.error = advice.explain(e)  # the problem and what to do next, as the panel shows it
            log.error("%s failed", self.name, exc_info=True)
            return
        if isinstance(item, Background):
            box = {}

            def run(fn=item.fn, args=item.args, box=box):
                try:
                    box["value"] = fn(*args)
                except BaseException as e:  # handed back to the generator
                    box["error"] = e

            self._thread_result = box
            t = threading.Thread(target=run, name=f"realcam-{self.name}", daemon=True)
            t.start()
            self._waiting = ("thread", t)
        elif isinstance(item, Sleep):
            self._waiting = ("sleep", time.monotonic() + item.seconds)
        elif isinstance(item, WaitFor):
            self._waiting = ("wait", item.check)


class Runner:
    def __init__(self):
        self.tasks: list[Task] = []
        self.tick_times: list[float] = []  # main-thread seconds per pump, for the benchmark
        self.blocking = bpy.app.background  # operators run their task to the end (no event loop to pump it)

    def start(self, task: Task) -> Task:
        self.tasks.append(task)
        if not bpy.app.background and not bpy.app.timers.is_registered(timer):
            bpy.app.timers.register(timer, first_interval=0.0, persistent=True)
        return task

    def active(self, shot_id: str | None = None) -> list[Task]:
        return [t for t in self.tasks if not t.done and (shot_id is None or t.shot_id == shot_id)]

    def last(self, shot_id: str):
        mine = [t for t in self.tasks if t.shot_id == shot_id]
        return mine[-1] if mine else None

    def detach_all(self, reason: str) -> None:
        """Stop following every task without cancelling what runs elsewhere (another file is being opened:
        a backend job goes on, and the .blend that recorded it picks it up again when opened)."""
        for t in self.tasks:
            if not t.done:
                t.gen.close()
                t.done, t.stage, t.error = True, "stopped", reason
        self.tasks.clear()

    def pump(self, budget: float = TICK_BUDGET) -> None:
        start = time.perf_counter()
        for task in list(self.tasks):
            while not task.done and (task._ready() or task.cancel_requested):
                if task.cancel_requested and task._waiting and task._waiting[0] == "thread" and not task._ready():
                    break  # a thread cannot be interrupted; cancel lands when it returns
                task._advance()
                if time.perf_counter() - start > budget:
                    break
            if time.perf_counter() - start > budget:
                break
        # Keep finished tasks a while so the panel can show how they ended.
        self.tasks = [t for t in self.tasks if not t.done or t is self.last(t.shot_id)]
        self.tick_times.append(time.perf_counter() - start)
        del self.tick_times[:-10000]

    def run_until_done(self, task: Task, timeout: float = 3600.0) -> Task:
        """Headless: drive a task to its end through the same pump the timer uses."""
        deadline = time.monotonic() + timeout
        while not task.done:
            self.pump()
            if time.monotonic() > deadline:
                task.cancel()
            time.sleep(0.005)
        return task


RUNNER = Runner()


def run_now(gen):
    """Drive a task's steps to their end on the spot, for work that must finish before its caller returns (a
    property's update, a scene fix, a script): the slices run back to back, Background in its worker thread
    (still waited for), WaitFor and Sleep by waiting. Returns the generator's value."""
    value, error = None, None
    while True:
        try:
            item = gen.throw(error) if error is not None else gen.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        if isinstance(item, Background):
            box = {}
            worker = threading.Thread(target=_run_into, args=(box, item.fn, item.args), name="realcam-now", daemon=True)
            worker.start()
            worker.join()
            value, error = box.get("value"), box.get("error")
        elif isinstance(item, Sleep):
            time.sleep(item.seconds)
        elif isinstance(item, WaitFor):
            future = getattr(item.check, "__self__", None)  # WaitFor(future.done): block on it instead of polling
            if isinstance(future, Future):
                futures_wait([future])
            while not item.check():
                time.sleep(0.001)


def _run_into(box: dict, fn, args) -> None:
    try:
        box["value"] = fn(*args)
    except BaseException as e:  # handed back to the generator
        box["error"] = e


def start(name: str, key: str, make_gen) -> Task:
    """A new task on the runner, keyed by its shot's id (or another key); make_gen(task) makes its generator."""
    task = Task(name, None, key)
    task.gen = make_gen(task)
    return RUNNER.start(task)


def timer():
    """Blender's timer callback: one pump; the seconds until the next (SOON while a task can go on at once, so
    work cut into slices does not take a tick interval per slice)."""
    RUNNER.pump()
    active = RUNNER.active()
    if not active:
        return 1.0
    return SOON if any(t._ready() for t in active) else TICK_INTERVAL


def a_window():
    """The context's window, or the first one: timers run without a window in the context, and
    operators such as ed.undo_push and an interactive render need one (their poll fails otherwise)."""
    wm = bpy.context.window_manager
    return bpy.context.window or (wm.windows[0] if wm is not None and len(wm.windows) else None)


def undo_push(message: str) -> None:
    """One undo step for what a task changed after its operator returned (Ctrl+Z then undoes exactly that)."""
    window = a_window()
    if window is None:
        return  # no window, no undo stack (Blender started headless on a file without a window)
    try:
        with bpy.context.temp_override(window=window):
            bpy.ops.ed.undo_push(message=message)
    except RuntimeError:
        log.warning("could not push the undo step %r", message, exc_info=True)


def _tag_redraw():
    wm = getattr(bpy.context, "window_manager", None)
    if wm is None:
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "SEQUENCE_EDITOR", "STATUSBAR"):
                area.tag_redraw()


def unregister():
    if bpy.app.timers.is_registered(timer):
        bpy.app.timers.unregister(timer)
    for t in RUNNER.tasks:
        t.cancel()
