"""The worker: one thread per device runs queued jobs in submission order.

The engine keeps the model loaded between jobs with the same model and swaps
it when the next job needs another. Progress is kept in memory for polling
and written to disk at each change of stage.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback

from realcam_core.api import CANCELLED, DONE, FAILED, RUNNING

from ..errors import UserError
from ..generate.engine import Engine, JobCancelled, RunOptions
from .jobstore import JobStore

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, store: JobStore, options: RunOptions, model_folders: dict[str, str]):
        self.store = store
        self.options = options
        self.model_folders = model_folders  # server-configured names -> local folders
        self.engine = Engine()
        self._cancels: dict[str, threading.Event] = {}
        self._cancelled_by_user: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="realcam-worker", daemon=True)
        self.current: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for ev in list(self._cancels.values()):
            ev.set()
        self._thread.join(timeout)

    def cancel(self, job_id: str) -> None:
        ev = self._cancels.get(job_id)
        if ev is not None:
            self._cancelled_by_user.add(job_id)
            ev.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            job_id = self.store.next_queued(timeout=0.5)
            if job_id is None:
                continue
            self._run(job_id)

    def _run(self, job_id: str) -> None:
        cancel = threading.Event()
        self._cancels[job_id] = cancel
        self.current = job_id
        job = self.store.update(
            job_id,
            state=RUNNING,
            started_at=time.time(),
            attempts=self.store.get(job_id).get("attempts", 0) + 1,
            progress={"stage": "starting"},
        )
        last_stage = [None]

        def on_event(e):
            progress = {k: e.get(k) for k in ("stage", "step", "total", "eta_s") if k in e}
            persist = e["stage"] != last_stage[0]
            last_stage[0] = e["stage"]
            self.store.update(job_id, persist=persist, progress=progress)

        model = job.get("model")
        options = RunOptions(
            model=self.model_folders.get(model, model),
            device=self.options.device,
            offload=self.options.offload,
            vae_tiling=self.options.vae_tiling,
            dtype=self.options.dtype,
            allow_local_models=model in self.model_folders,
        )
        try:
            self.engine.run(self.store.bundle_dir(job_id), self.store.take_dir(job_id), options, on_event, cancel)
        except JobCancelled:
            if self._stop.is_set() and job_id not in self._cancelled_by_user:
                # The server is shutting down, not the user cancelling: the job stays "running" on disk,
                # so the next start runs it again (JobStore recovery) and the client picks the take up.
                return
            self.store.update(job_id, state=CANCELLED, finished_at=time.time(), progress={"stage": "cancelled"})
        except UserError as e:
            self.store.update(job_id, state=FAILED, finished_at=time.time(), error=str(e))
        except Exception as e:  # a model crash must not take the server down
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            self.store.update(job_id, state=FAILED, finished_at=time.time(), error=f"{type(e).__name__}: {e}")
        else:
            self.store.update(job_id, state=DONE, finished_at=time.time(), progress={"stage": "done"})
        finally:
            self._cancels.pop(job_id, None)
            self._cancelled_by_user.discard(job_id)
            self.current = None
