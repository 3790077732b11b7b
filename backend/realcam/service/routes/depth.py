"""POST /v1/depth: a photo in, its depth map, resized image and intrinsics out as one zip.

The photo is a raw body under the upload limits (uploads.py); the model name is resolved against the
depth models this server knows and its --depth-model-dir folders, never as a path. One estimate runs at a
time, on the model last loaded (kept between requests).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import zipfile

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from realcam_core import api

from ...errors import UserError
from ...generate.adapters import HUB_ID
from ..context import Service, ServiceDep
from ..responses import HttpError, remove_file, send_file
from ..uploads import receive_body

router = APIRouter(prefix=api.PREFIX)


@router.post("/depth")
async def depth(
    request: Request, svc: ServiceDep, size: str | None = None, focal_px: float | None = None, model: str | None = None
):
    out_size = depth_size(svc, size)
    if focal_px is not None and not (math.isfinite(focal_px) and focal_px > 0):
        raise HttpError(422, f"focal_px {focal_px}: must be a finite positive number of pixels")
    path, _ = await receive_body(svc, request, ".img")
    try:
        async with svc.depth_turn:  # one at a time; the others wait without holding a thread
            return await run_in_threadpool(_depth_sync, svc, path, out_size, focal_px, model)
    finally:
        remove_file(path)


def depth_size(svc: Service, size: str | None):
    """The requested output size, checked against this server's limits before the photo is read."""
    if size is None:
        return None
    from ...depth.estimate import parse_size

    try:
        w, h = parse_size(size)
    except UserError as e:
        raise HttpError(422, str(e).replace("--size", "size")) from None
    if w * h > svc.config.max_pixels or max(w, h) > svc.limits.max_side:
        raise HttpError(
            413,
            f"size {w}x{h} is {w * h} pixels, over this server's limit of {svc.config.max_pixels} "
            f"(realcam serve --max-pixels)",
        )
    return w, h


def _depth_sync(svc: Service, path, out_size, focal_px, model):
    from ...depth import estimate as depth_mod
    from ...depth.models import DEFAULT_DEPTH_MODEL, DepthModel, resolve_model_id

    config, store = svc.config, svc.store
    try:
        name = model or DEFAULT_DEPTH_MODEL
        if name in config.depth_model_folders:
            model_id = config.depth_model_folders[name]
        else:
            model_id = resolve_model_id(name)
            if os.path.exists(model_id) or not HUB_ID.match(model_id):
                raise UserError(f"depth model {name!r} is not a model this server knows")
        with svc.depth_lock:
            if svc.depth_cache.get("id") != model_id:
                svc.depth_cache.clear()
                svc.depth_cache.update(id=model_id, model=DepthModel(model_id, config.device))
            result = depth_mod.estimate(
                path,
                size=out_size,
                focal_px=focal_px,
                depth_model=svc.depth_cache["model"],
                max_pixels=config.max_pixels,
            )
        if name in config.depth_model_folders:  # the client's name for it, not this machine's folder
            result = dataclasses.replace(result, depth_source=name)
    except UserError as e:
        raise HttpError(422, str(e).replace(path, "the uploaded photo")) from None
    # Written to a file and streamed from there: the answer is never held in memory whole.
    out_dir = tempfile.mkdtemp(dir=store.uploads)
    try:
        depth_mod.write_outputs(result, os.path.join(out_dir, "scene"))
        fd, zip_path = tempfile.mkstemp(suffix=".zip", dir=store.uploads)
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
            for n in ("image.png", "depth.npy", "intrinsics.json"):
                zf.write(os.path.join(out_dir, "scene", n), n)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    summary = svc.redact(depth_mod.summary("upload", "response", result))
    return send_file(
        zip_path, "application/zip", svc.digests(zip_path), remove=True, headers={"X-Realcam-Summary": summary}
    )
