"""Who may ask: the Host, Origin, token and content-type rules, checked before any route runs.

A page in the user's browser can reach a server on loopback: by DNS rebinding
(its own name resolving to 127.0.0.1, so the browser sends `Host: evil.example`)
or by a cross-origin form or fetch, which the browser sends without asking when
the content type is a "simple" one. So, as Jupyter and Ollama do: the Host must
name this server, an Origin must be this server's own, and every change carries
a content type a browser would have to ask before sending. The rules are stated
for clients in realcam_core.api. GuardMiddleware applies them to every request,
before routing and before any body is read.

The dashboard (routes/dashboard.py) logs in once and then sends a session cookie
(HttpOnly, SameSite=Strict) where programs send the token; what else a request made
with that cookie must carry is dashboard/sessions.py's (Sessions.refusal).
"""

from __future__ import annotations

import hmac
import ipaddress
import re

from realcam_core import api

from .dashboard.sessions import Sessions
from .responses import error

_HOST = re.compile(r"^(?:\[(?P<ip6>[0-9a-fA-F:.]+)\]|(?P<name>[A-Za-z0-9_.-]+))(?::(?P<port>[0-9]{1,5}))?$")
_ORIGIN = re.compile(r"^(?P<scheme>https?)://(?P<host>[^/?#@]+)$", re.IGNORECASE)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
CHANGES = ("POST", "PUT", "PATCH", "DELETE")
MAX_URL_BYTES = api.MAX_URL_BYTES
# Open without the token: health (clients find the server by it) and the dashboard's page and login, which
# hold no data of the server's (routes/dashboard.py).
OPEN_PATHS = (f"{api.PREFIX}/health", "/", "/ui", "/ui/login", "/ui/logout")
OPEN_STATIC = re.compile(r"^/ui/static/[A-Za-z0-9_-]+\.[a-z]+$")  # the page's files: one name, no "..", no "/"


def _ip(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def host_name(host_header: str) -> str | None:
    """The name or address in a Host header (lower case, no port, no brackets); None when malformed."""
    m = _HOST.match(host_header.strip())
    if not m:
        return None
    name = (m.group("ip6") or m.group("name")).lower().rstrip(".")
    return name or None


class Guard:
    def __init__(self, bind_host: str, allow_hosts=(), token: str | None = None, port: int = api.DEFAULT_PORT):
        bind = bind_host.strip("[]").lower()
        bind_ip = _ip(bind)
        self.names = set(LOOPBACK_NAMES) | {h.strip().lower().rstrip(".") for h in allow_hosts if h.strip()}
        self.any_host = "*" in self.names
        if not (bind_ip is not None and bind_ip.is_unspecified):
            self.names.add(bind)
        # Bound beyond loopback (with a token), clients use this machine's addresses: any IP literal
        # is fine, since DNS rebinding needs a name.
        self.any_ip = bind != "localhost" and not (bind_ip is not None and bind_ip.is_loopback)
        self.token = token
        self.sessions = Sessions(f"realcam-{port}")  # the dashboard's logins

    def host_ok(self, host_header: str | None) -> bool:
        if host_header is None:
            return True  # HTTP/1.0 without Host: not a browser
        name = host_name(host_header)
        if name is None:
            return False
        if self.any_host or name in self.names:
            return True
        ip = _ip(name)
        return ip is not None and (ip.is_loopback or self.any_ip)

    @staticmethod
    def origin_ok(origin: str, host_header: str | None) -> bool:
        """Only the server's own pages (its /docs): the origin's host is the request's Host."""
        m = _ORIGIN.match(origin.strip())
        return bool(m and host_header and m.group("host").lower() == host_header.strip().lower())

    def token_ok(self, authorization: str | None) -> bool:
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        given = credentials.strip().encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given, (self.token or "").encode())

    def refusal(self, method: str, path: str, headers: dict) -> tuple[int, str] | None:
        """(status, message) when the request must be refused, else None. headers: lower-case names."""
        host = headers.get("host")
        if not self.host_ok(host):
            return 403, (
                f"this server does not answer to the host {host!r}: use localhost or 127.0.0.1, or start it "
                "with --allow-host NAME for a name that points to it (a web page cannot reach it by DNS rebinding)"
            )
        origin = headers.get("origin")
        if origin is not None and not self.origin_ok(origin, host):
            return 403, f"requests from web pages ({origin}) are not accepted: call the API from a program or curl"
        if self.token and not is_open(path) and not self.token_ok(headers.get("authorization")):
            refused = self.sessions.refusal(method in CHANGES, headers)  # the dashboard's login, or 401
            if refused is not None:
                return refused
        if method in CHANGES:
            media = api.media_type(headers.get("content-type"))
            want = expected_type(method, path)
            if not want[0](media):
                return 415, f"{method} {path} needs Content-Type: {want[1]}, not {media or 'none'}"
        return None


def is_open(path: str) -> bool:
    return path in OPEN_PATHS or OPEN_STATIC.match(path) is not None


def expected_type(method: str, path: str):
    """(accepts(media_type), what to send) for a change to path."""
    if method == "POST" and path.rstrip("/") == f"{api.PREFIX}/jobs":
        return (lambda m: m == api.BUNDLE_CONTENT_TYPE), api.BUNDLE_CONTENT_TYPE
    if method == "POST" and path.rstrip("/") == f"{api.PREFIX}/depth":
        return api.is_depth_content_type, "an image type (image/jpeg, image/png, ...) or application/octet-stream"
    if method == "POST" and path.rstrip("/") == api.track_path():
        return api.is_track_content_type, f"a video type (video/mp4, ...) or {api.TRACK_ARCHIVE_CONTENT_TYPE}"
    return (lambda m: m == api.CONTROL_CONTENT_TYPE), api.CONTROL_CONTENT_TYPE


class GuardMiddleware:
    """Pure ASGI: the Host, Origin, token and content-type rules, before routing and before any body is read."""

    def __init__(self, app, guard: Guard, redact):
        self.app, self.guard, self.redact = app, guard, redact

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            url_bytes = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            if url_bytes > MAX_URL_BYTES:
                message = f"the URL is {url_bytes} bytes long; at most {MAX_URL_BYTES} (no request of this API is)"
                await error(self.redact, 414, message)(scope, receive, send)
                return
            headers = {}
            for k, v in scope["headers"]:
                name = k.decode("latin-1").lower()
                if name in ("host", "origin") and name in headers:
                    await error(self.redact, 400, f"more than one {name} header")(scope, receive, send)
                    return
                headers[name] = v.decode("latin-1")
            refused = self.guard.refusal(scope["method"], scope["path"], headers)
            if refused is not None:
                await error(self.redact, *refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)
