"""Jobs on disk, one folder each, so nothing is lost when the server dies.

    DATA/jobs/<id>/state.json   the job (see realcam_core.api), written atomically
    DATA/jobs/<id>/bundle/      the unpacked bundle
    DATA/jobs/<id>/take/        video.mp4, frames/, result.json (appears whole, when done)

On start, queued jobs stay queued, a job that was running is queued again to
run from the start (failed after MAX_ATTEMPTS tries), half-written outputs and
state files are removed, and finished results stay where they are. A long shot's
finished windows (DATA/jobs/<id>/windows/, generate/window_store.py) are kept:
run again, it goes on from the window it was in.

Every change is written to disk first and only then made in memory, so what a
client sees is what a restart would find; a write that fails (a full disk)
raises and changes nothing.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid

from realcam_core.api import CANCELLED, DONE, FAILED, QUEUED, RUNNING, STATES

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_ATTEMPTS = 3
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # what a write raises on a full disk (or quota): waited out, not a fault


STATE = "state.json"
_STATE_TMP = re.compile(r"^state\.json\..+\.tmp$")


class JobBusy(Exception):
    """The job is running: cancel it and wait before deleting it."""


class Duplicate(Exception):
    """The same bundle is already queued, running or done: .job is that job."""

    def __init__(self, job: dict):
        super().__init__(job["id"])
        self.job = job


def _write_json(path: str, data: dict) -> None:
    """Write atomically; on failure (a full disk) nothing is left behind and the old file stays."""
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class JobStore:
    """Thread-safe access to the jobs folder; the worker and the HTTP handlers share it."""

    def __init__(self, data_dir: str):
        self.root = os.path.join(os.path.abspath(data_dir), "jobs")
        self.uploads = os.path.join(os.path.abspath(data_dir), "uploads")
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(self.uploads, exist_ok=True)
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
        os.makedirs(self.uploads, exist_ok=True)
        for name in os.listdir(self.root):
            folder = os.path.join(self.root, name)
            state_path = os.path.join(folder, STATE)
            if not JOB_ID.match(name) or not os.path.isfile(state_path):
                if name.startswith(".incoming-"):
                    shutil.rmtree(folder, ignore_errors=True)  # a submission cut off mid-way
                continue
            try:
                with open(state_path, encoding="utf-8") as fh:
                    job = json.load(fh)
            except (OSError, ValueError):
                continue  # unreadable: leave it for a person, do not guess
            if not isinstance(job, dict) or job.get("state") not in STATES or not isinstance(job.get("seq"), int):
                continue
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
                        note="the server stopped while this job ran; it runs again (a long shot from the window "
                        "it was in)",
                    )
                    shutil.rmtree(os.path.join(folder, "take"), ignore_errors=True)
            if job["state"] == DONE and not os.path.isfile(os.path.join(folder, "take", "video.mp4")):
                job.update(state=FAILED, error="its outputs are missing from the data folder")
            if job != before:
                _write_json(state_path, job)
            self._jobs[name] = job

    # -- queries ------------------------------------------------------------------
    def get(self, job_id: str) -> dict:
        with self._lock:
            self.folder(job_id)
            if job_id not in self._jobs:
                raise KeyError(job_id)
            return self._with_position(dict(self._jobs[job_id]))

    def list(self) -> list[dict]:
        with self._lock:
            return [self._with_position(dict(j)) for j in sorted(self._jobs.values(), key=lambda j: j["seq"])]

    def _with_position(self, job: dict) -> dict:
        if job["state"] == QUEUED:
            job["position"] = sum(1 for j in self._jobs.values() if j["state"] == QUEUED and j["seq"] < job["seq"])
        return job

    def find_by_digest(self, digest: str) -> dict | None:
        with self._lock:
            for j in self._jobs.values():
                if j.get("digest") == digest and j["state"] in (QUEUED, RUNNING, DONE):
                    return self._with_position(dict(j))
        return None

    def counts(self) -> dict:
        with self._lock:
            states = [j["state"] for j in self._jobs.values()]
            return {"queued": states.count(QUEUED), "running": states.count(RUNNING)}

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
        """Change a job: on disk first (unless persist is False), then in memory.

        KeyError when the job is gone; OSError (memory unchanged) when it cannot be written."""
        with self._lock:
            job = self._jobs[job_id]
            new = {**job, **fields}
            if persist:
                _write_json(os.path.join(self.folder(job_id), STATE), new)
            job.update(fields)
            self._changed.notify_all()
            return dict(job)

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
            )

    def mark_unsaved(self, job_id: str, **fields) -> None:
        """Change a job in memory only, because its folder cannot be written; a restart finds the old state."""
        with self._lock:
            if job_id in self._jobs:
                self._jobs[job_id].update(fields)
                self._changed.notify_all()

    def delete(self, job_id: str) -> None:
        """Remove a job that is not running. KeyError when it is gone, JobBusy while it runs."""
        with self._lock:
            folder = self.folder(job_id)
            if self._jobs[job_id]["state"] == RUNNING:
                raise JobBusy(job_id)
            # Rename first so a crash mid-delete cannot leave a half job behind;
            # the name is unique so an earlier leftover cannot block it.
            trash = os.path.join(self.root, f".incoming-deleted-{job_id}-{uuid.uuid4().hex[:8]}")
            os.replace(folder, trash)
            del self._jobs[job_id]
            self._changed.notify_all()
        shutil.rmtree(trash, ignore_errors=True)

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
