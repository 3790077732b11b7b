"""Jobs on disk, one folder each, so nothing is lost when the server dies.

    DATA/jobs/<id>/state.json   the job (see realcam_core.api), written atomically (jobfile.py)
    DATA/jobs/<id>/bundle/      the unpacked bundle
    DATA/jobs/<id>/take/        video.mp4, frames/, result.json (appears whole, when done)

On start, queued jobs stay queued, a job that was running is queued again to
run from the start (failed after MAX_ATTEMPTS tries), half-written outputs and
state files are removed, finished results stay where they are, and a job whose
state cannot be read is listed as "damaged", with the reason, and kept on disk
until it is deleted (jobfile.py).
A long shot's finished windows (DATA/jobs/<id>/windows/, generate/window_store.py) are
kept: run again, it goes on from the window it was in.

Every change is written to disk first and only then made in memory, so what a
client sees is what a restart would find; a write that fails (a full disk)
raises and changes nothing. A running job that is deleted is marked so on disk,
hidden from clients at once, and removed when it stops.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import threading
import time
import uuid

from realcam_core.api import CANCELLED, DAMAGED, DONE, FAILED, QUEUED, RUNNING

from ..errors import UserError
from .jobfile import STATE, read_job
from .jobfile import write_json as _write_json

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_ATTEMPTS = 3
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # what a write raises on a full disk (or quota): waited out, not a fault
ROOM_PROBE_BYTES = 1 << 20  # after a full disk, the queue goes on once a file this large can be written
DELETING = "deleting"  # a job field: deleted while it ran; removed when it stops


# What a done job of each kind has in take/ (a generation job has no kind: its video).
_OUTPUT = {"track": "move.json"}  # the report, written after the camera file beside it

_STATE_TMP = re.compile(r"^state\.json\..+\.tmp$")


def _make_folder(data_dir: str, folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        what = "is a file, not a folder" if os.path.isfile(folder) else f"cannot be made ({e.strerror})"
        raise UserError(
            f"the data folder {data_dir} cannot be used: {folder} {what}. Move that away, or start the server "
            "with --data naming another folder"
        ) from None


class Duplicate(Exception):
    """The same bundle is already queued, running or done: .job is that job."""

    def __init__(self, job: dict):
        super().__init__(job["id"])
        self.job = job


class JobStore:
    """Thread-safe access to the jobs folder; the worker and the HTTP handlers share it."""

    def __init__(self, data_dir: str):
        self.root = os.path.join(os.path.abspath(data_dir), "jobs")
        self.uploads = os.path.join(os.path.abspath(data_dir), "uploads")
        for folder in (self.root, self.uploads):
            _make_folder(data_dir, folder)
        self._lock = threading.RLock()
        self._jobs: dict[str, dict] = {}
        self._changed = threading.Condition(self._lock)
        self._recover()

    # -- paths ------------------------------------------------------------------
    def folder(self, job_id: str) -> str:
        if not JOB_ID.match(job_id):  # never let a request name a path
            raise KeyError(job_id)
        return os.path.join(self.root, job_id)

    def bundle_dir(self, job_id: str) -> str:
        return os.path.join(self.folder(job_id), "bundle")

    def take_dir(self, job_id: str) -> str:
        return os.path.join(self.folder(job_id), "take")

    # -- recovery -----------------------------------------------------------------
    def _recover(self) -> None:
        shutil.rmtree(self.uploads, ignore_errors=True)
        _make_folder(os.path.dirname(self.root), self.uploads)
        try:
            names = sorted(os.listdir(self.root))
        except OSError as e:
            raise UserError(f"the data folder's jobs folder {self.root} cannot be read: {e.strerror}") from None
        for name in names:
            folder = os.path.join(self.root, name)
            if name.startswith(".incoming-"):
                shutil.rmtree(folder, ignore_errors=True)  # a submission cut off mid-way, or a delete
                continue
            if not JOB_ID.match(name) or not os.path.isdir(folder):
                if not name.startswith("."):
                    log.warning("the jobs folder holds %r, which is not a job: left as it is", name)
                continue
            job, why = read_job(name, folder)
            if why:
                log.warning("job %s is damaged: %s; listed as damaged, its folder kept", name, why)
                self._jobs[name] = job
                continue
            if job.get(DELETING):  # deleted while it ran, and the server stopped before it did
                self._remove(name)
                continue
            self._jobs[name] = self._recovered(name, folder, job)

    def _recovered(self, name: str, folder: str, job: dict) -> dict:
        """A job as a restart finds it: leftovers removed, an interrupted run queued again (or failed)."""
        before = dict(job)
        for leftover in os.listdir(folder):
            if leftover.startswith(".realcam-job-"):
                shutil.rmtree(os.path.join(folder, leftover), ignore_errors=True)
            elif _STATE_TMP.match(leftover):  # a state write cut off (crash, full disk)
                os.unlink(os.path.join(folder, leftover))
        if job["state"] == RUNNING:
            if job.get("attempts", 0) >= MAX_ATTEMPTS:
                job.update(
                    state=FAILED,
                    finished_at=time.time(),
                    error=f"the server stopped during this job {job['attempts']} times; not retried",
                )
            else:
                job.update(
                    state=QUEUED,
                    progress={"stage": "queued"},
                    note="the server stopped while this job ran; it runs again (a long shot from the window it was in)",
                )
                shutil.rmtree(os.path.join(folder, "take"), ignore_errors=True)
        if job["state"] == DONE and not os.path.isfile(
            os.path.join(folder, "take", _OUTPUT.get(job.get("kind"), "video.mp4"))
        ):
            job.update(state=FAILED, error="its outputs are missing from the data folder")
        if job != before:
            try:
                _write_json(os.path.join(folder, STATE), job)
            except OSError as e:  # a full or read-only disk: serve it as found now; the next start decides again
                log.warning("job %s: its recovered state cannot be saved: %s", name, e)
        return job

    # -- queries ------------------------------------------------------------------
    def get(self, job_id: str) -> dict:
        """The job, also while it is being deleted (the workers finish it); lookup() is what clients see."""
        with self._lock:
            self.folder(job_id)
            if job_id not in self._jobs:
                raise KeyError(job_id)
            return self._with_position(dict(self._jobs[job_id]))

    def lookup(self, job_id: str) -> dict:
        """The job as clients see it: KeyError when there is none, or it is being deleted."""
        job = self.get(job_id)
        if job.get(DELETING):
            raise KeyError(job_id)
        return job

    def list(self) -> list[dict]:
        with self._lock:
            jobs = sorted((j for j in self._jobs.values() if not j.get(DELETING)), key=lambda j: (j["seq"], j["id"]))
            return [self._with_position(dict(j)) for j in jobs]

    def _with_position(self, job: dict) -> dict:
        if job["state"] == QUEUED:
            job["position"] = sum(1 for j in self._jobs.values() if j["state"] == QUEUED and j["seq"] < job["seq"])
        return job

    def find_by_digest(self, digest: str) -> dict | None:
        with self._lock:
            for j in self._jobs.values():
                if j.get("digest") == digest and j["state"] in (QUEUED, RUNNING, DONE) and not j.get(DELETING):
                    return self._with_position(dict(j))
        return None

    def counts(self) -> dict:
        with self._lock:
            states = [j["state"] for j in self._jobs.values()]
            return {"queued": states.count(QUEUED), "running": states.count(RUNNING), "damaged": states.count(DAMAGED)}

    # -- changes ------------------------------------------------------------------
    def new_incoming(self) -> str:
        """A private folder to unpack an upload into before it becomes a job."""
        path = os.path.join(self.root, f".incoming-{uuid.uuid4().hex}")
        os.makedirs(path)
        return path

    def add(self, incoming: str, fields: dict) -> dict:
        """Turn an unpacked incoming folder (holding bundle/) into a queued job.

        Raises Duplicate when a job with the same digest is queued, running or
        done: the check and the add are one step, so identical submissions
        arriving together make one job.
        """
        with self._lock:
            digest = fields.get("digest")
            existing = self.find_by_digest(digest) if digest else None
            if existing is not None:
                raise Duplicate(existing)
            job_id = uuid.uuid4().hex
            seq = 1 + max((j["seq"] for j in self._jobs.values()), default=0)
            job = {
                "id": job_id,
                "seq": seq,
                "state": QUEUED,
                "created_at": time.time(),
                "started_at": None,
                "finished_at": None,
                "progress": {"stage": "queued"},
                "error": None,
                "attempts": 0,
                **fields,
            }
            _write_json(os.path.join(incoming, STATE), job)
            os.replace(incoming, self.folder(job_id))
            self._jobs[job_id] = job
            self._changed.notify_all()
            return self._with_position(dict(job))

    def update(self, job_id: str, persist: bool = True, **fields) -> dict:
        """Change a job: on disk first (unless persist is False), then in memory. A job deleted while it ran
        is removed instead, once it stops running.

        KeyError when the job is gone; OSError (memory unchanged) when it cannot be written."""
        trash = None
        with self._lock:
            job = self._jobs[job_id]
            new = {**job, **fields}
            if job.get(DELETING) and new["state"] != RUNNING:
                trash = self._detach(job_id)
            else:
                if persist:
                    _write_json(os.path.join(self.folder(job_id), STATE), new)
                job.update(fields)
            self._changed.notify_all()
        if trash:
            shutil.rmtree(trash, ignore_errors=True)
            log.info("job %s: removed now that it stopped (it was deleted while it ran)", job_id)
        return new

    def start(self, job_id: str) -> dict | None:
        """Mark a queued job running; None when it is no longer queued (deleted or cancelled meanwhile)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job["state"] != QUEUED:
                return None
            return self.update(
                job_id,
                state=RUNNING,
                started_at=time.time(),
                attempts=job.get("attempts", 0) + 1,
                progress={"stage": "starting"},
                note=None,
            )

    def mark_unsaved(self, job_id: str, **fields) -> None:
        """Change a job in memory only, because its folder cannot be written; a restart finds the old state."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if job.get(DELETING) and fields.get("state", job["state"]) != RUNNING:
                self._remove(job_id)
                return
            job.update(fields)
            self._changed.notify_all()

    def delete(self, job_id: str) -> bool:
        """Delete a job. A running one is only marked (True): hidden from clients at once, removed when it stops;
        the caller cancels it. KeyError when it is gone, or already being deleted."""
        with self._lock:
            self.folder(job_id)
            job = self._jobs[job_id]
            if job.get(DELETING):
                raise KeyError(job_id)
            if job["state"] == RUNNING:
                try:  # on disk first, so a restart finishes the delete
                    self.update(job_id, **{DELETING: True})
                except OSError as e:  # a full disk: hidden now; after a restart it would be back
                    log.warning("job %s: its deletion cannot be saved (%s); it is removed when it stops", job_id, e)
                    self.update(job_id, persist=False, **{DELETING: True})
                return True
            trash = self._detach(job_id)
        shutil.rmtree(trash, ignore_errors=True)
        return False

    def _detach(self, job_id: str) -> str | None:
        """Take a job out of the store and its folder out of the way (to a name a restart removes); the caller
        removes that. Renamed first, so a crash mid-delete cannot leave half a job behind."""
        with self._lock:
            self._jobs.pop(job_id, None)
            self._changed.notify_all()
            trash = os.path.join(self.root, f".incoming-deleted-{job_id}-{uuid.uuid4().hex[:8]}")
            try:
                os.replace(self.folder(job_id), trash)
            except FileNotFoundError:  # a damaged job whose folder went meanwhile
                return None
            return trash

    def _remove(self, job_id: str) -> None:
        trash = self._detach(job_id)
        if trash:
            shutil.rmtree(trash, ignore_errors=True)

    def has_room(self) -> bool:
        """Whether a test file of ROOM_PROBE_BYTES can be written to the jobs folder now (after a full disk)."""
        path = os.path.join(self.root, ".space-probe.json")
        try:
            _write_json(path, {"padding": "0" * ROOM_PROBE_BYTES})
            return True
        except OSError:
            return False
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def next_queued(self, timeout: float) -> str | None:
        """The oldest queued job, waiting up to timeout for one."""
        with self._changed:
            deadline = time.monotonic() + timeout
            while True:
                queued = [j for j in self._jobs.values() if j["state"] == QUEUED]
                if queued:
                    return min(queued, key=lambda j: j["seq"])["id"]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def cancel_queued(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs[job_id]
            if job["state"] != QUEUED:
                return False
            self.update(job_id, state=CANCELLED, finished_at=time.time(), progress={"stage": "cancelled"})
            return True
