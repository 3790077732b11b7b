"""Moving a job's files, both ends of every move in one place.

The bundle out to a cluster slot (cluster.py -> slot.py):
    pack / unpack    the job folder's bundle/ as one stored zip in memory; the slot unpacks it into its own folder
The take back from the slot (slot.py -> cluster.py), never trusting what comes over the wire:
    describe         the slot lists its take: names (relative, '/'-separated), sizes, SHA-256
    read_chunk       the slot sends a piece of a file it listed, at most CHUNK bytes
    check            the server accepts known names only, the job's frame count, a size bound
    receive          the server fetches every file in CHUNK pieces, IN_FLIGHT ahead, each length and digest
                     checked, into a private folder that becomes the job's take/ whole
The take out to a client, whichever worker wrote it (server.py's job routes):
    Digests          the Repr-Digest of a finished file, kept while the file is unchanged
    zip_frames       the frames as one zip to send
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from realcam_core import api

if TYPE_CHECKING:
    from .jobstore import JobStore

CHUNK = 4 << 20  # bytes per piece from a slot: keeps every Ray message small, through ray:// too
IN_FLIGHT = 4  # pieces requested ahead
READ = 1 << 20  # bytes per read while hashing a file
TAKE_NAME = re.compile(r"^(video\.mp4|result\.json|frames/\d{4,6}\.png)$")


def file_sha256(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(READ), b""):
            h.update(chunk)
    return h.digest()


# -- the bundle out ------------------------------------------------------------------------------
def pack(folder: str) -> bytes:
    """A folder as one zip in memory, stored: PNGs are compressed already."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for root, _, files in os.walk(folder):
            for f in sorted(files):
                path = os.path.join(root, f)
                zf.write(path, os.path.relpath(path, folder))
    return buf.getvalue()


def unpack(data: bytes, folder: str) -> None:
    # The server's own bundle, validated when it was submitted; extractall still drops absolute names and '..'.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(folder)


# -- the take back: the slot's end ---------------------------------------------------------------
def describe(take: str) -> list[dict]:
    """The take's files: name (relative, '/'-separated), size, sha256 (hex), sorted by name."""
    files = []
    for root, _, names in os.walk(take):
        for n in sorted(names):
            path = os.path.join(root, n)
            rel = os.path.relpath(path, take).replace(os.sep, "/")
            files.append({"name": rel, "size": os.path.getsize(path), "sha256": file_sha256(path).hex()})
    return sorted(files, key=lambda f: f["name"])


def read_chunk(take: str, files, name: str, offset: int, size: int = CHUNK) -> bytes:
    """Up to CHUNK bytes of a file at offset; KeyError for a name that `files` (describe's list) lacks."""
    if name not in {f["name"] for f in files}:  # only the files it listed
        raise KeyError(name)
    with open(os.path.join(take, name), "rb") as fh:
        fh.seek(offset)
        return fh.read(min(size, CHUNK))


# -- the take back: the server's end -------------------------------------------------------------
def max_take_bytes(job: dict) -> int:
    """A bound on what a take may weigh: its PNG frames cannot be much over the raw pixels, the H.264 video
    is far below them, result.json is small."""
    raw = int(job.get("frames") or 0) * int(job.get("width") or 0) * int(job.get("height") or 0) * 3
    return 2 * raw + (64 << 20)


def check(job: dict, files: list[dict]) -> None:
    """Never trust what comes over the wire: known names only, the frame count, a size bound."""
    names = [f["name"] for f in files]
    bad = [n for n in names if not TAKE_NAME.match(n)]
    if bad:
        raise ValueError(f"unexpected files in the take: {bad[:3]}")
    if "video.mp4" not in names or "result.json" not in names:
        raise ValueError("the take lacks video.mp4 or result.json")
    frames = sum(n.startswith("frames/") for n in names)
    if frames != job.get("frames"):
        raise ValueError(f"the take has {frames} frames, the job {job.get('frames')}")
    total = sum(int(f["size"]) for f in files)
    if total > max_take_bytes(job):
        raise ValueError(f"the take is {total} bytes, over the bound of {max_take_bytes(job)} for this job")


def receive(store: JobStore, job: dict, files: list[dict], request: Callable, wait: Callable) -> None:
    """Check the listed take, fetch it and make it the job's take/ whole. request(name, offset) asks the slot for
    a piece (without waiting), wait(request's answer) is its bytes."""
    check(job, files)
    tmp = tempfile.mkdtemp(prefix=".realcam-job-", dir=store.folder(job["id"]))  # removed on recovery
    try:
        fetch(files, request, wait, tmp)
        take = store.take_dir(job["id"])
        shutil.rmtree(take, ignore_errors=True)
        os.replace(tmp, take)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch(files: list[dict], request: Callable, wait: Callable, out: str) -> None:
    """Every file in CHUNK pieces, IN_FLIGHT requests ahead; lengths and digests checked."""
    pieces = [(f, off) for f in files for off in range(0, max(int(f["size"]), 1), CHUNK)]
    pending: list = []
    handles: dict[str, tuple] = {}
    i = 0
    while i < len(pieces) or pending:
        while i < len(pieces) and len(pending) < IN_FLIGHT:
            f, off = pieces[i]
            pending.append((f, off, request(f["name"], off)))
            i += 1
        f, off, ref = pending.pop(0)
        data = wait(ref)
        want = min(CHUNK, int(f["size"]) - off)
        if len(data) != want:
            raise OSError(f"{f['name']}: got {len(data)} bytes at {off}, expected {want}")
        if f["name"] not in handles:
            path = os.path.join(out, *f["name"].split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            handles[f["name"]] = (open(path, "wb"), hashlib.sha256())
        fh, h = handles[f["name"]]
        fh.write(data)
        h.update(data)
        if off + len(data) >= int(f["size"]):
            fh.close()
            if h.hexdigest() != f["sha256"]:
                raise OSError(f"{f['name']}: digest mismatch after transfer")
    with open(os.path.join(out, "result.json"), encoding="utf-8") as fh:
        if not isinstance(json.load(fh), dict):
            raise ValueError("result.json is not an object")


# -- the take out to a client --------------------------------------------------------------------
class Digests:
    """Repr-Digest of finished files, computed once per (path, size, mtime)."""

    def __init__(self, keep: int = 256):
        self.keep = keep
        self._known: dict = {}

    def __call__(self, path: str) -> str:
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in self._known:
            digest = api.repr_digest(file_sha256(path))
            if len(self._known) > self.keep:
                self._known.clear()
            self._known[key] = digest
        return self._known[key]


def zip_frames(folder: str, tmp_dir: str) -> str:
    """The frames of a take as a zip (frames/NNNN.png) in tmp_dir; its path. The caller removes it."""
    fd, path = tempfile.mkstemp(suffix=".zip", dir=tmp_dir)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
            for n in sorted(os.listdir(folder)):
                zf.write(os.path.join(folder, n), f"frames/{n}")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    return path
