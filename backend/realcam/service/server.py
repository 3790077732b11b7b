"""`realcam serve`: the backend over HTTP (FastAPI on uvicorn). The API is defined in realcam_core.api.

Security: binds to 127.0.0.1 by default; any other address needs a token,
checked in constant time. Uploads are raw bodies counted as they stream, so
the size limit holds before anything is stored. Job ids are server-made and
checked before they touch the disk; model names from clients are resolved
against known models, Hugging Face ids and the folders configured here, never
as paths.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import ipaddress
import json
import os
import shutil
import tempfile
import threading
import zipfile
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from realcam_core import api
from realcam_core.bundle import SUPPORTED_SCHEMA_VERSIONS, BundleError, Limits, unpack_bundle, validate_bundle

from .. import __version__, catalog
from ..errors import UserError
from ..generate.adapters import HUB_ID
from ..generate.engine import RunOptions, plan_job
from ..runtime import device_info
from .jobstore import JobStore
from .worker import Worker

CHUNK = 1 << 20


@dataclass
class ServerConfig:
    data_dir: str
    host: str = api.DEFAULT_HOST
    port: int = api.DEFAULT_PORT
    token: str | None = None
    max_upload_bytes: int = 2 * 1024**3
    max_frames: int = 241
    max_pixels: int = 1280 * 720
    device: str | None = None
    offload: str = "auto"
    vae_tiling: bool = False
    dtype: str | None = None
    model_folders: dict = field(default_factory=dict)  # name -> local diffusers folder
    depth_model_folders: dict = field(default_factory=dict)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(config: ServerConfig) -> None:
    if not is_loopback(config.host) and not config.token:
        raise UserError(
            f"refusing to listen on {config.host}: other machines could reach this server. Set a token "
            "(REALCAM_TOKEN=... or --token) to bind to a non-loopback address, or keep the default 127.0.0.1"
        )


def create_app(config: ServerConfig):
    store = JobStore(config.data_dir)
    run_options = RunOptions(
        device=config.device, offload=config.offload, vae_tiling=config.vae_tiling, dtype=config.dtype
    )
    worker = Worker(store, run_options, config.model_folders)
    limits = Limits(
        max_frames=config.max_frames, max_pixels=config.max_pixels, max_side=max(4096, int(config.max_pixels**0.5) * 4)
    )
    depth_lock = threading.Lock()
    depth_cache: dict = {}

    @asynccontextmanager
    async def lifespan(app):
        worker.start()
        yield
        worker.stop()

    app = FastAPI(
        title="RealCam backend",
        version=__version__,
        lifespan=lifespan,
        description="Photo to camera-controlled video. Contract: realcam_core/api.py and bundle.py.",
    )

    def error(status: int, message: str, problems=None):
        return JSONResponse({"error": message, "problems": [str(p) for p in problems or []]}, status_code=status)

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if config.token and request.url.path != f"{api.PREFIX}/health":
            given = request.headers.get("authorization", "")
            expected = f"Bearer {config.token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return error(401, "missing or wrong token: send Authorization: Bearer TOKEN")
        return await call_next(request)

    async def receive_body(request: Request, suffix: str) -> str:
        """Stream the body to a temporary file, refusing it once it passes the limit."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > config.max_upload_bytes:
            raise _HttpError(413, f"upload of {int(declared)} bytes is over the limit of {config.max_upload_bytes}")
        fd, path = tempfile.mkstemp(suffix=suffix, dir=store.uploads)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > config.max_upload_bytes:
                        raise _HttpError(413, f"upload is over the limit of {config.max_upload_bytes} bytes")
                    out.write(chunk)
        except BaseException:
            os.unlink(path)
            raise
        if size == 0:
            os.unlink(path)
            raise _HttpError(400, "no file: send it as the request body (e.g. curl --data-binary @job.zip)")
        return path

    @app.exception_handler(_HttpError)
    async def _http_error(request, exc: _HttpError):
        return error(exc.status, exc.message, exc.problems)

    @app.get(f"{api.PREFIX}/health")
    def health():
        return {
            "status": "ok",
            "version": __version__,
            "api_version": api.API_VERSION,
            "bundle_schema_versions": list(SUPPORTED_SCHEMA_VERSIONS),
            "device": config.device or "auto",
            "device_info": device_info(config.device),
            "loaded_model": worker.engine.loaded_model(),
            "limits": {
                "max_upload_bytes": config.max_upload_bytes,
                "max_frames": config.max_frames,
                "max_pixels": config.max_pixels,
            },
            **store.counts(),
        }

    @app.get(f"{api.PREFIX}/models")
    def models():
        return {
            "video": catalog.video_models(config.model_folders),
            "depth": catalog.depth_models(config.depth_model_folders),
        }

    @app.post(f"{api.PREFIX}/depth")
    async def depth(request: Request, size: str | None = None, focal_px: float | None = None, model: str | None = None):
        path = await receive_body(request, ".img")
        try:
            return await run_in_threadpool(_depth_sync, path, size, focal_px, model)
        finally:
            if os.path.exists(path):
                os.unlink(path)

    def _depth_sync(path, size, focal_px, model):
        from ..depth import estimate as depth_mod
        from ..depth.models import DEFAULT_DEPTH_MODEL, DepthModel, resolve_model_id

        try:
            name = model or DEFAULT_DEPTH_MODEL
            if name in config.depth_model_folders:
                model_id = config.depth_model_folders[name]
            else:
                model_id = resolve_model_id(name)
                if os.path.exists(model_id) or not HUB_ID.match(model_id):
                    raise UserError(f"depth model {name!r} is not a model this server knows")
            with depth_lock:
                if depth_cache.get("id") != model_id:
                    depth_cache.clear()
                    depth_cache.update(id=model_id, model=DepthModel(model_id, config.device))
                result = depth_mod.estimate(
                    path,
                    size=depth_mod.parse_size(size) if size else None,
                    focal_px=focal_px,
                    depth_model=depth_cache["model"],
                )
            buf = io.BytesIO()
            out_dir = tempfile.mkdtemp(dir=store.uploads)
            try:
                depth_mod.write_outputs(result, os.path.join(out_dir, "scene"))
                with zipfile.ZipFile(buf, "w") as zf:
                    for n in ("image.png", "depth.npy", "intrinsics.json"):
                        zf.write(os.path.join(out_dir, "scene", n), n)
            finally:
                shutil.rmtree(out_dir, ignore_errors=True)
            return Response(
                buf.getvalue(),
                media_type="application/zip",
                headers={"X-Realcam-Summary": depth_mod.summary("upload", "response", result)},
            )
        except UserError as e:
            return error(422, str(e).replace(path, "the uploaded photo"))

    @app.post(f"{api.PREFIX}/jobs", status_code=201)
    async def submit(request: Request):
        path = await receive_body(request, ".zip")
        try:
            return await run_in_threadpool(_submit_sync, path)
        finally:
            os.unlink(path)

    def _submit_sync(path):
        incoming = store.new_incoming()
        try:
            digest = _sha256(path)
            existing = store.find_by_digest(digest)
            if existing is not None:
                shutil.rmtree(incoming, ignore_errors=True)
                return JSONResponse(store.get(existing["id"]), status_code=200)
            bundle_dir = os.path.join(incoming, "bundle")
            try:
                unpack_bundle(path, bundle_dir, limits)
            except BundleError as e:
                raise _HttpError(
                    400 if "not a zip" in str(e) else 422, "the upload is not a usable bundle archive", e.problems
                ) from None
            bundle, problems = validate_bundle(bundle_dir, limits)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise _HttpError(422, f"the bundle failed validation: {problems[0]}{more}", problems)
            name = bundle.settings.model
            try:
                plan, _, _ = plan_job(
                    bundle, config.model_folders.get(name, name), allow_local=name in config.model_folders
                )
            except UserError as e:
                raise _HttpError(422, str(e)) from None
            fields = {
                "digest": digest,
                "model": name,
                "model_name": plan.model_name,
                "frames": plan.frames,
                "width": plan.width,
                "height": plan.height,
                "fps": plan.fps,
                "seed": plan.seed,
                "scene_frames": [bundle.frames[0].scene_frame, bundle.frames[-1].scene_frame],
            }
            return store.add(incoming, fields)
        finally:
            if os.path.isdir(incoming):
                shutil.rmtree(incoming, ignore_errors=True)

    def job_or_404(job_id: str):
        try:
            return store.get(job_id)
        except KeyError:
            raise _HttpError(404, f"no job {job_id!r} on this server") from None

    @app.get(f"{api.PREFIX}/jobs")
    def list_jobs():
        return {"jobs": store.list()}

    @app.get(f"{api.PREFIX}/jobs/{{job_id}}")
    def get_job(job_id: str):
        return job_or_404(job_id)

    def finished_file(job_id: str, name: str):
        job = job_or_404(job_id)
        if job["state"] != api.DONE:
            raise _HttpError(409, f"job {job_id} is {job['state']}; its outputs exist once it is done")
        return os.path.join(store.take_dir(job_id), name)

    @app.get(f"{api.PREFIX}/jobs/{{job_id}}/video")
    def get_video(job_id: str):
        return FileResponse(finished_file(job_id, "video.mp4"), media_type="video/mp4", filename=f"{job_id}.mp4")

    @app.get(f"{api.PREFIX}/jobs/{{job_id}}/result")
    def get_result(job_id: str):
        with open(finished_file(job_id, "result.json"), encoding="utf-8") as fh:
            return JSONResponse(json.load(fh))

    @app.get(f"{api.PREFIX}/jobs/{{job_id}}/frames")
    def get_frames(job_id: str):
        folder = finished_file(job_id, "frames")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n in sorted(os.listdir(folder)):
                zf.write(os.path.join(folder, n), f"frames/{n}")
        return Response(buf.getvalue(), media_type="application/zip")

    @app.post(f"{api.PREFIX}/jobs/{{job_id}}/cancel")
    def cancel(job_id: str):
        job = job_or_404(job_id)
        if job["state"] in api.FINISHED:
            raise _HttpError(409, f"job {job_id} is already {job['state']}")
        if not store.cancel_queued(job_id):
            worker.cancel(job_id)
        return store.get(job_id)

    @app.delete(f"{api.PREFIX}/jobs/{{job_id}}", status_code=204)
    def delete(job_id: str):
        job = job_or_404(job_id)
        if job["state"] == api.RUNNING:
            worker.cancel(job_id)
            for _ in range(600):  # a step ends within seconds; wait for it
                if store.is_finished(job_id):
                    break
                threading.Event().wait(0.1)
            else:
                raise _HttpError(409, f"job {job_id} did not stop in time; try again")
        store.delete(job_id)
        return Response(status_code=204)

    app.state.store = store
    app.state.worker = worker
    return app


class _HttpError(Exception):
    def __init__(self, status: int, message: str, problems=None):
        super().__init__(message)
        self.status, self.message, self.problems = status, message, problems or []


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def serve(config: ServerConfig) -> None:
    import uvicorn

    check_bind(config)
    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", timeout_graceful_shutdown=5)
