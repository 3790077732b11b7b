"""/v1/tracks: a clip's camera move as a job (`realcam track` on the server): submit a clip with its options, read
the track's state (its stage: progress), download its move (RealEstate10K) and report, cancel, delete.

Tracks are jobs of kind "track" in the one job store and queue (clips.py checks and queues them, track_job.py runs
them); these routes answer for tracks only, as /v1/jobs answers for generation jobs only. Ids are server-made
and checked (jobstore.py) before they touch the disk. Under `serve --cluster` tracking is refused: the cluster's
slots run generation only.
"""

from __future__ import annotations

import hashlib
import json
import os

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from realcam_core import api

from ..clips import check_options, submit_track
from ..context import Service, ServiceDep
from ..responses import HttpError, remove_file, send_file
from ..track_job import MOVE, REPORT
from ..uploads import receive_body
from . import lifecycle

router = APIRouter(prefix=api.track_path())


@router.post("", status_code=201)
async def submit(
    request: Request,
    svc: ServiceDep,
    focal_px: float | None = None,
    fov: float | None = None,
    depth_frame: int = 0,
    relative: bool = False,
    depth_model: str | None = None,
    fps: float | None = None,
    max_frames: int = 48,
    stride: int | None = None,
    max_side: int = 960,
):
    if svc.config.cluster:
        raise HttpError(
            501,
            "this server runs its jobs on a Ray cluster, whose slots only generate: track clips with a server "
            "started without --cluster, or with `realcam track` on any machine",
        )
    given, run = check_options(
        svc, focal_px, fov, depth_frame, relative, depth_model, fps, max_frames, stride, max_side
    )
    media = api.media_type(request.headers.get("content-type"))
    path, digest = await receive_body(svc, request, ".clip")
    try:
        job, new = await run_in_threadpool(submit_track, svc, path, media, digest, given, run)
    finally:
        remove_file(path)
    return JSONResponse(job, status_code=201 if new else 200)


def track_or_404(svc: Service, track_id: str) -> dict:
    try:
        job = svc.store.lookup(track_id)
    except KeyError:
        job = None
    if job is None or job.get("kind") != api.TRACK:
        raise HttpError(404, f"no track {track_id!r} on this server")
    return job


@router.get("")
def list_tracks(svc: ServiceDep):
    return {"tracks": [j for j in svc.store.list() if j.get("kind") == api.TRACK]}


@router.get("/{track_id}")
def get_track(track_id: str, svc: ServiceDep):
    return track_or_404(svc, track_id)


def _output(svc: Service, track_id: str, name: str) -> str:
    job = track_or_404(svc, track_id)
    if job["state"] != api.DONE:
        raise HttpError(409, f"track {track_id} is {job['state']}; its move exists once it is done")
    return os.path.join(svc.store.take_dir(track_id), name)


@router.get("/{track_id}/move")
def get_move(track_id: str, svc: ServiceDep):
    path = _output(svc, track_id, MOVE)
    return send_file(path, "text/plain", svc.digests(path), filename=f"{track_id}.txt")


@router.get("/{track_id}/report")
def get_report(track_id: str, svc: ServiceDep):
    with open(_output(svc, track_id, REPORT), encoding="utf-8") as fh:
        body = json.dumps(svc.redact.json(json.load(fh)), indent=1).encode("utf-8")
    digest = api.repr_digest(hashlib.sha256(body).digest())
    return Response(body, media_type="application/json", headers={api.DIGEST_HEADER: digest})


@router.post("/{track_id}/cancel")
def cancel(track_id: str, svc: ServiceDep):
    return lifecycle.cancel(svc, track_id, track_or_404, "track")


@router.delete("/{track_id}", status_code=204)
async def delete(track_id: str, svc: ServiceDep):
    """204 at once, as for a job: a running track is hidden now and removed when its child process stops."""
    return await lifecycle.delete(svc, track_id, track_or_404, "track")
