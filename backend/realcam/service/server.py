"""`realcam serve`: the backend over HTTP (FastAPI on uvicorn). The API is defined in realcam_core.api.

Security: binds to 127.0.0.1 by default; any other address needs a token of at
least 16 characters, checked in constant time. Before any route runs, the Host
must name this server, an Origin must be its own, and a change must carry its
content type (guard.py), so a web page the user visits cannot drive it. Uploads
are raw bodies counted as they stream, with an idle and an overall time limit,
so the size limit holds before anything is stored and a stalled client frees
its socket and temporary file. An archive is judged from its central directory
before one byte is unpacked, and the server unpacks a bounded amount at once.
Job ids are server-made and checked before they touch the disk; model names
from clients are resolved against known models, Hugging Face ids and the
folders configured here, never as paths. No absolute path of this machine
reaches a client (redact.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
import zipfile
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask

from realcam_core import api
from realcam_core.bundle import (
    SUPPORTED_SCHEMA_VERSIONS,
    BundleError,
    Limits,
    inspect_archive,
    unpack_bundle,
    validate_bundle,
)

from .. import __version__, catalog
from ..errors import UserError
from ..generate.adapters import HUB_ID
from ..generate.engine import RunOptions, plan_job
from ..runtime import device_info, hub_cache
from .guard import Guard
from .jobstore import Duplicate, JobBusy, JobStore
from .redact import Redactor
from .transfer import Digests, zip_frames
from .worker import DISK_FULL, Worker

log = logging.getLogger(__name__)


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
    allow_hosts: list = field(default_factory=list)  # extra names the Host header may carry
    body_timeout: float = 60.0  # seconds an upload may send nothing
    upload_timeout: float = 1800.0  # seconds a whole upload may take
    cluster: str | None = None  # a Ray cluster's address: jobs run there (cluster.py), not in this process


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(config: ServerConfig) -> None:
    if is_loopback(config.host):
        return
    if not config.token:
        raise UserError(
            f"refusing to listen on {config.host}: other machines could reach this server. Set a token "
            "(REALCAM_TOKEN=... or --token) to bind to a non-loopback address, or keep the default 127.0.0.1"
        )
    if len(config.token) < api.MIN_REMOTE_TOKEN_CHARS:
        raise UserError(
            f"refusing to listen on {config.host} with a token of {len(config.token)} characters: other machines "
            f"could guess it. Use at least {api.MIN_REMOTE_TOKEN_CHARS} (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))')"
        )


class _UnpackBudget:
    """At most `limit` bytes unpacked at once across all submissions; one is always let through."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self._cond = threading.Condition()

    @contextmanager
    def take(self, n: int):
        with self._cond:
            while self.used and self.used + n > self.limit:
                self._cond.wait()
            self.used += n
        try:
            yield
        finally:
            with self._cond:
                self.used -= n
                self._cond.notify_all()


