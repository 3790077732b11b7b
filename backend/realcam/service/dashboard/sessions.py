"""A dashboard login: the token is sent once, in the body of POST /ui/login, and the browser then holds a
session cookie instead of the token.

Why a session and not the token itself in the cookie: browsers send a host's cookies to every port of that
host, so another web server on the same machine name receives it; a session id is worth only this server's
dashboard, ends after a working day unused or a week at most, ends at logout and at a restart, and tells
nothing of the token the add-on and scripts use. Sessions live in memory, found by the SHA-256 of their id
(so a lookup's timing says nothing about a valid id), and there are at most MAX_SESSIONS.

Wrong tokens are rate-limited (LoginLimiter): a few per client a minute, and a bound for all clients
together, since a local attacker can claim any address in X-Forwarded-For.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict, deque

IDLE_S = 12 * 3600  # a session unused this long ends
MAX_AGE_S = 7 * 24 * 3600  # and every session ends this long after its login (the cookie's Max-Age)
MAX_SESSIONS = 256  # the oldest ends when one more logs in
SECURE_PREFIX = "__Host-"  # over https: a cookie only this host may set, Secure and for Path=/ (RFC 6265bis)


def _key(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).digest()


def cookie_values(cookie_header: str | None, names) -> list[str]:
    """The values of the cookies with these names in a Cookie header (a browser may send a name twice)."""
    out = []
    for part in (cookie_header or "").split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name in names:
            out.append(value.strip().strip('"'))
    return out


class Sessions:
    """The logged-in dashboards. name: the cookie's name (the server's port in it, since cookies ignore ports:
    two servers on one machine keep their own)."""

    def __init__(self, name: str, clock=time.monotonic):
        self.name = name
        self.names = (name, SECURE_PREFIX + name)
        self._clock = clock
        self._lock = threading.Lock()
        self._live: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # key -> (created, last used)

    def create(self) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._live[_key(session_id)] = (now, now)
            while len(self._live) > MAX_SESSIONS:
                self._live.popitem(last=False)
        return session_id

    def valid(self, session_id: str) -> bool:
        """Whether the id is a live session; using it keeps it from idling out."""
        key, now = _key(session_id), self._clock()
        with self._lock:
            times = self._live.get(key)
            if times is None:
                return False
            created, used = times
            if now - used > IDLE_S or now - created > MAX_AGE_S:
                del self._live[key]
                return False
            self._live[key] = (created, now)
            return True

    def from_cookies(self, cookie_header: str | None) -> str | None:
        """The live session id a request's Cookie header carries, or None."""
        for value in cookie_values(cookie_header, self.names):
            if value and self.valid(value):
                return value
        return None

    def refusal(self, change: bool, headers: dict) -> tuple[int, str] | None:
        """(status, message) when a request without the token may not pass on its session cookie, else None.

        The cookie is SameSite=Strict, but a page on another port of this host is the same site, so its
        requests carry the cookie too: a change must carry an Origin (browsers send one with every POST and
        DELETE; the guard has already checked it is this server's own), and a browser's own label of where a
        request comes from (Sec-Fetch-Site) must say this origin, or a person typing the address (none)."""
        if self.from_cookies(headers.get("cookie")) is None:
            return 401, "missing or wrong token: send Authorization: Bearer TOKEN (in a browser: log in at /ui)"
        site = headers.get("sec-fetch-site")
        if site is not None and site.strip().lower() not in ("same-origin", "none"):
            return 403, f"a request from another site ({site}) cannot use the dashboard's login"
        if change and headers.get("origin") is None:
            return 403, "a change made with the dashboard's login must come from the dashboard's own page"
        return None

    def revoke(self, session_id: str) -> None:
        with self._lock:
            self._live.pop(_key(session_id), None)

    def set_cookie(self, session_id: str, secure: bool) -> str:
        """The Set-Cookie value for a new session: only this origin's own requests carry it, never a script."""
        name = SECURE_PREFIX + self.name if secure else self.name
        flags = "; Secure" if secure else ""
        return f"{name}={session_id}; Path=/; Max-Age={MAX_AGE_S}; HttpOnly; SameSite=Strict{flags}"

    def clear_cookies(self, secure: bool) -> list[str]:
        """Set-Cookie values that remove the session cookie (both names, whichever the browser holds)."""
        out = [f"{self.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"]
        if secure:
            out.append(f"{SECURE_PREFIX}{self.name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure")
        return out


class LoginLimiter:
    """Wrong tokens: at most PER_CLIENT per client and TOTAL from all clients in WINDOW_S seconds; past that,
    every login (a right token too, or the limit would not stop guessing) waits until the window moves on."""

    PER_CLIENT = 5
    TOTAL = 30
    WINDOW_S = 60.0
    MAX_CLIENTS = 4096  # clients remembered (the oldest forgotten first)

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._by_client: OrderedDict[str, deque] = OrderedDict()
        self._all: deque = deque()

    def _trim(self, times: deque, now: float) -> None:
        while times and now - times[0] >= self.WINDOW_S:
            times.popleft()

    def wait_s(self, client: str) -> float:
        """Seconds before this client may try again; 0 when it may now."""
        now = self._clock()
        with self._lock:
            self._trim(self._all, now)
            mine = self._by_client.get(client, deque())
            self._trim(mine, now)
            waits = [0.0]
            if len(mine) >= self.PER_CLIENT:
                waits.append(self.WINDOW_S - (now - mine[0]))
            if len(self._all) >= self.TOTAL:
                waits.append(self.WINDOW_S - (now - self._all[0]))
            return max(waits)

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            self._all.append(now)
            mine = self._by_client.pop(client, None) or deque()
            mine.append(now)
            self._by_client[client] = mine
            while len(self._by_client) > self.MAX_CLIENTS:
                self._by_client.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._by_client.pop(client, None)
