"""The worker: one thread per device runs queued jobs in submission order.

The engine keeps the model loaded between jobs with the same model and swaps
it when the next job needs another. Progress is kept in memory for polling
and written to disk at each change of stage.

Nothing one job does ends the thread: a job deleted as it is picked up is
skipped, and a job state that cannot be written because the disk is full is
tried again until it can (the queue waits, and /v1/health says why) rather
than lost. A job whose take does not fit on the disk goes back to the queue
(the try does not count), and the queue waits until a test write fits again:
a full disk fails no job. `status()` is what health reports.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback

from realcam_core.api import CANCELLED, FAILED, PROGRESS_FIELDS, QUEUED, TRACK

from ..generate.engine import Engine
from ..generate.job import RunOptions
from .jobstore import DISK_FULL, JobStore
from .outcome import run_job

log = logging.getLogger(__name__)

RETRY_S = (0.5, 1, 2, 5, 10)  # waits between tries to save a state on a full disk; the last repeats
SPACE_WAITS = (1, 2, 5, 10, 30, 60)  # waits between checks for free space after a take did not fit; the last repeats


class Worker:
    def __init__(self, store: JobStore, options: RunOptions, model_folders: dict[str, str], redact=None):
        self.store = store
        self.options = options
        self.model_folders = model_folders  # server-configured names -> local folders
        self.redact = redact or (lambda text: text)  # keeps server paths out of what clients read
        self.engine = Engine()
        self._cancels: dict[str, threading.Event] = {}
        self._cancelled_by_user: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="realcam-worker", daemon=True)
        self.current: str | None = None
        self.error: str | None = None  # why the queue cannot move now (a full disk); None when well
        self._space_waits = 0  # takes in a row that did not fit on the disk: each waits longer

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for ev in list(self._cancels.values()):
            ev.set()
        self._thread.join(timeout)

    def cancel(self, job_id: str) -> None:
        # Remembered even before the job's cancel event exists: it may have just been started.
        self._cancelled_by_user.add(job_id)
        ev = self._cancels.get(job_id)
        if ev is not None:
            ev.set()

    def status(self) -> dict:
        alive = self._thread.is_alive()
        error = self.error
        if not alive:
            error = "the worker has stopped: queued jobs will not run until the server is restarted"
        return {"alive": alive, "current": self.current, "error": error}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = self.store.next_queued(timeout=0.5)
                if job_id is not None:
                    self._run(job_id)
            except Exception:  # a fault of ours must not stop the queue for good
                log.error("worker: %s", traceback.format_exc())
                self._stop.wait(1.0)

    def _save(self, job_id: str, change, *args, **fields):
        """change(*args, **fields) on the store, waiting out a full disk. None when the job is gone."""
        waits = iter(RETRY_S)
        while True:
            try:
                out = change(*args, **fields)
                self.error = None
                return out
            except KeyError:
                return None  # deleted meanwhile
            except OSError as e:
                if e.errno not in DISK_FULL or self._stop.is_set():
                    raise
                self.error = f"cannot save the state of job {job_id}: {e.strerror}; waiting for free disk space"
                log.warning(self.error)
                self._stop.wait(next(waits, RETRY_S[-1]))

    def _run(self, job_id: str) -> None:
        self._cancelled_by_user.discard(job_id)  # a cancel from an earlier run of it
        try:
            job = self._save(job_id, self.store.start, job_id)
        except OSError as e:  # its folder cannot be written (not a full disk): fail it here so the queue moves
            log.error("job %s cannot start: %s", job_id, e)
            self.store.mark_unsaved(job_id, state=FAILED, finished_at=time.time(), error=self._unsaved(e))
            return
        if job is None:
            return  # deleted or cancelled between the pick and the start
        cancel = threading.Event()
        self._cancels[job_id] = cancel
        if job_id in self._cancelled_by_user:  # cancelled (or deleted) as it started
            cancel.set()
        self.current = job_id
        try:
            final = self._execute(job_id, job, cancel)
        finally:
            self._cancels.pop(job_id, None)
            self._cancelled_by_user.discard(job_id)
        if final is None:
            # The server is shutting down, not the user cancelling: the job stays "running" on disk, so
            # the next start runs it again (JobStore recovery) and the client picks the take up.
            self.current = None
            return
        if final.pop("disk_full", False):
            if self._stop.is_set():  # shutting down: left running on disk, the next start runs it again
                self.current = None
                return
            if not cancel.is_set():
                self.current = None
                self._requeue_for_space(job, final["error"])
                return
            final.update(state=CANCELLED, progress={"stage": "cancelled"}, error=None)  # it was stopped anyway
        self._space_waits = 0
        try:
            self._save(job_id, self.store.update, job_id, **final)
        except OSError as e:
            log.error("job %s: its end state cannot be saved: %s", job_id, e)
            final["error"] = (final.get("error") or "") + ("; " if final.get("error") else "") + self._unsaved(e)
            self.store.mark_unsaved(job_id, **final)
        finally:
            self.current = None

    def _requeue_for_space(self, job: dict, why: str) -> None:
        """The take did not fit: the job goes back to the queue as it was, and the queue waits for space."""
        job_id = job["id"]
        back = {"state": QUEUED, "attempts": max(0, job["attempts"] - 1), "started_at": None}
        back["progress"] = {"stage": "queued"}
        log.warning("job %s: %s; queued again, the queue waits for free disk space", job_id, why)
        try:
            self.store.update(job_id, **back)
        except KeyError:
            pass  # deleted meanwhile
        except OSError:  # what a restart would make of it too: a running job is queued again
            self.store.mark_unsaved(job_id, **back)
        self.error = (
            f"the disk is full: job {job_id} could not write its take ({why}); it is queued again and the queue "
            "waits until there is free space in the data folder"
        )
        waits = iter(SPACE_WAITS[min(self._space_waits, len(SPACE_WAITS) - 1) :])
        self._space_waits += 1
        while not self._stop.wait(next(waits, SPACE_WAITS[-1])):
            if self.store.has_room():
                log.info("there is free disk space again: the queue goes on")
                self.error = None
                return

    def _unsaved(self, e: OSError) -> str:
        return self.redact(f"its state could not be saved ({e.strerror}); after a restart it runs again")

    def _execute(self, job_id: str, job: dict, cancel: threading.Event) -> dict | None:
        """Run the job; the fields of its end state (None: stopped by a server shutdown, to run again)."""
        last_stage = [None]

        def on_event(e):
            progress = {k: e.get(k) for k in PROGRESS_FIELDS if k in e}
            persist = e["stage"] != last_stage[0]
            last_stage[0] = e["stage"]
            try:
                self.store.update(job_id, persist=persist, progress=progress)
            except OSError:  # progress is for display: a full disk must not fail the job for it
                self.store.update(job_id, persist=False, progress=progress)

        model = job.get("model")
        options = RunOptions(
            model=self.model_folders.get(model, model),
            device=self.options.device,
            offload=self.options.offload,
            vae_tiling=self.options.vae_tiling,
            dtype=self.options.dtype,
            allow_local_models=model in self.model_folders,
            window_frames=self.options.window_frames,
            # A long shot's finished windows stay in the job's folder: a restart goes on from the window it was in.
            work_dir=os.path.join(self.store.folder(job_id), "windows"),
        )

        def run() -> None:  # the take is written where the server serves it from: nothing to add
            self.engine.run(self.store.bundle_dir(job_id), self.store.take_dir(job_id), options, on_event, cancel)

        if job.get("kind") == TRACK:  # a clip's camera move: same queue, no video model (track_job.py)
            run = self._track_run(job_id, job, on_event, cancel)
        end = run_job(job_id, run, self.redact)
        if end["state"] == CANCELLED and self._stop.is_set() and job_id not in self._cancelled_by_user:
            return None
        return {**end, "finished_at": time.time()}

    def _track_run(self, job_id: str, job: dict, on_event, cancel: threading.Event):
        from .track_job import run_track

        def run() -> None:
            run_track(self.store.folder(job_id), job, on_event, cancel, self.options.device)

        return run