def create_app(config: ServerConfig):
    store = JobStore(config.data_dir)
    redact = Redactor(
        {**config.model_folders, **config.depth_model_folders}, os.path.abspath(config.data_dir), hub_cache()
    )
    run_options = RunOptions(
        device=config.device, offload=config.offload, vae_tiling=config.vae_tiling, dtype=config.dtype
    )
    if config.cluster:
        from .cluster import ClusterWorker  # imports Ray: only for --cluster

        worker = ClusterWorker(store, run_options, config.model_folders, config.cluster, redact)
    else:
        worker = Worker(store, run_options, config.model_folders, redact)
    limits = Limits(
        max_frames=config.max_frames, max_pixels=config.max_pixels, max_side=max(4096, int(config.max_pixels**0.5) * 4)
    )
    # Two bundles of the largest allowed size may unpack at once; more wait their turn.
    unpack_budget = _UnpackBudget(2 * limits.max_unpacked_bytes)
    guard = Guard(config.host, config.allow_hosts, config.token)
    depth_lock = threading.Lock()
    depth_cache: dict = {}
    file_digest = Digests()

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

    def error(code: int, message: str, problems=None, **extra):
        body = {"error": redact(message), "problems": [redact(str(p)) for p in problems or []], **extra}
        # Closing frees the socket now even when the client is still (or stalled) sending a body.
        return JSONResponse(body, status_code=code, headers={"Connection": "close"})

    class _Guarded:
        """Pure ASGI: the Host, Origin, token and content-type rules, before routing and before any body is read."""

        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                headers = {}
                for k, v in scope["headers"]:
                    name = k.decode("latin-1").lower()
                    if name in ("host", "origin") and name in headers:
                        await error(400, f"more than one {name} header")(scope, receive, send)
                        return
                    headers[name] = v.decode("latin-1")
                refused = guard.refusal(scope["method"], scope["path"], headers)
                if refused is not None:
                    await error(*refused)(scope, receive, send)
                    return
            await self.app(scope, receive, send)

    app.add_middleware(_Guarded)

    @app.exception_handler(RequestValidationError)
    async def _bad_parameters(request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return error(422, "bad request parameters", problems)

    @app.exception_handler(OSError)
    async def _os_error(request, exc: OSError):
        if exc.errno in DISK_FULL:
            return error(507, "the server's disk is full: free space in its data folder, then try again")
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error(500, "the server could not read or write a file (see its log)")

    @app.exception_handler(Exception)
    async def _internal(request, exc: Exception):
        return error(500, "internal error in the server (see its log)")

    async def receive_body(request: Request, suffix: str) -> tuple[str, str]:
        """Stream the body to a temporary file: (path, SHA-256 hex). Refused past the size or time limits."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > config.max_upload_bytes:
            raise _HttpError(413, f"upload of {int(declared)} bytes is over the limit of {config.max_upload_bytes}")
        fd, path = tempfile.mkstemp(suffix=suffix, dir=store.uploads)
        size, digest = 0, hashlib.sha256()
        loop = asyncio.get_running_loop()
        end = loop.time() + config.upload_timeout
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    left = end - loop.time()
                    try:
                        if left <= 0:
                            raise TimeoutError
                        message = await asyncio.wait_for(request.receive(), min(config.body_timeout, left))
                    except TimeoutError:
                        raise _HttpError(
                            408,
                            f"the upload stalled: nothing arrived for {config.body_timeout:g} s"
                            if left > config.body_timeout
                            else f"the upload took longer than {config.upload_timeout:g} s",
                        ) from None
                    if message["type"] == "http.disconnect":
                        raise _HttpError(400, "the client went away during the upload")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > config.max_upload_bytes:
                        raise _HttpError(413, f"upload is over the limit of {config.max_upload_bytes} bytes")
                    out.write(chunk)
                    digest.update(chunk)
                    if not message.get("more_body", False):
                        break
        except BaseException:
            os.unlink(path)
            raise
        if size == 0:
            os.unlink(path)
            raise _HttpError(400, "no file: send it as the request body (e.g. curl --data-binary @job.zip)")
        return path, digest.hexdigest()

    @app.exception_handler(_HttpError)
    async def _http_error(request, exc: _HttpError):
        return error(exc.status, exc.message, exc.problems)

    def send_file(path: str, media_type: str, remove: bool = False, filename: str | None = None, headers=None):
        """A file from disk with its length and digest; removed after sending when remove is set."""
        return FileResponse(
            path,
            media_type=media_type,
            filename=filename,
            headers={api.DIGEST_HEADER: file_digest(path), **(headers or {})},
            background=BackgroundTask(_remove, path) if remove else None,
        )

    @app.get(f"{api.PREFIX}/health")
    def health():
        w = worker.status()
        loaded = worker.engine.loaded_model()
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
            **store.counts(),
        }
        if body["status"] == "ok":
            return body
        body["worker"]["error"] = body["worker"]["error"] or "the worker is not running"
        return error(503, f"the worker cannot run jobs: {body['worker']['error']}", **body)

    @app.get(f"{api.PREFIX}/models")
    def models():
        return {
            "video": catalog.video_models(config.model_folders),
            "depth": catalog.depth_models(config.depth_model_folders),
        }

    def depth_size(size: str | None):
        """The requested output size, checked against this server's limits before the photo is read."""
        if size is None:
            return None
        from ..depth.estimate import parse_size

        try:
            w, h = parse_size(size)
        except UserError as e:
            raise _HttpError(422, str(e).replace("--size", "size")) from None
        if w * h > config.max_pixels or max(w, h) > limits.max_side:
            raise _HttpError(
                413,
                f"size {w}x{h} is {w * h} pixels, over this server's limit of {config.max_pixels} "
                f"(realcam serve --max-pixels)",
            )
        return w, h

    @app.post(f"{api.PREFIX}/depth")
    async def depth(request: Request, size: str | None = None, focal_px: float | None = None, model: str | None = None):
        out_size = depth_size(size)
        if focal_px is not None and not (math.isfinite(focal_px) and focal_px > 0):
            raise _HttpError(422, f"focal_px {focal_px}: must be a finite positive number of pixels")
        path, _ = await receive_body(request, ".img")
        try:
            return await run_in_threadpool(_depth_sync, path, out_size, focal_px, model)
        finally:
            _remove(path)

    def _depth_sync(path, out_size, focal_px, model):
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
                    size=out_size,
                    focal_px=focal_px,
                    depth_model=depth_cache["model"],
                    max_pixels=config.max_pixels,
                )
            if name in config.depth_model_folders:  # the client's name for it, not this machine's folder
                result = dataclasses.replace(result, depth_source=name)
        except UserError as e:
            return error(422, str(e).replace(path, "the uploaded photo"))
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
        summary = redact(depth_mod.summary("upload", "response", result))
        return send_file(zip_path, "application/zip", remove=True, headers={"X-Realcam-Summary": summary})

    @app.post(f"{api.PREFIX}/jobs", status_code=201)
    async def submit(request: Request):
        path, digest = await receive_body(request, ".zip")
        try:
            return await run_in_threadpool(_submit_sync, path, digest)
        finally:
            _remove(path)

    def _bundle_refused(e: BundleError):
        status = {"not-zip": 400, "too-large": 413}.get(e.kind, 422)
        return _HttpError(status, "the upload is not a usable bundle archive", e.problems)

    def _submit_sync(path, digest):
        existing = store.find_by_digest(digest)
        if existing is not None:
            return JSONResponse(existing, status_code=200)
        try:
            unpacked = inspect_archive(path, limits)  # before anything is written
        except BundleError as e:
            raise _bundle_refused(e) from None
        with unpack_budget.take(unpacked):
            incoming = store.new_incoming()
            try:
                bundle_dir = os.path.join(incoming, "bundle")
                try:
                    unpack_bundle(path, bundle_dir, limits)
                except BundleError as e:
                    raise _bundle_refused(e) from None
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
                try:
                    return JSONResponse(store.add(incoming, fields), status_code=201)
                except Duplicate as d:  # the same bundle arrived at the same time: one job
                    return JSONResponse(d.job, status_code=200)
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
        return send_file(finished_file(job_id, "video.mp4"), "video/mp4", filename=f"{job_id}.mp4")

    @app.get(f"{api.PREFIX}/jobs/{{job_id}}/result")
    def get_result(job_id: str):
        with open(finished_file(job_id, "result.json"), encoding="utf-8") as fh:
            body = json.dumps(redact.json(json.load(fh)), indent=1).encode("utf-8")
        digest = api.repr_digest(hashlib.sha256(body).digest())
        return Response(body, media_type="application/json", headers={api.DIGEST_HEADER: digest})

    @app.get(f"{api.PREFIX}/jobs/{{job_id}}/frames")
    def get_frames(job_id: str):
        path = zip_frames(finished_file(job_id, "frames"), store.uploads)
        return send_file(path, "application/zip", remove=True)

    @app.post(f"{api.PREFIX}/jobs/{{job_id}}/cancel")
    def cancel(job_id: str):
        job = job_or_404(job_id)
        if job["state"] in api.FINISHED:
            raise _HttpError(409, f"job {job_id} is already {job['state']}")
        try:
            cancelled = store.cancel_queued(job_id)
        except KeyError:
            raise _HttpError(404, f"no job {job_id!r} on this server") from None
        if not cancelled:
            worker.cancel(job_id)
        return job_or_404(job_id)

    @app.delete(f"{api.PREFIX}/jobs/{{job_id}}", status_code=204)
    def delete(job_id: str):
        deadline = time.monotonic() + 60  # a step ends within seconds; wait for it
        while True:
            try:
                store.delete(job_id)
                return Response(status_code=204)
            except KeyError:  # never there, or another DELETE got there first
                raise _HttpError(404, f"no job {job_id!r} on this server") from None
            except JobBusy:
                if time.monotonic() > deadline:
                    raise _HttpError(409, f"job {job_id} did not stop in time; try again") from None
                worker.cancel(job_id)
                time.sleep(0.1)

    app.state.store = store
    app.state.worker = worker
    return app


class _HttpError(Exception):
    def __init__(self, status: int, message: str, problems=None):
        super().__init__(message)
        self.status, self.message, self.problems = status, message, problems or []


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def serve(config: ServerConfig) -> None:
    import uvicorn

    check_bind(config)
    app = create_app(config)
    uvicorn.run(app, host=config.host, port=config.port, log_level="info", timeout_graceful_shutdown=5)
