"""/v1/jobs: submit a bundle, list and read jobs (state, stage, step, ETA: their progress), cancel, delete,
and download a finished take (video, result, frames) with its Repr-Digest.

Job ids are server-made and checked (jobstore.py) before they touch the disk; a client's id that is not one
is a 404 like any unknown job.
"""

from __future__ import annotations

import hashlib
import json
import os

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from realcam_core import api

from ..context import Service, ServiceDep
from ..responses import HttpError, remove_file, send_file
from ..transfer import zip_frames
from ..uploads import receive_body, submit_bundle
from . import lifecycle

router = APIRouter(prefix=f"{api.PREFIX}/jobs")


@router.post("", status_code=201)
async def submit(request: Request, svc: ServiceDep):
    path, digest = await receive_body(svc, request, ".zip")
    try:
        async with svc.checks:  # a bounded number checked at once: memory, and threads for other routes
            job, new = await run_in_threadpool(submit_bundle, svc, path, digest)
    finally:
        remove_file(path)
    return JSONResponse(job, status_code=201 if new else 200)


def job_or_404(svc: Service, job_id: str):
    try:
        job = svc.store.lookup(job_id)
    except KeyError:
        raise HttpError(404, f"no job {job_id!r} on this server") from None
    if job.get("kind") == api.TRACK:  # a track is answered for under /v1/tracks only
        raise HttpError(404, f"no job {job_id!r} on this server (it is a track: /v1/tracks/{job_id})")
    return job


@router.get("")
def list_jobs(svc: ServiceDep):
    return {"jobs": [j for j in svc.store.list() if j.get("kind") != api.TRACK]}


@router.get("/{job_id}")
def get_job(job_id: str, svc: ServiceDep):
    return job_or_404(svc, job_id)


def finished_file(svc: Service, job_id: str, name: str):
    job = job_or_404(svc, job_id)
    if job["state"] != api.DONE:
        raise HttpError(409, f"job {job_id} is {job['state']}; its outputs exist once it is done")
    return os.path.join(svc.store.take_dir(job_id), name)


# A take is the studio's own: a page of another origin must not embed it, even from the browser's cache (the
# dashboard plays takes from this origin).
TAKE_HEADERS = {"Cross-Origin-Resource-Policy": "same-origin"}


@router.get("/{job_id}/video")
def get_video(job_id: str, svc: ServiceDep):
    path = finished_file(svc, job_id, "video.mp4")
    return send_file(path, "video/mp4", svc.digests(path), filename=f"{job_id}.mp4", headers=TAKE_HEADERS)


@router.get("/{job_id}/result")
def get_result(job_id: str, svc: ServiceDep):
    with open(finished_file(svc, job_id, "result.json"), encoding="utf-8") as fh:
        body = json.dumps(svc.redact.json(json.load(fh)), indent=1).encode("utf-8")
    digest = api.repr_digest(hashlib.sha256(body).digest())
    return Response(body, media_type="application/json", headers={api.DIGEST_HEADER: digest, **TAKE_HEADERS})


@router.get("/{job_id}/frames")
def get_frames(job_id: str, svc: ServiceDep):
    path = zip_frames(finished_file(svc, job_id, "frames"), svc.store.uploads)
    return send_file(path, "application/zip", svc.digests(path), remove=True, headers=TAKE_HEADERS)


@router.post("/{job_id}/cancel")
def cancel(job_id: str, svc: ServiceDep):
    return lifecycle.cancel(svc, job_id, job_or_404, "job")


@router.delete("/{job_id}", status_code=204)
async def delete(job_id: str, svc: ServiceDep):
    """204 at once: a running job is hidden now and removed when its step ends."""
    return await lifecycle.delete(svc, job_id, job_or_404, "job")
