"""A small HTTP client for the backend API (standard library only; runs inside Blender).

Every call blocks: in Blender, call it from a worker thread, never the main thread.
What it guarantees to that thread:
- every call ends within `deadline` seconds, its tries again included, however slowly the server answers;
- redirects are never followed, so the token goes to the configured address only;
- a file is moved into place only when it provably arrived whole: a 200 answer with a single numeric
  Content-Length or the server's SHA-256 (Repr-Digest), and each given one matches; a cut connection is
  tried again, then reported, and no `.part` file is left behind;
- whatever the answer (not JSON, NaN or Infinity, nesting deep enough to exhaust Python's stack, the wrong
  shape, a proxy's error page), a failure is a BackendError with the reason, never a JSON or type error.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import mimetypes
import os
import socket
import tempfile
import threading
import time
import urllib.parse

from . import api
from .client_tracks import TrackCalls


class BackendError(Exception):
    """The backend answered with an error; .problems lists details (e.g. every bundle problem)."""

    def __init__(self, status: int, message: str, problems=None):
        self.status = status
        self.message = message
        self.problems = list(problems or [])
        super().__init__(f"{message} (HTTP {status})" if status else message)


class BackendUnreachable(BackendError):
    def __init__(self, url: str, reason: str):
        super().__init__(0, f"no backend answers at {url} ({reason})")
        self.url = url


def _why_no_connection(e: Exception, c: Client) -> str:
    """Why no connection was made, in words (not an errno text): the kinds a user can do something about."""
    import errno
    import ssl

    if isinstance(e, ConnectionRefusedError):
        return f"nothing is listening on port {c._port or (443 if c._scheme == 'https' else 80)} of {c._host}"
    if isinstance(e, socket.gaierror):
        return f"the host name {c._host} is not known"
    if isinstance(e, TimeoutError):  # socket.timeout is TimeoutError
        return f"no answer to the connection within {c.timeout:g} s"
    if isinstance(e, ssl.SSLError):
        return f"the secure (https) connection failed: {e.reason or 'SSL error'}"
    if isinstance(e, OSError) and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return f"this computer has no route to {c._host}"
    text = str(getattr(e, "strerror", None) or e) or type(e).__name__
    return text[:1].lower() + text[1:]


class _Cut(Exception):
    """The answer stopped before its end; worth another try."""


_MAX_JSON_BYTES = 64 * 2**20


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def _loads(raw: bytes):
    """Strict JSON (no NaN or Infinity); ValueError for anything else, a nesting too deep for Python included."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


