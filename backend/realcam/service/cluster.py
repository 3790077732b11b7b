"""`realcam serve --cluster`: the job queue's jobs run on a Ray cluster, one loaded model per GPU slot.

Imported only when --cluster is given (Ray is the optional `cluster` extra). `ClusterWorker` stands in for
worker.Worker. The job store stays the one source of truth and this module decides what runs where; Ray
places the slot actors (slot.py), restarts them when their process or node dies, and carries bundles,
progress and results. Nothing goes through Ray's own task queue: it has no model affinity and no global
order, and its work would die with the server.

    slots      one named, detached actor per unit of the `realcam_slot` resource when the cluster has it,
               else per GPU (num_gpus=1); recounted every few seconds, so a node that joins adds slots
    dispatch   the oldest queued job goes to the best idle slot: one that holds its model, else an empty
               one, else the one idle longest (its model is swapped); submission order is kept
    progress   one thread per slot long-polls the actor and copies state, step, total and ETA to the store
    results    fetched file by file in chunks into the job folder, names, sizes and digests checked (transfer.py)
    faults     a slot whose actor restarted, died, or whose node is dead loses its job: queued again with
               the attempt count and limit of the job store; a slot unreachable for LOST_AFTER as well
    restart    the actors outlive a crashed server (their namespace is kept in the data folder); a new
               server re-adopts the jobs they still run or hold; a clean stop kills them, freeing the GPUs
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time

from realcam_core.api import CANCELLED, DONE, FAILED, QUEUED, RUNNING

from ..errors import UserError
from ..generate.job import RunOptions
from . import transfer
from .cluster_follow import POLL_WAIT, SlotFollower, SlotRecord
from .cluster_join import actor_options, connect, namespace_for, ray
from .jobstore import MAX_ATTEMPTS, JobStore
from .slot import SLOT_RESOURCE, Slot

log = logging.getLogger(__name__)

REFRESH = 5.0  # seconds between counting the cluster's slots


class _LoadedModels:
    """worker.engine.loaded_model() for /v1/health: the models the slots hold."""

    def __init__(self, worker: ClusterWorker):
        self._worker = worker

    def loaded_model(self) -> str | None:
        models = sorted({s.model for s in self._worker.slots() if s.model})
        return ",".join(models) or None


class ClusterWorker(SlotFollower):
    """worker.Worker's interface (start, stop, cancel, engine.loaded_model) over slot actors on Ray."""

    def __init__(self, store: JobStore, options: RunOptions, model_folders: dict[str, str], address: str, redact=None):
        self.store = store
        self.options = options
        self.model_folders = model_folders
        self.address = address
        self.redact = redact or (lambda text: text)  # keeps server paths out of what clients read
        self.namespace = namespace_for(os.path.dirname(store.root))
        self.engine = _LoadedModels(self)
        self._lock = threading.RLock()
        self._slots: dict[str, SlotRecord] = {}
        self._cancels: set[str] = set()
        self._collecting: set[str] = set()
        self._no_slots = False
        self._stop = threading.Event()
        self._idle = threading.Event()  # a slot may have become free
        self._collector = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="realcam-collect")
        self._thread = threading.Thread(target=self._loop, name="realcam-cluster", daemon=True)
        self._actor_class = ray.remote(Slot)
        self._connect()

    # -- the Worker interface ----------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._idle.set()
        self._thread.join(timeout)
        for s in self.slots():
            if s.thread is not None:
                s.thread.join(POLL_WAIT + 1)
        self._collector.shutdown(wait=False, cancel_futures=True)
        if not ray.is_initialized():
            return
        # A clean stop frees the GPUs, as a single-machine server does when it exits; a job that was running
        # is queued again at the next start (the job store's rule). After a crash the actors stay, and the
        # next server re-adopts what they run.
        try:
            ray.wait([s.handle.close.remote() for s in self.slots()], num_returns=len(self.slots()), timeout=5)
        except Exception:
            pass
        for s in self.slots():
            try:
                ray.kill(s.handle, no_restart=True)
            except Exception:
                pass
        ray.shutdown()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancels.add(job_id)
            slot = next((s for s in self._slots.values() if s.assigned == job_id), None)
        if slot is not None:
            slot.handle.cancel.remote(job_id)  # the slot's watcher reports how it ended

    def status(self) -> dict:
        """What /v1/health reports: alive, the jobs running, why the queue cannot move (None when it can),
        and each slot."""
        slots = self.slots()
        alive = self._thread.is_alive()
        error = None
        if not alive:
            error = "the cluster dispatcher has stopped: queued jobs will not run until the server is restarted"
        elif not ray.is_initialized():
            error = f"the Ray cluster at {self.address} is lost; joining it again"
        elif self._no_slots:
            error = f"the Ray cluster offers no slots (no GPU, no {SLOT_RESOURCE!r} resource): jobs wait"
        return {
            "alive": alive,
            "current": ",".join(sorted(s.assigned for s in slots if s.assigned)) or None,
            "error": error,
            "cluster": self.address,
            "slots": [
                {
                    "name": s.name,
                    "node": s.node_ip,
                    "device": s.device,
                    "model": s.model,
                    "job": s.assigned,
                    "answers": s.reachable,
                }
                for s in sorted(slots, key=lambda s: s.name)
            ],
        }

    def slots(self) -> list[SlotRecord]:
        with self._lock:
            return list(self._slots.values())

    # -- connection (cluster_join.py) ----------------------------------------------------------
    def _connect(self) -> None:
        connect(self.address, self.namespace)

    # -- slots (following them: cluster_follow.py) ---------------------------------------------
    def _refresh_slots(self) -> None:
        """One actor per slot the cluster offers (and every one that already exists: re-attach)."""
        resources = ray.cluster_resources()
        total = int(resources.get(SLOT_RESOURCE) or resources.get("GPU") or 0)
        names = {f"realcam-slot-{i}" for i in range(total)}
        names |= {a for a in ray.util.list_named_actors() if a.startswith("realcam-slot-")}
        config = {k: getattr(self.options, k) for k in ("device", "offload", "vae_tiling", "dtype", "window_frames")}
        config["hf_hub_offline"] = os.environ.get("HF_HUB_OFFLINE")  # `serve --offline` sets it in this process
        for name in sorted(names, key=lambda n: int(n.rsplit("-", 1)[1])):
            with self._lock:
                if name in self._slots and not self._slots[name].gone:
                    continue
            handle = self._actor_class.options(
                **actor_options(name, self.namespace, resources, self.options.device)
            ).remote(name, self.namespace, config)
            slot = SlotRecord(name, handle)
            slot.thread = threading.Thread(target=self._watch, args=(slot,), name=f"realcam-{name}", daemon=True)
            with self._lock:
                self._slots[name] = slot
            slot.thread.start()
        self._no_slots = total == 0 and not self._slots
        if self._no_slots:
            log.warning("the cluster offers no slots (no GPU, no %r resource): jobs wait", SLOT_RESOURCE)

    def _lost(self, job_id: str, why: str) -> None:
        """The job's slot is gone: queue the job again, or fail it once it has had its attempts."""
        if self._stop.is_set():
            return  # a clean stop: the job store queues it again at the next start
        try:
            job = self.store.get(job_id)
        except KeyError:
            return
        if job["state"] != RUNNING:
            return
        log.warning("job %s: %s", job_id, why)
        if job_id in self._cancels:
            self.store.update(job_id, state=CANCELLED, finished_at=time.time(), progress={"stage": "cancelled"})
            self._cancels.discard(job_id)
        elif job.get("attempts", 0) >= MAX_ATTEMPTS:
            self.store.update(
                job_id, state=FAILED, finished_at=time.time(), error=f"{why}; tried {job['attempts']} times"
            )
        else:
            self.store.update(job_id, state=QUEUED, progress={"stage": "queued"}, note=f"{why}; it runs again")
        self._idle.set()

    # -- results -------------------------------------------------------------------------------
    def _collect(self, slot: SlotRecord, job_id: str) -> None:
        try:
            job = self.store.get(job_id)
            files = ray.get(slot.handle.take_files.remote(job_id), timeout=60)
            transfer.receive(
                self.store,
                job,
                files,
                lambda name, offset: slot.handle.read.remote(job_id, name, offset, transfer.CHUNK),
                lambda ref: ray.get(ref, timeout=120),
            )
            self.store.update(job_id, state=DONE, finished_at=time.time(), progress={"stage": "done"})
        except Exception as e:  # the slot died meanwhile, a check failed, or the job was deleted
            with self._lock:
                self._collecting.discard(job_id)
            why = self.redact(f"{type(e).__name__}: {e}")
            self._lost(job_id, f"its result could not be fetched from {slot.name} ({why})")
        self._finished(slot, job_id)

    # -- dispatch ------------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            self._attach()
        except Exception:
            log.exception("could not attach to the cluster's slots; retrying")
        last_refresh = time.monotonic()
        last_error = None
        while not self._stop.is_set():
            try:
                if not ray.is_initialized():
                    self._rejoin()
                    continue
                if time.monotonic() - last_refresh > REFRESH:
                    last_refresh = time.monotonic()
                    self._refresh_slots()
                self._dispatch_next()
            except Exception as e:  # keep dispatching; the next round retries
                if str(e) != last_error:  # once per kind of failure, not every second
                    log.exception("dispatch failed")
                last_error = str(e)
                self._stop.wait(1.0)
            else:
                last_error = None

    def _rejoin(self) -> None:
        """The connection to the cluster is gone for good (Ray's client gave up reconnecting: the head died,
        or the network): what ran there is lost to this server. Queue it again and join the cluster again
        every few seconds; slots that survived are found again and re-adopt their jobs as after a restart."""
        with self._lock:
            slots = list(self._slots.values())
            self._slots.clear()
            for s in slots:
                s.gone = True
                if s.assigned:
                    self._lost(s.assigned, "the connection to the Ray cluster was lost")
                    s.assigned = None
        log.warning("lost the Ray cluster at %s; joining it again", self.address)
        try:
            ray.shutdown()
        except Exception:
            pass
        try:
            self._connect()
        except UserError as e:
            log.warning("%s", e)
            self._stop.wait(10)
            return
        self._attach()

    def _attach(self) -> None:
        """Find this server's actors (or make them) and hear from each once before dispatching anything,
        so that jobs they still run after a server restart are re-adopted, not started twice."""
        self._refresh_slots()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(s.synced for s in self.slots()):
            self._stop.wait(0.1)

    def _dispatch_next(self) -> None:
        self._idle.clear()
        if not self._idle_slots():
            self._idle.wait(0.5)
            return
        job_id = self.store.next_queued(timeout=0.5)  # the oldest queued job, at once when one is waiting
        if job_id is None or self._stop.is_set():
            return
        idle = self._idle_slots()  # again: a slot that held the job's model may have come free meanwhile
        if not idle:
            return
        job = self.store.get(job_id)
        name = job.get("model") or ""
        # Prefer a slot that holds the job's model (no load), then an empty one (nothing evicted), then the
        # one idle longest (least likely to be wanted again soon).
        idle.sort(key=lambda s: (s.model != name, s.model is not None, s.idle_since))
        self._start(idle[0], job)

    def _idle_slots(self) -> list[SlotRecord]:
        with self._lock:
            return [
                s
                for s in self._slots.values()
                if s.reachable and not s.gone and s.assigned is None and s.current is None
            ]

    def _start(self, slot: SlotRecord, job: dict) -> None:
        job_id = job["id"]
        bundle = transfer.pack(self.store.bundle_dir(job_id))
        model = job.get("model") or ""
        options = {
            "name": model,
            "model": self.model_folders.get(model, model) or None,
            "allow_local_models": model in self.model_folders,
        }
        with self._lock:
            slot.assigned = job_id
            slot.current = job_id
        started = None
        try:
            started = self.store.start(job_id)  # None: cancelled or deleted since it was picked
        finally:
            if started is None:  # the slot must not stay taken by a job that never went there
                with self._lock:
                    slot.assigned = slot.current = None
        if started is None:
            return
        attempt = started["attempts"]
        where = {"slot": slot.name, "node": slot.node_ip, "pid": slot.pid}
        try:
            self.store.update(job_id, note=None, worker=where)
        except OSError:  # shown all the same; after a restart the job then runs again instead of being re-adopted
            self.store.update(job_id, persist=False, note=None, worker=where)
        try:
            ok = ray.get(slot.handle.start.remote(job_id, ray.put(bundle), options, attempt), timeout=120)
        except Exception as e:
            log.warning("job %s: could not start on %s: %s", job_id, slot.name, e)
            ok = False
        if not ok:  # it never started: not an attempt
            with self._lock:
                if slot.assigned == job_id:
                    slot.assigned = None
                slot.current = None
                slot.reachable = False  # wait for its next report before offering it again
            self.store.update(job_id, state=QUEUED, attempts=attempt - 1, started_at=None, progress={"stage": "queued"})
            return
        with self._lock:
            slot.idle_since = time.monotonic()
            cancelled = job_id in self._cancels
        if cancelled:
            slot.handle.cancel.remote(job_id)
