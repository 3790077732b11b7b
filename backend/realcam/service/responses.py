"""What the server answers besides a route's own body: every refusal in one shape, and files with their digest.

A refusal is {"error": message, "problems": [...], ...} with its status code (realcam_core.api), its text
redacted (redact.py), and `Connection: close`, so a client still sending (or stalled sending) a body frees
its socket now. Routes raise HttpError; the handlers installed here turn it, a bad parameter, a full disk
or a fault of ours into that shape.
"""

from __future__ import annotations

import contextlib
import logging
import os

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from realcam_core import api

from .jobstore import DISK_FULL

log = logging.getLogger(__name__)


class HttpError(Exception):
    """A refusal from a route: status, message, problems, and extra fields for the body (health's own)."""

    def __init__(self, status: int, message: str, problems=None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.problems, self.extra = status, message, problems or [], extra or {}


def error(redact, code: int, message: str, problems=None, extra: dict | None = None, headers=None) -> JSONResponse:
    body = {"error": redact(message), "problems": [redact(str(p)) for p in problems or []], **(extra or {})}
    # Closing frees the socket now even when the client is still (or stalled) sending a body.
    return JSONResponse(body, status_code=code, headers={**(headers or {}), "Connection": "close"})


def install_handlers(app: FastAPI) -> None:
    """Every exception a route lets out answers in the error shape; app.state.service.redact scrubs it."""

    def reply(request, code, message, problems=None, extra=None, headers=None):
        return error(request.app.state.service.redact, code, message, problems, extra, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _routing(request, exc: StarletteHTTPException):
        # Starlette's own refusals (no such path, a method a path does not take) in the one error shape.
        where = f"{request.method} {request.url.path[:200]}"
        if exc.status_code == 404:
            message = f"{where}: no such path on this server (the API is under {api.PREFIX}/, listed at /docs)"
        elif exc.status_code == 405:
            message = f"{where}: the path does not take this method (it takes {(exc.headers or {}).get('Allow', '?')})"
        else:
            message = f"{where}: {exc.detail}"
        return reply(request, exc.status_code, message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_parameters(request, exc: RequestValidationError):
        problems = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return reply(request, 422, "bad request parameters", problems)

    @app.exception_handler(OSError)
    async def _os_error(request, exc: OSError):
        if exc.errno in DISK_FULL:
            return reply(request, 507, "the server's disk is full: free space in its data folder, then try again")
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return reply(request, 500, "the server could not read or write a file (see its log)")

    @app.exception_handler(Exception)
    async def _internal(request, exc: Exception):
        return reply(request, 500, "internal error in the server (see its log)")

    @app.exception_handler(HttpError)
    async def _http_error(request, exc: HttpError):
        return reply(request, exc.status, exc.message, exc.problems, exc.extra)


def send_file(path: str, media_type: str, digest: str, remove: bool = False, filename=None, headers=None):
    """A file from disk with its length and Repr-Digest; removed after sending when remove is set."""
    return FileResponse(
        path,
        media_type=media_type,
        filename=filename,
        headers={api.DIGEST_HEADER: digest, **(headers or {})},
        background=BackgroundTask(remove_file, path) if remove else None,
    )


def remove_file(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