class _Call:
    """One request on its own connection, with a watchdog that ends it at the call's deadline (`end`, on
    time.monotonic's clock, shared by every try of one call)."""

    def __init__(self, client: Client, method: str, target: str, body, headers: dict, end: float):
        self.client = client
        self.expired = threading.Event()
        self._sock = None
        left = end - time.monotonic()
        if left <= 0:
            raise BackendError(0, f"the backend at {client.base} did not answer within {client.deadline:g} s")
        cls = http.client.HTTPSConnection if client._scheme == "https" else http.client.HTTPConnection
        self.conn = cls(client._host, client._port, timeout=min(client.timeout, left), blocksize=1 << 16)
        self._timer = threading.Timer(left, self._expire)
        self._timer.daemon = True
        self._timer.start()
        try:
            self.conn.connect()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            self._raise_for(e, sent=False)
        self._sock = self.conn.sock
        try:
            self.conn.request(method, target, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may have refused the upload early (413, 415): its answer is read below
        except (OSError, http.client.HTTPException) as e:
            self.close()
            self._raise_for(e, sent=True)
        try:
            self.resp = self.conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            self._raise_for(e, sent=True)

    def _expire(self):
        self.expired.set()
        # The connection's socket, or the one its answer reads from: http.client lets go of conn.sock once an
        # answer says "Connection: close", and the answer still reads through it.
        sock = self.conn.sock or self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read; close() alone would not
            except OSError:
                pass

    def _raise_for(self, e: Exception, sent: bool):
        c = self.client
        if self.expired.is_set():
            raise BackendError(0, f"the backend at {c.base} did not answer within {c.deadline:g} s") from None
        if not sent:  # no connection: refused, no such host, or no answer to the connect
            raise BackendUnreachable(c.base, _why_no_connection(e, c)) from None
        raise BackendError(0, f"the connection to the backend at {c.base} was cut ({type(e).__name__}: {e})") from None

    def read(self, n: int) -> bytes:
        if self.expired.is_set():
            raise BackendError(0, f"the backend at {self.client.base} did not answer within {self.client.deadline:g} s")
        try:
            return self.resp.read(n)
        except (OSError, http.client.HTTPException) as e:
            if self.expired.is_set():
                self._raise_for(e, sent=True)
            raise _Cut(f"{type(e).__name__}: {e}") from None

    def read_all(self, limit: int) -> bytes:
        """The whole body, checked against Content-Length; _Cut when it ends early."""
        expected = self.length()
        parts, n = [], 0
        while chunk := self.read(1 << 16):
            n += len(chunk)
            if n > limit:
                raise BackendError(self.resp.status, f"the backend's answer is larger than {limit} bytes")
            parts.append(chunk)
        if self.expired.is_set():
            self._raise_for(TimeoutError(), sent=True)
        if expected is not None and n != expected:
            raise _Cut(f"{n} of {expected} bytes arrived")
        return b"".join(parts)

    def length(self, note: str = "") -> int | None:
        """The body's announced length; None without one, BackendError for a malformed or doubled one."""
        values = self.resp.msg.get_all("Content-Length") or []
        if not values:
            return None
        if len(values) > 1 or not values[0].strip().isdigit():
            raise BackendError(
                self.resp.status,
                f"the backend at {self.client.base} sent a malformed Content-Length ({', '.join(values)}){note}: "
                "is another program or a proxy answering on that address?",
            )
        return int(values[0])

    def close(self):
        self._timer.cancel()
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Client(TrackCalls):  # the /v1/tracks calls: client_tracks.py
    def __init__(
        self,
        base_url: str = f"http://{api.DEFAULT_HOST}:{api.DEFAULT_PORT}",
        token: str | None = None,
        timeout: float = 30.0,
        deadline: float | None = None,
        retries: int = 2,
    ):
        """timeout: seconds the server may stay silent; deadline: seconds a whole call may take
        (default ten times the timeout); retries: further tries of a download cut off midway."""
        self.base = base_url.rstrip("/")
        self.token = token or None
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else 10 * timeout
        self.retries = retries
        parts = urllib.parse.urlsplit(self.base)
        self._scheme = parts.scheme.lower()
        self._host = parts.hostname
        try:
            self._port = parts.port
        except ValueError:
            self._port = -1
        self._prefix = parts.path.rstrip("/")

    # -- plumbing -------------------------------------------------------------
    def _end(self) -> float:
        """When a call starting now must be over (time.monotonic)."""
        return time.monotonic() + self.deadline

    def _call(self, method: str, path: str, body=None, headers=None, query=None, end=None) -> _Call:
        """Send a request; the open call when the answer is a success, else BackendError."""
        if self._scheme not in ("http", "https") or not self._host or self._port == -1:
            raise BackendUnreachable(self.base, "not an http:// or https:// address with a host and port")
        target = self._prefix + path
        if query:
            target += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        h = {"Accept": "application/json", **(headers or {})}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if body is None and method in ("POST", "PUT", "DELETE"):
            body = b""
        call = _Call(self, method, target, body, h, self._end() if end is None else end)
        status = call.resp.status
        if status < 300:
            return call
        with call:
            if 300 <= status < 400:
                where = call.resp.getheader("Location") or "nowhere"
                raise BackendError(
                    status,
                    f"the backend at {self.base} answered with a redirect to {where}, which is not followed "
                    "(it would carry the token elsewhere): set the backend URL to the address that answers",
                )
            try:
                raw = call.read_all(1 << 20)
            except (_Cut, BackendError):
                raw = b""
        try:
            data = _loads(raw)
        except ValueError:  # UnicodeDecodeError is one
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            problems = data.get("problems")
            raise BackendError(status, data["error"], problems if isinstance(problems, list) else None)
        raise BackendError(status, f"{call.resp.reason or 'error'} from {self.base}{path}")

    def _json(self, method: str, path: str, shape=None, what: str = "answer", **kw):
        """The decoded JSON answer; BackendError unless it parses (strictly) and shape(data) holds."""
        with self._call(method, path, **kw) as call:
            try:
                raw = call.read_all(_MAX_JSON_BYTES)
            except _Cut as e:
                raise BackendError(0, f"the connection to the backend at {self.base} was cut ({e})") from None
            status, ctype = call.resp.status, call.resp.getheader("Content-Type") or "no type"
        if not raw and status == 204:
            return None
        try:
            data = _loads(raw)
        except ValueError as e:
            raise BackendError(
                status,
                f"the server at {self.base} answered {path} with something that is not JSON ({ctype}; {e}): "
                "is the backend URL right, or is another program on that port?",
            ) from None
        if shape is not None and not shape(data):
            raise BackendError(status, f"the backend at {self.base} sent a malformed {what} for {path}")
        return data

    def _upload_headers(self, file_path: str, content_type: str) -> dict:
        return {"Content-Type": content_type, "Content-Length": str(os.path.getsize(file_path))}

    def _save(self, method: str, path: str, dest: str, what: str, upload=None, query=None) -> str:
        """Stream an answer into dest: whole and verified, or not at all (tried again when cut, within the one
        deadline)."""
        last, end = None, self._end()
        for _ in range(1 + max(0, self.retries)):
            try:
                return self._save_once(method, path, dest, upload, query, end)
            except _Cut as e:
                last = e
        raise BackendError(
            0,
            f"the download of {what} from {self.base} was cut off {1 + max(0, self.retries)} times "
            f"({last}); nothing was saved",
        )

    def _save_once(self, method, path, dest, upload, query, end) -> str:
        folder = os.path.dirname(os.path.abspath(dest))
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(dest) + ".", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                if upload is not None:
                    file_path, ctype = upload
                    with open(file_path, "rb") as fh:
                        call = self._call(
                            method,
                            path,
                            body=fh,
                            headers=self._upload_headers(file_path, ctype),
                            query=query,
                            end=end,
                        )
                else:
                    call = self._call(method, path, query=query, end=end)
                with call:
                    expected, want = self._whole_file_proof(call, path)
                    h, n = hashlib.sha256(), 0
                    while chunk := call.read(1 << 20):
                        out.write(chunk)
                        h.update(chunk)
                        n += len(chunk)
                    if call.expired.is_set():
                        call._raise_for(TimeoutError(), sent=True)
                if expected is not None and n != expected:
                    raise _Cut(f"{n} of {expected} bytes arrived")
                if want is not None and h.digest() != want:
                    raise BackendError(
                        0, f"the file from {self.base}{path} failed its SHA-256 check (digest mismatch); not saved"
                    )
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
            return dest
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def _whole_file_proof(self, call: _Call, path: str):
        """(Content-Length, SHA-256) of a file answer, at least one of them: without either a cut answer would
        look whole. Only a 200 carries a whole file (not 206's part, nor 204's nothing)."""
        status = call.resp.status
        if status != 200:
            raise BackendError(
                status,
                f"the backend at {self.base} answered {path} with HTTP {status} {call.resp.reason}, not the whole "
                "file; nothing was saved: is another program or a proxy answering on that address?",
            )
        expected = call.length("; nothing was saved")
        want = api.parse_repr_digest(call.resp.getheader(api.DIGEST_HEADER))
        if expected is None and want is None:
            raise BackendError(
                status,
                f"the backend at {self.base} sent {path} with neither its length nor its SHA-256, so a cut "
                "download would look whole; nothing was saved: is another program or a proxy answering there?",
            )
        return expected, want

    # -- API ------------------------------------------------------------------
    def health(self) -> dict:
        return self._json("GET", f"{api.PREFIX}/health", _is_dict, "health report")

    def check_compatible(self) -> dict:
        """Health, or BackendError when the backend speaks another API or bundle version."""
        from .bundle import SCHEMA_VERSION

        h = self.health()
        versions = h.get("bundle_schema_versions")
        if h.get("api_version") != api.API_VERSION or not isinstance(versions, list) or SCHEMA_VERSION not in versions:
            raise BackendError(
                0,
                f"the backend at {self.base} speaks API {h.get('api_version')} / bundle schema "
                f"{versions}, this add-on API {api.API_VERSION} / schema {SCHEMA_VERSION}: "
                "install matching versions of the add-on and the backend",
            )
        return h

    def models(self) -> dict:
        return self._json(
            "GET",
            f"{api.PREFIX}/models",
            lambda d: _is_dict(d) and _is_list_of_dicts(d.get("video")) and _is_list_of_dicts(d.get("depth")),
            "model listing",
        )

    def submit(self, archive_path: str) -> dict:
        end = self._end()  # one deadline for the health check and the upload
        health = self._json("GET", f"{api.PREFIX}/health", _is_dict, "health report", end=end)
        limits = health.get("limits")
        limit = limits.get("max_upload_bytes") if isinstance(limits, dict) else None
        size = os.path.getsize(archive_path)
        if isinstance(limit, int) and size > limit:
            raise BackendError(
                413,
                f"the job is {size / 2**20:.0f} MiB, over this backend's upload limit of "
                f"{limit / 2**20:.0f} MiB (realcam serve --max-upload-mb)",
            )
        with open(archive_path, "rb") as fh:
            headers = self._upload_headers(archive_path, api.BUNDLE_CONTENT_TYPE)
            return self._json("POST", f"{api.PREFIX}/jobs", _is_job, "job", body=fh, headers=headers, end=end)

    def job(self, job_id: str) -> dict:
        return self._json("GET", api.job_path(job_id), _is_job, "job")

    def jobs(self) -> list:
        data = self._json(
            "GET", f"{api.PREFIX}/jobs", lambda d: _is_dict(d) and isinstance(d.get("jobs"), list), "job list"
        )
        if not all(_is_job(j) for j in data["jobs"]):
            raise BackendError(0, f"the backend at {self.base} sent a malformed job list")
        return data["jobs"]

    def cancel(self, job_id: str) -> dict:
        headers = {"Content-Type": api.CONTROL_CONTENT_TYPE}
        return self._json("POST", api.job_path(job_id, "cancel"), _is_job, "job", headers=headers)

    def delete(self, job_id: str) -> None:
        self._json("DELETE", api.job_path(job_id), headers={"Content-Type": api.CONTROL_CONTENT_TYPE})

    def download(self, job_id: str, what: str, dest: str) -> str:
        """Save the job's video, frames (zip) or result to dest, whole and verified, or not at all."""
        return self._save("GET", api.job_path(job_id, what), dest, what)

    def depth(self, image_path: str, dest_zip: str, size=None, focal_px=None, model=None) -> str:
        query = {"size": size, "focal_px": focal_px, "model": model}
        ctype = mimetypes.guess_type(image_path)[0] or ""
        if not api.is_depth_content_type(ctype):
            ctype = "application/octet-stream"
        return self._save(
            "POST", f"{api.PREFIX}/depth", dest_zip, "the depth map", upload=(image_path, ctype), query=query
        )


def _is_dict(d) -> bool:
    return isinstance(d, dict)


def _is_list_of_dicts(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, dict) for x in v)


def _is_job(d) -> bool:
    return (
        isinstance(d, dict)
        and isinstance(d.get("id"), str)
        and d.get("state") in api.STATES
        and isinstance(d.get("progress", {}), dict)
    )
