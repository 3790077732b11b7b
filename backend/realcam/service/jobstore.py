"""Jobs on disk, one folder each, so nothing is lost when the server dies.

    DATA/jobs/<id>/state.json   the job (see realcam_core.api), written atomically
    DATA/jobs/<id>/bundle/      the unpacked bundle
    DATA/jobs/<id>/take/        video.mp4, frames/, result.json (appears whole, when done)

On start, queued jobs stay queued, a job that was running is queued again to
run from the start (failed after MAX_ATTEMPTS tries), half-written outputs are
removed, and finished results stay where they are.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import uuid

from realcam_core.api import CANCELLED, DONE, FAILED, FINISHED, QUEUED, RUNNING

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_ATTEMPTS = 3


def _write_json(path: str, data: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
            state_path = os.path.join(folder, "state.json")
            if not JOB_ID.match(name) or not os.path.isfile(state_path):
                if name.startswith(".incoming-"):
                    shutil.rmtree(folder, ignore_errors=True)  # a submission cut off mid-way
                continue
            try:
                with open(state_path, encoding="utf-8") as fh:
                    job = json.load(fh)
            except (OSError, ValueError):
                continue  # unreadable: leave it for a person, do not guess
            for leftover in os.listdir(folder):
                if leftover.startswith(".realcam-job-"):
                    shutil.rmtree(os.path.join(folder, leftover), ignore_errors=True)
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
                        note="the server stopped while this job ran; it runs again from the start",
                    )
                    shutil.rmtree(os.path.join(folder, "take"), ignore_errors=True)
            if job["state"] == DONE and not os.path.isfile(os.path.join(folder, "take", "video.mp4")):
                job.update(state=FAILED, error="its outputs are missing from the data folder")
            self._jobs[name] = job
            _write_json(state_path, job)

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
                    return dict(j)
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
        """Turn an unpacked incoming folder (holding bundle/) into a queued job."""
        with self._lock:
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
            _write_json(os.path.join(incoming, "state.json"), job)
            os.replace(incoming, self.folder(job_id))
            self._jobs[job_id] = job
            self._changed.notify_all()
            return self._with_position(dict(job))

    def update(self, job_id: str, persist: bool = True, **fields) -> dict:
        with self._lock:
            job = self._jobs[job_id]
            job.update(fields)
            if persist:
                _write_json(os.path.join(self.folder(job_id), "state.json"), job)
            self._changed.notify_all()
            return dict(job)

    def delete(self, job_id: str) -> None:
        with self._lock:
            folder = self.folder(job_id)
            self._jobs.pop(job_id)
            # Rename first so a crash mid-delete cannot leave a half job behind.
            trash = os.path.join(self.root, f".incoming-deleted-{job_id}")
            os.replace(folder, trash)
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

    def is_finished(self, job_id: str) -> bool:
        with self._lock:
            return self._jobs[job_id]["state"] in FINISHED

    def cancel_queued(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs[job_id]
            if job["state"] != QUEUED:
                return False
            self.update(job_id, state=CANCELLED, finished_at=time.time(), progress={"stage": "cancelled"})
            return True
