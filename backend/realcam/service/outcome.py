"""How a job run ends, decided in one place for the local worker (worker.py) and a cluster slot (slot.py).

    the run returns    done, with what the caller adds (a slot: its take's files, stage "transfer")
    JobCancelled       cancelled: the cancel event was set (the caller tells a user's cancel from a shutdown)
    UserError          failed, with its message: a problem with the job the artist can act on
    a full disk        failed, with "disk_full": True: the local worker queues the job again and waits for space
    anything else      failed, with the exception's type and message; the traceback goes to the log only,
                       and the server keeps running (a model crash must not take it down)

Every message passes through the caller's `scrub` first, so no path of this machine reaches a client.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from realcam_core.api import CANCELLED, DONE, FAILED

from ..errors import UserError
from ..generate.job import JobCancelled
from .jobstore import DISK_FULL

log = logging.getLogger(__name__)


def run_job(job_id: str, run: Callable[[], dict | None], scrub: Callable[[str], str] = str) -> dict:
    """run() and the fields of the job's end: state, and progress or error. run returns the fields a done job
    adds (or None); what the engine returns is not one of them."""
    try:
        extra = run() or {}
    except JobCancelled:
        return {"state": CANCELLED, "progress": {"stage": "cancelled"}}
    except UserError as e:
        return {"state": FAILED, "error": scrub(str(e))}
    except Exception as e:
        if disk_full(e):
            return {"state": FAILED, "error": scrub(f"{type(e).__name__}: {e}"), "disk_full": True}
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        return {"state": FAILED, "error": scrub(f"{type(e).__name__}: {e}")}
    return {"state": DONE, "progress": {"stage": "done"}, **extra}


def disk_full(e: BaseException | None) -> bool:
    """Whether an exception, or one it was raised from, is a write that found the disk (or quota) full."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError) and e.errno in DISK_FULL:
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False
