"""Cancelling and deleting a job of either kind: /v1/jobs and /v1/tracks answer alike, each only for its own kind
(`lookup` is the route's job_or_404 or track_or_404; `what` names the kind in messages)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from realcam_core import api

from ..context import Service
from ..responses import HttpError

Lookup = Callable[[Service, str], dict]


def cancel(svc: Service, job_id: str, lookup: Lookup, what: str) -> dict:
    job = lookup(svc, job_id)
    if job["state"] in api.FINISHED:
        raise HttpError(409, f"{what} {job_id} is already {job['state']}")
    try:
        cancelled = svc.store.cancel_queued(job_id)
    except KeyError:
        raise HttpError(404, f"no {what} {job_id!r} on this server") from None
    if not cancelled:
        svc.worker.cancel(job_id)
    return lookup(svc, job_id)


async def delete(svc: Service, job_id: str, lookup: Lookup, what: str) -> Response:
    """204 at once: a running job is hidden now, cancelled, and removed when its step ends (the worker's store
    does it), so no request waits on a step that cannot be interrupted (a decode) nor holds a thread."""
    try:
        await run_in_threadpool(_delete, svc, job_id, lookup)
    except KeyError:  # never there, or another DELETE got there first
        raise HttpError(404, f"no {what} {job_id!r} on this server") from None
    return Response(status_code=204)


def _delete(svc: Service, job_id: str, lookup: Lookup) -> None:
    lookup(svc, job_id)  # each kind is deleted under its own route only
    if svc.store.delete(job_id):
        svc.worker.cancel(job_id)
