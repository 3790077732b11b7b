"""What clients send: a raw body streamed to a file under the limits, and a bundle archive made into a job.

A body is counted as it streams, with an idle and an overall time limit, so the size limit holds before
anything is stored and a stalled client frees its socket and temporary file. An archive is judged from its
central directory before one byte is unpacked, and the server unpacks a bounded amount at once
(UnpackBudget); the unpacked bundle is validated (its manifest's values counted before it is parsed), its
images decoded one at a time as the engine will read them, and the job planned against this server's
models before it becomes a job. At most MAX_CHECKS bundles are checked at once (the route waits its turn
without a thread), so the memory submissions take is bounded whatever arrives together.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import threading
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fastapi import Request

from realcam_core.bundle import BundleError, inspect_archive, unpack_bundle, validate_bundle

from ..errors import UserError
from ..generate.job import plan_job
from .jobstore import Duplicate
from .responses import HttpError

if TYPE_CHECKING:
    from .context import Service

MAX_CHECKS = 2  # bundles validated at once; more wait their turn
DECODE_THREADS = 4  # per bundle, decoding its images at submit


class UnpackBudget:
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


async def receive_body(svc: Service, request: Request, suffix: str) -> tuple[str, str]:
    """Stream the body to a temporary file: (path, SHA-256 hex). Refused past the size or time limits."""
    config = svc.config
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > config.max_upload_bytes:
        raise HttpError(413, f"upload of {int(declared)} bytes is over the limit of {config.max_upload_bytes}")
    fd, path = tempfile.mkstemp(suffix=suffix, dir=svc.store.uploads)
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
                    raise HttpError(
                        408,
                        f"the upload stalled: nothing arrived for {config.body_timeout:g} s"
                        if left > config.body_timeout
                        else f"the upload took longer than {config.upload_timeout:g} s",
                    ) from None
                if message["type"] == "http.disconnect":
                    raise HttpError(400, "the client went away during the upload")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > config.max_upload_bytes:
                    raise HttpError(413, f"upload is over the limit of {config.max_upload_bytes} bytes")
                out.write(chunk)
                digest.update(chunk)
                if not message.get("more_body", False):
                    break
    except BaseException:
        os.unlink(path)
        raise
    if size == 0:
        os.unlink(path)
        raise HttpError(400, "no file: send it as the request body (e.g. curl --data-binary @job.zip)")
    return path, digest.hexdigest()


def _bundle_refused(e: BundleError) -> HttpError:
    status = {"not-zip": 400, "too-large": 413}.get(e.kind, 422)
    return HttpError(status, "the upload is not a usable bundle archive", e.problems)


def submit_bundle(svc: Service, path: str, digest: str) -> tuple[dict, bool]:
    """The job for an uploaded bundle archive: (job, True) when it is new, (the existing job, False) when the
    same bundle is already queued, running or done. Refused (HttpError) when it is not a usable bundle."""
    store, config, limits = svc.store, svc.config, svc.limits
    existing = store.find_by_digest(digest)
    if existing is not None:
        return existing, False
    try:
        unpacked = inspect_archive(path, limits)  # before anything is written
    except BundleError as e:
        raise _bundle_refused(e) from None
    with svc.unpack_budget.take(unpacked):
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
                raise HttpError(422, f"the bundle failed validation: {problems[0]}{more}", problems)
            problems = undecodable_images(bundle_dir, bundle)
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise HttpError(422, f"the bundle's images cannot be read: {problems[0]}{more}", problems)
            name = bundle.settings.model
            try:
                plan, _, _ = plan_job(
                    bundle, config.model_folders.get(name, name), allow_local=name in config.model_folders
                )
            except UserError as e:
                raise HttpError(422, str(e)) from None
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
                return store.add(incoming, fields), True
            except Duplicate as d:  # the same bundle arrived at the same time: one job
                return d.job, False
        finally:
            if os.path.isdir(incoming):
                shutil.rmtree(incoming, ignore_errors=True)


def undecodable_images(folder: str, bundle) -> list[str]:
    """The reference and previews decoded once each, as the engine will read them: a file whose pixels are
    garbage, or whose compressed text or colour profile unpacks past Pillow's limits (1 MiB a chunk, 64 MiB
    in all: a decompression bomb), is named here rather than failing the job later. It costs what the engine
    pays to read the previews once more; Pillow decodes without the GIL, so a few threads share the work,
    each holding one image at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    def problem(name: str) -> str | None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(os.path.join(folder, name)) as im:
                    im.load()
        except Exception as e:  # Pillow raises OSError, ValueError, SyntaxError, zlib.error... for bad data
            return f"{name}: cannot be decoded ({type(e).__name__}: {str(e)[:200]})"
        return None

    names = [bundle.reference_image, *(f.preview for f in bundle.frames)]
    with ThreadPoolExecutor(max_workers=min(DECODE_THREADS, os.cpu_count() or 1)) as pool:
        return [p for p in pool.map(problem, names) if p is not None]
