"""Following the slot actors of `realcam serve --cluster`: the server's record of each slot, and the watcher
thread per slot that long-polls its actor, copies progress to the job store, reconciles the jobs the actor
reports (re-adopting them after a server restart, collecting a finished one's take), and notices when a slot
is lost. Part of cluster.ClusterWorker (a mixin over its state); cluster.py has the dispatching.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from realcam_core.api import CANCELLED, FAILED, QUEUED, RUNNING

from .cluster_join import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError, ray

log = logging.getLogger("realcam.service.cluster")  # the one logger of the cluster dispatcher, as before

LOST_AFTER = 30.0  # seconds a slot may stay unreachable (a network fault?) before its job runs elsewhere
POLL_WAIT = 2.0  # a status call waits this long for news
PROGRESS_GAP = 0.05  # at most ~20 progress reports a second per slot


@dataclass
class SlotRecord:
    """What the server knows of one slot actor."""

    name: str
    handle: object
    incarnation: str | None = None
    node_id: str | None = None
    node_ip: str | None = None
    pid: int | None = None
    model: str | None = None  # the model the actor holds (the name jobs use)
    device: dict | None = None  # what the actor generates on (runtime.device_info on its node)
    current: str | None = None  # the job the actor says it runs
    assigned: str | None = None  # the job the server gave it and has not had back
    reachable: bool = False
    synced: bool = False  # answered (or failed to) at least once
    unreachable_since: float | None = None
    idle_since: float = field(default_factory=time.monotonic)
    gone: bool = False  # its actor died for good: a new one takes the name
    thread: threading.Thread | None = None


class SlotFollower:
    """ClusterWorker's watchers. Uses its store, redact, _lock, _slots, _cancels, _collecting, _collector,
    _idle, _stop, _collect and _lost."""

    def _watch(self, slot: SlotRecord) -> None:
        """Follow one actor: long-poll its status, reconcile it with the store, notice when it is lost."""
        version = -1
        while not self._stop.is_set() and not slot.gone:
            try:
                report = ray.get(slot.handle.status.remote(version, POLL_WAIT), timeout=POLL_WAIT + 10)
            except Exception as e:  # RayActorError, GetTimeoutError, a lost connection to the cluster
                if self._stop.is_set():
                    return
                self._unreachable(slot, e)
                version = -1
                self._stop.wait(0.5)
                continue
            version = report["version"]
            try:
                self._reported(slot, report)
            except Exception:  # keep following the slot; the next report retries
                log.exception("slot %s: report not handled", slot.name)
                self._stop.wait(1.0)
            if report["current"]:
                self._stop.wait(PROGRESS_GAP)

    def _unreachable(self, slot: SlotRecord, e: Exception) -> None:
        now = time.monotonic()
        died = isinstance(e, ActorDiedError)  # for good (with max_restarts=-1: killed or its creator gone)
        restarting = isinstance(e, ActorUnavailableError) and "restarting" in str(e)
        node_dead = False
        if slot.node_id and isinstance(e, (RayActorError, GetTimeoutError)):
            try:
                node_dead = any(n["NodeID"] == slot.node_id and not n["Alive"] for n in ray.nodes())
            except Exception:
                pass
        with self._lock:
            if slot.reachable or slot.unreachable_since is None:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                log.warning("slot %s unreachable: %s", slot.name, first[:200])
            slot.reachable = False
            slot.synced = True
            slot.unreachable_since = slot.unreachable_since or now
            # Its process is gone (restarting, died, node dead): so is the job it ran; do not wait for the
            # actor, which may stay restarting until some node has a free slot. Anything else may be a
            # passing network fault: give it LOST_AFTER.
            gone_for_sure = died or restarting or node_dead
            job = slot.assigned
            if job and (gone_for_sure or now - slot.unreachable_since > LOST_AFTER):
                slot.assigned = None
                why = "its node died" if node_dead else "its worker process died" if gone_for_sure else "unreachable"
                self._lost(job, f"the slot running it ({slot.name} on {slot.node_ip}) was lost: {why}")
            if died:
                slot.gone = True  # _refresh_slots makes a new actor under this name

    def _reported(self, slot: SlotRecord, report: dict) -> None:
        with self._lock:
            if slot.unreachable_since is not None:
                log.info("slot %s answers again from %s", slot.name, report["node_ip"])
            if slot.incarnation and slot.incarnation != report["incarnation"] and slot.assigned:
                if slot.assigned not in report["jobs"]:  # a new process: the job died with the old one
                    self._lost(
                        slot.assigned,
                        f"the slot running it ({slot.name}) was lost: "
                        f"its worker process restarted on {report['node_ip']}",
                    )
                    slot.assigned = None
            slot.incarnation = report["incarnation"]
            slot.node_id, slot.node_ip, slot.pid = report["node_id"], report["node_ip"], report["pid"]
            slot.model, slot.current = report["model"], report["current"]
            slot.device = report.get("device")
            slot.reachable, slot.synced, slot.unreachable_since = True, True, None
        for job_id, rec in report["jobs"].items():
            self._reconcile(slot, job_id, rec)
        with self._lock:
            if slot.current is None and slot.assigned is None:
                self._idle.set()

    def _reconcile(self, slot: SlotRecord, job_id: str, rec: dict) -> None:
        try:
            job = self.store.get(job_id)
        except KeyError:  # deleted meanwhile
            slot.handle.forget.remote(job_id)
            return
        with self._lock:
            mine = slot.assigned == job_id
            if not mine and job_id not in self._collecting:
                worker = job.get("worker") or {}
                if (
                    job["state"] in (QUEUED, RUNNING)
                    and worker.get("slot") == slot.name
                    and job.get("attempts") == rec["attempt"]
                    and not any(s.assigned == job_id for s in self._slots.values())
                ):
                    # A restarted server: the store queued the job again, the actor still has it.
                    self.store.update(job_id, state=RUNNING, note=None)
                    slot.assigned = job_id
                    mine = True
                    log.info("job %s: re-adopted on %s", job_id, slot.name)
        if not mine:
            if job_id not in self._collecting:
                slot.handle.forget.remote(job_id)  # not wanted here (cancels it if it still runs)
            return
        if rec["state"] == "running":
            if job_id in self._cancels:
                slot.handle.cancel.remote(job_id)
            prev = job.get("progress") or {}
            if rec["progress"] != prev:
                persist = rec["progress"].get("stage") != prev.get("stage")
                try:
                    self.store.update(job_id, persist=persist, progress=rec["progress"])
                except OSError:  # progress is for display: a full disk must not stop the job for it
                    self.store.update(job_id, persist=False, progress=rec["progress"])
            return
        with self._lock:
            slot.assigned = None  # free for the next job while this one's result comes over
        if rec["state"] == "done":
            self.store.update(job_id, progress={"stage": "transfer"})
            with self._lock:
                self._collecting.add(job_id)
            self._collector.submit(self._collect, slot, job_id)
            return
        if rec["state"] == "failed":
            self.store.update(job_id, state=FAILED, finished_at=time.time(), error=self.redact(rec["error"]))
        else:
            self.store.update(job_id, state=CANCELLED, finished_at=time.time(), progress={"stage": "cancelled"})
        self._finished(slot, job_id)

    def _finished(self, slot: SlotRecord, job_id: str) -> None:
        slot.handle.forget.remote(job_id)
        with self._lock:
            self._cancels.discard(job_id)
            self._collecting.discard(job_id)
        self._idle.set()
