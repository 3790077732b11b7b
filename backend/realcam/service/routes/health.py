"""GET /v1/health (open without the token: clients use it to find the server) and GET /v1/models.

With a token configured, a caller without it learns only what finding and matching the server needs (status,
versions, the upload limits): not the device, the models, the jobs, nor under --cluster the cluster's
address and its nodes' addresses.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from realcam_core import api
from realcam_core.bundle import SUPPORTED_SCHEMA_VERSIONS

from ... import __version__, catalog
from ...runtime import device_info
from ..context import ServiceDep
from ..responses import HttpError

router = APIRouter(prefix=api.PREFIX)


PUBLIC = ("status", "version", "api_version", "bundle_schema_versions", "limits")


@router.get("/health")
def health(request: Request, svc: ServiceDep):
    config, redact = svc.config, svc.redact
    w = svc.worker.status()
    loaded = svc.worker.engine.loaded_model()
    body = {
        "status": "ok" if w["alive"] and not w["error"] else ("degraded" if w["alive"] else "stopped"),
        "version": __version__,
        "api_version": api.API_VERSION,
        "bundle_schema_versions": list(SUPPORTED_SCHEMA_VERSIONS),
        "device": config.device or "auto",
        "device_info": device_info(config.device),
        "loaded_model": redact(loaded) if loaded else None,
        "limits": {
            "max_upload_bytes": config.max_upload_bytes,
            "max_frames": config.max_frames,
            "max_pixels": config.max_pixels,
        },
        "worker": {k: redact(v) if isinstance(v, str) else v for k, v in w.items()},
        **svc.store.counts(),
    }
    if body["status"] != "ok":
        body["worker"]["error"] = body["worker"]["error"] or "the worker is not running"
    if svc.guard.token and not svc.guard.token_ok(request.headers.get("authorization")):
        body = {k: body[k] for k in PUBLIC}
        reason = "send the token to see why" if body["status"] != "ok" else None
        body["worker"] = {"error": reason}
    if body["status"] == "ok":
        return body
    raise HttpError(503, f"the worker cannot run jobs: {body['worker']['error']}", extra=body)


@router.get("/models")
def models(svc: ServiceDep):
    return {
        "video": catalog.video_models(svc.config.model_folders, svc.config.window_frames),
        "depth": catalog.depth_models(svc.config.depth_model_folders),
    }
