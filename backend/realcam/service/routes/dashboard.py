"""The dashboard: a studio's view of the queue in the browser (the page: service/dashboard/static/).

    GET  /                         redirects to /ui
    GET  /ui                       the page (open: it holds no data; it asks for the token when one is set)
    GET  /ui/static/NAME           its script, style and icon (open)
    POST /ui/login                 {"token": "..."} -> 204 and a session cookie; 401 wrong; 429 too many wrong
    POST /ui/logout                204, the session ended and its cookie removed
    GET  /ui/api/state             {"server": {...}, "jobs": [...], "login": {...}}: what the page shows, polled
    GET  /ui/api/jobs/ID/poster/W  W: preview or take; a small JPEG of its middle frame

The page plays a take from GET /v1/jobs/ID/video (range requests, so it can seek) and cancels and deletes
through the API as any client does; with a token set it sends the session cookie instead (guard.py).

Live updates are polling, not server-sent events: one small JSON answer a second (an ETag makes an unchanged
one a 304) needs no connection held open, so it meets the server's connection limits and stalled-socket
timeouts as any request does, passes every proxy, and picks up again by itself after a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..context import ServiceDep
from ..dashboard.sessions import LoginLimiter
from ..dashboard.views import Views
from ..responses import HttpError
from .jobs import job_or_404

router = APIRouter(include_in_schema=False)

STATIC = {  # every file the page is made of, and its type: nothing else is served from the folder
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
# Only this server's own files, no inline script or style, never framed by another page, no referrer sent.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
MAX_LOGIN_BYTES = 4096


_made = threading.Lock()


def _views(request: Request) -> Views:
    """The app's dashboard state (its job summaries and posters, its login limiter), made on first use."""
    app = request.app
    with _made:
        if getattr(app.state, "dashboard_views", None) is None:
            app.state.dashboard_logins = LoginLimiter()
            app.state.dashboard_views = Views(app.state.service)
    return app.state.dashboard_views


def _static(name: str) -> bytes:
    return resources.files("realcam.service.dashboard").joinpath("static", name).read_bytes()


def _secure(request: Request) -> bool:
    """Served over https (uvicorn takes a local proxy's X-Forwarded-Proto): the cookie is then Secure."""
    return request.url.scheme == "https"


@router.get("/")
def root():
    return RedirectResponse("/ui", status_code=307)


@router.get("/ui")
def page():
    return Response(_static("index.html"), media_type=STATIC["index.html"], headers=_page_headers())


@router.get("/ui/static/{name}")
def static(name: str):
    if name not in STATIC:
        raise HttpError(404, f"the dashboard has no file {name!r}")
    return Response(_static(name), media_type=STATIC[name], headers=_page_headers())


def _page_headers() -> dict:
    return {**PAGE_HEADERS, "Cache-Control": "no-cache"}


async def _small_json(request: Request) -> dict:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BYTES:
            raise HttpError(413, f"a login is at most {MAX_LOGIN_BYTES} bytes")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise HttpError(400, 'send JSON: {"token": "..."}') from None
    if not isinstance(data, dict):
        raise HttpError(400, 'send JSON: {"token": "..."}')
    return data


@router.post("/ui/login")
async def login(request: Request, svc: ServiceDep):
    _views(request)
    guard, limiter = svc.guard, request.app.state.dashboard_logins
    if not guard.token:
        raise HttpError(409, "this server has no token: the dashboard needs no login")
    client = request.client.host if request.client else "?"
    wait = limiter.wait_s(client)
    if wait > 0:
        raise _too_many(wait)
    token = (await _small_json(request)).get("token")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), guard.token.encode()):
        limiter.failed(client)
        wait = limiter.wait_s(client)
        if wait > 0:
            raise _too_many(wait)
        raise HttpError(401, "wrong token: use the server's REALCAM_TOKEN")
    limiter.succeeded(client)
    session = guard.sessions.create()
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.headers.append("Set-Cookie", guard.sessions.set_cookie(session, _secure(request)))
    return response


def _too_many(wait: float) -> HttpError:
    seconds = max(1, int(wait + 0.999))
    return HttpError(429, f"too many wrong tokens: try again in {seconds} s", extra={"retry_after_s": seconds})


@router.post("/ui/logout", status_code=204)
def logout(request: Request, svc: ServiceDep):
    sessions = svc.guard.sessions
    session = sessions.from_cookies(request.headers.get("cookie"))
    if session is not None:
        sessions.revoke(session)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    for cookie in sessions.clear_cookies(_secure(request)):
        response.headers.append("Set-Cookie", cookie)
    return response


@router.get("/ui/api/state")
def state(request: Request, svc: ServiceDep):
    views = _views(request)
    guard = svc.guard
    by_cookie = bool(guard.token) and not guard.token_ok(request.headers.get("authorization"))
    body = {
        "server": views.server(),
        "jobs": views.jobs(),
        "login": {"token_required": bool(guard.token), "session": by_cookie},
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache, private", "Cross-Origin-Resource-Policy": "same-origin"}
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    return Response(raw, media_type="application/json", headers=headers)


@router.get("/ui/api/jobs/{job_id}/poster/{which}")
def poster(job_id: str, which: str, request: Request, svc: ServiceDep):
    views = _views(request)
    if which not in ("preview", "take"):
        raise HttpError(404, f"no poster {which!r}: preview or take")
    job = job_or_404(svc, job_id)
    image = views.poster(job, which)
    if image is None:
        raise HttpError(409 if which == "take" else 404, f"job {job_id} has no {which} to show (yet)")
    # A job's preview and finished take never change: the browser may keep them. Kept, a page on another port
    # (the same site, the same cache) could show them without asking the server: CORP stops that in the browser.
    headers = {"Cache-Control": "private, max-age=86400", "Cross-Origin-Resource-Policy": "same-origin"}
    return Response(image, media_type="image/jpeg", headers=headers)
