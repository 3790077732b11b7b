"""Test connection and Start: ask the backend (starting the configured local one, for Start) what it is, on which
device it runs and which models it offers, and keep that for the panel (backend/status.py)."""

from __future__ import annotations

from ..backend import status
from ..realcam_core.addon_only import advice
from ..realcam_core.client import BackendError
from ..tasks import Background


def _ask(conn, start: bool) -> tuple[dict, dict]:
    """Worker thread: health (starting the configured local backend first, for Start) and the model listing."""
    return conn.health(start), conn.client(timeout=30).models()


def check_task(task, conn, start: bool):
    """Task: ask (or start) the backend of conn (a Connection) and keep what it said for the panel. A backend that
    does not answer to Test connection is a result, shown in the panel; one that Start cannot start is an error."""
    task.report("starting the backend" if start else "asking the backend")
    try:
        health, listing = yield Background(_ask, conn, start)
    except BackendError as e:
        error = advice.explain_backend(e)  # the problem and what to do next
        status.unreachable(conn.url, error)
        if start:
            raise
        return status.STATUS
    status.answered(conn.url, health=health, models=listing)
    task.report("done")
    return status.STATUS
