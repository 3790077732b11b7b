"""A real HTTP server on loopback with the Hugging Face hub's URL layout, serving local folders as model
repositories, for tests of `realcam download` (HF_ENDPOINT points huggingface_hub at it).

What huggingface_hub 2.x asks of a hub, and this answers:
    GET  /api/models/ORG/NAME[/revision/REV]          model info: sha (the commit), siblings, cardData.license
    GET  /api/models/ORG/NAME/tree/REV?recursive=...  files with size, git oid and lfs.sha256 (one page)
    HEAD|GET /ORG/NAME/resolve/REV/PATH               the file; ETag, X-Repo-Commit, Content-Length, and Range
                                                      requests (206) so a download can continue
Every request is recorded (method, path, Range header) so tests can see what was fetched and from where, and
the paths of those that carried an Authorization header.

A hostile hub, for the downloader's attack tests, is this one with its answers changed: `commit` (the sha it
answers), `tamper(entry)` (each tree entry, changed in place: path, size, oids), `card` (more cardData) and
`redirect(path)` (a Location for a file, or None to serve it). `tls=(certfile, keyfile)` serves https.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def git_oid(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


class Repo:
    def __init__(self, folder: str, licence: str, extra: dict[str, bytes] | None = None):
        self.files: dict[str, bytes] = {}
        for root, _, names in os.walk(folder):
            for n in names:
                full = os.path.join(root, n)
                with open(full, "rb") as fh:
                    self.files[os.path.relpath(full, folder).replace(os.sep, "/")] = fh.read()
        self.files.update(extra or {})
        self.licence = licence

    def entry(self, path: str) -> dict:
        data = self.files[path]
        e = {"type": "file", "oid": git_oid(data), "size": len(data), "path": path}
        if path.endswith((".safetensors", ".bin")):  # stored with git LFS on the real hub
            e["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return e


class LocalHub:
    def __init__(self, repos: dict[str, Repo], bytes_per_second: float | None = None, tls=None):
        self.repos = repos
        self.bytes_per_second = bytes_per_second  # slow enough to stop a download half way
        self.requests: list[tuple[str, str, str | None]] = []
        self.authorized: list[str] = []  # paths of the requests that carried a token
        self.commit = COMMIT
        self.tamper = None  # tamper(entry): change a tree entry in place
        self.card: dict = {}  # more cardData (license_link, ...)
        self.redirect = None  # redirect(path) -> a Location for a file, or None
        self.send_length = True  # False: files without Content-Length, ended by closing the connection
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                hub._handle(self, head=False)

            def do_HEAD(self):
                hub._handle(self, head=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------
    def _json(self, h, obj, status=200):
        body = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h, head: bool):
        parsed = urllib.parse.urlparse(h.path)
        parts = [urllib.parse.unquote(p) for p in parsed.path.strip("/").split("/")]
        self.requests.append((h.command, parsed.path, h.headers.get("Range")))
        if h.headers.get("Authorization"):
            self.authorized.append(parsed.path)
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            repo_id = "/".join(parts[2:4])
            repo = self.repos.get(repo_id)
            if repo is None:
                return self._json(h, {"error": "Repository not found"}, 404)
            if len(parts) >= 6 and parts[4] == "tree":
                return self._json(h, [self._entry(repo, p) for p in sorted(repo.files)])
            siblings = [{"rfilename": p} for p in sorted(repo.files)]
            info = {"id": repo_id, "modelId": repo_id, "sha": self.commit, "private": False, "gated": False}
            card = {"license": repo.licence, **self.card}
            return self._json(h, {**info, "siblings": siblings, "cardData": card, "tags": []})
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = self.repos.get("/".join(parts[:2]))
            path = "/".join(parts[4:])
            if repo is None or path not in repo.files:
                return self._json(h, {"error": "Entry not found"}, 404)
            where = self.redirect(parsed.path) if self.redirect else None
            if where:
                h.send_response(302)
                h.send_header("Location", where)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            return self._file(h, repo, path, head)
        return self._json(h, {"error": "not found"}, 404)

    def _entry(self, repo: Repo, path: str) -> dict:
        e = repo.entry(path)
        if self.tamper:
            self.tamper(e)
        return e

    def _file(self, h, repo: Repo, path: str, head: bool):
        data = repo.files[path]
        entry = repo.entry(path)
        etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
        start = 0
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0] or 0)
        h.send_response(206 if start else 200)
        h.send_header("ETag", f'"{etag}"')
        h.send_header("X-Repo-Commit", self.commit)
        h.send_header("Accept-Ranges", "bytes")
        if self.send_length:
            h.send_header("Content-Length", str(len(data) - start))
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.end_headers()
        if head:
            return
        chunk = 64 * 1024
        try:
            for i in range(start, len(data), chunk):
                h.wfile.write(data[i : i + chunk])
                if self.bytes_per_second:
                    time.sleep(chunk / self.bytes_per_second)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped: exactly what the resume test does
