"""One job's state file: written atomically, read back defensively.

A state file is the server's own, but it lives on a disk a person can edit, copy and damage: a file cut off
mid-way, a NaN a hand edit left, a folder copied under a new name. Reading never lets that reach clients or
the worker: non-finite numbers become null, fields of the wrong type get their defaults, the folder name is
the job's id, and a state that cannot be trusted (unreadable, no state or sequence number) becomes a
"damaged" job that is listed with the reason and can be deleted. The file itself is left as it is, for a
person to repair.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile

from realcam_core.api import CANCELLED, DAMAGED, DONE, FAILED, QUEUED, RUNNING

log = logging.getLogger(__name__)

STATE = "state.json"
MAX_STATE_BYTES = 1 << 20  # a job's state is a few KiB; anything this large is not one of ours
_LIVE_STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
_TIMES = ("created_at", "started_at", "finished_at")


def write_json(path: str, data: dict) -> None:
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


def _finite(text: str):
    value = float(text)
    return value if math.isfinite(value) else None


def _load(path: str):
    if os.path.getsize(path) > MAX_STATE_BYTES:
        raise ValueError(f"it is larger than {MAX_STATE_BYTES} bytes")
    with open(path, encoding="utf-8") as fh:
        # NaN, Infinity and 1e999 become null: they are not JSON, and one would fail every listing.
        return json.loads(fh.read(), parse_constant=lambda _: None, parse_float=_finite)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def read_job(job_id: str, folder: str) -> tuple[dict, str | None]:
    """The job kept in folder (named job_id), safe to serve and run, and None; or a damaged stand-in and why."""
    path = os.path.join(folder, STATE)
    try:
        job = _load(path)
    except FileNotFoundError:
        return damaged(job_id, folder, "its state file is missing"), "its state file is missing"
    except (OSError, ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        why = f"its state file cannot be read ({type(e).__name__}: {str(e)[:200]})"
        return damaged(job_id, folder, why), why
    if not isinstance(job, dict):
        why = "its state file does not hold a JSON object"
        return damaged(job_id, folder, why), why
    if job.get("state") not in _LIVE_STATES or not _is_int(job.get("seq")) or job["seq"] < 0:
        why = f"its state file has no valid state or sequence number (state {str(job.get('state'))[:40]!r})"
        return damaged(job_id, folder, why, job.get("seq")), why
    if job.get("id") != job_id:
        # A job folder copied or renamed: the folder is the job, so ids never repeat in a listing.
        log.warning("job folder %s holds the state of job %r: it is listed as %s", job_id, job.get("id"), job_id)
        job["id"] = job_id
    for key in _TIMES:
        if not _is_number(job.get(key)):
            job[key] = None
    if not isinstance(job.get("progress"), dict):
        job["progress"] = {"stage": job["state"]}
    if not _is_int(job.get("attempts")) or job["attempts"] < 0:
        job["attempts"] = 0
    for key in ("error", "note", "digest", "model"):
        if job.get(key) is not None and not isinstance(job[key], str):
            job[key] = str(job[key])[:500] if key in ("error", "note") else None
    return job, None


def damaged(job_id: str, folder: str, why: str, seq=None) -> dict:
    """A stand-in for a job whose state cannot be trusted: listed, explained, deletable; never run."""
    try:
        when = os.path.getmtime(folder)
    except OSError:
        when = None
    return {
        "id": job_id,
        "seq": seq if _is_int(seq) and seq >= 0 else 0,
        "state": DAMAGED,
        "created_at": when,
        "started_at": None,
        "finished_at": None,
        "progress": {},
        "error": (
            f"this job's folder is damaged: {why}. Its files are kept as they are: delete the job, or repair "
            f"jobs/{job_id}/{STATE} in the data folder and restart the server"
        ),
        "attempts": 0,
        "digest": None,
        "model": None,
    }
