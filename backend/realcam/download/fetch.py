"""The bytes of a download plan: each missing file over HTTP (resumed with a Range request, redirects to https
only, never past its listed size), checked, then linked into the layout huggingface_hub reads."""

from __future__ import annotations

import hashlib
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import UserError
from .plan import HubFile, Plan, inside, partial_path, snapshot_path, untrusted

CHUNK = 1 << 20


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(scheme)


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow the hub's redirects (it sends large files to its CDN) to https only, or to http from an http
    HF_ENDPOINT (a mirror on the local network): never from https down to http, never ftp: or file:. The token
    goes only to the origin (scheme, host, port) it was meant for."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme != "https" and not (scheme == "http" and _origin(req.full_url)[0] == "http"):
            raise UserError(
                f"the hub redirected {req.full_url} to {newurl}, which is not followed (only https, or http from "
                "an http HF_ENDPOINT): nothing was downloaded from there. Is HF_ENDPOINT a hub you trust?"
            )
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


def _hasher(f: HubFile):
    if f.sha256:
        return hashlib.sha256()
    h = hashlib.sha1()
    h.update(f"blob {f.size}\0".encode())  # git's object id of a file
    return h


def _lock_path(plan: Plan, etag: str) -> str:
    """huggingface_hub's lock for a blob: `hf download` and this never write the same blob at once."""
    return os.path.join(os.path.dirname(plan.cache), ".locks", os.path.basename(plan.cache), f"{etag}.lock")


def _fetch(plan: Plan, f: HubFile, on_bytes, opener) -> str:
    """One file into blobs/<etag>, continuing a partial one; returns the blob's path."""
    from huggingface_hub.utils import WeakFileLock

    lock = _lock_path(plan, f.etag)
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    with WeakFileLock(lock):
        return _fetch_locked(plan, f, on_bytes, opener)


def _fetch_locked(plan: Plan, f: HubFile, on_bytes, opener) -> str:
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    blob = inside(plan, os.path.join(plan.cache, "blobs", f.etag))
    if os.path.isfile(blob) and os.path.getsize(blob) == f.size:
        on_bytes(f.size)
        return blob
    part = inside(plan, partial_path(plan, f))
    os.makedirs(os.path.dirname(part), exist_ok=True)
    have = os.path.getsize(part) if os.path.isfile(part) else 0
    if have > f.size:
        os.remove(part)
        have = 0
    h = _hasher(f)
    if have:
        with open(part, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(chunk)
    too_long = False
    if have < f.size:
        headers = build_hf_headers()
        headers["Accept-Encoding"] = "identity"
        if have:
            headers["Range"] = f"bytes={have}-"
        url = hf_hub_url(plan.repo_id, f.path, revision=plan.commit)
        try:
            resp = opener.open(urllib.request.Request(url, headers=headers), timeout=60)
        except urllib.error.HTTPError as e:
            raise UserError(f"the hub refused {f.path} of {plan.repo_id} (HTTP {e.code})") from None
        with resp:
            if have and resp.status != 206:
                have, h = 0, _hasher(f)  # the server ignored the range: start the file again
            elif have and not _range_starts_at(resp, have):
                os.remove(part)
                raise untrusted(plan.repo_id, f"{f.path} from another byte than the {have} asked for")
            length = resp.headers.get_all("Content-Length") or []
            if len(length) > 1 or (length and (not length[0].strip().isdigit() or int(length[0]) != f.size - have)):
                raise untrusted(
                    plan.repo_id, f"{f.path} as {', '.join(length)} bytes where its listing says {f.size - have}"
                )
            with open(part, "ab" if have else "wb") as out:
                on_bytes(have)
                while have < f.size:  # never more than the listing's size on disk, whatever the server sends
                    chunk = resp.read(min(CHUNK, f.size - have))
                    if not chunk:
                        break
                    out.write(chunk)
                    h.update(chunk)
                    have += len(chunk)
                    on_bytes(have)
            too_long = have == f.size and bool(resp.read(1))
    if too_long or have != f.size or h.hexdigest() != (f.sha256 or f.git_oid):
        os.remove(part)
        why = f"longer than the {f.size} bytes listed" if too_long else "size or checksum differs"
        raise UserError(f"{f.path} of {plan.repo_id} arrived damaged ({why}); download again")
    os.replace(part, blob)
    return blob


def _range_starts_at(resp, have: int) -> bool:
    m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (resp.headers.get("Content-Range") or "").strip())
    return m is not None and int(m.group(1)) == have


def _remove_orphans(plan: Plan) -> None:
    """Remove `.incomplete` blobs that no missing file of this plan continues: what a download stopped at an
    older revision left. One that another download is writing (it holds huggingface_hub's lock) stays."""
    from filelock import Timeout
    from huggingface_hub.utils import WeakFileLock

    blobs = os.path.join(plan.cache, "blobs")
    keep = {f.etag + ".incomplete" for f in plan.files if f.path in plan.missing}
    names = os.listdir(blobs) if os.path.isdir(blobs) else []
    for name in names:
        if not name.endswith(".incomplete") or name in keep:
            continue
        lock = _lock_path(plan, name.split(".")[0])
        os.makedirs(os.path.dirname(lock), exist_ok=True)
        try:
            with WeakFileLock(lock, timeout=0.2):
                os.remove(os.path.join(blobs, name))
        except (Timeout, FileNotFoundError):
            pass


def _link(plan: Plan, f: HubFile, blob: str) -> None:
    dst = inside(plan, snapshot_path(plan, f))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    inside(plan, dst)  # again, now that its folders exist: none of them may lead elsewhere
    try:
        from huggingface_hub.file_download import _create_symlink  # the cache's own rules (copies where no links)
    except ImportError:  # pragma: no cover - only if huggingface_hub drops it

        def _create_symlink(src, dst, new_blob=False):
            os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)

    _create_symlink(blob, dst, new_blob=True)


def download(plan: Plan, on_progress=None) -> str:
    """Fetch the plan's missing files; on_progress(done_bytes, total_bytes, path). Returns the snapshot folder."""

    opener = urllib.request.build_opener(_SafeRedirects())
    _remove_orphans(plan)
    total = plan.total_bytes
    done = sum(f.size for f in plan.files if f.path not in plan.missing)
    for f in plan.files:
        if f.path not in plan.missing:
            continue
        base = done

        def on_bytes(n, base=base, f=f):
            if on_progress:
                on_progress(base + n, total, f.path)

        try:
            blob = _fetch(plan, f, on_bytes, opener)
        except (TimeoutError, urllib.error.URLError, ConnectionError) as e:
            raise UserError(
                f"the download of {plan.repo_id} stopped at {f.path} ({getattr(e, 'reason', e)}): check the network "
                "connection and download again; it continues where it stopped"
            ) from None
        except OSError as e:
            if e.errno == 28:
                raise UserError(f"the disk holding {plan.cache} is full: free some space and download again") from None
            raise
        _link(plan, f, blob)
        done = base + f.size
    refs = os.path.join(plan.cache, "refs")
    os.makedirs(refs, exist_ok=True)
    with open(os.path.join(refs, "main.tmp"), "w") as fh:
        fh.write(plan.commit)
    os.replace(os.path.join(refs, "main.tmp"), os.path.join(refs, "main"))
    if on_progress:
        on_progress(total, total, "")
    return os.path.join(plan.cache, "snapshots", plan.commit)


class Throttle:
    """At most one progress report per interval (and always the last)."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.last = interval, 0.0

    def ready(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            return True
        return False
