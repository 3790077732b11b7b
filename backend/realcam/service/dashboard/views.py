"""What the dashboard shows: each job with its shot (from its bundle), the server and its slots, and posters.

A bundle never changes once it is a job, nor does a finished take, so what is read from them is kept: a job's
summary (its manifest read once, the small part kept) and its posters (the middle frame of the preview and of
the take, made small). Every text from a bundle is the artist's, never trusted: it goes to the page as JSON
strings, cut to a length, and the page sets it as text, never as HTML (static/dashboard.js).
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections import OrderedDict

from realcam_core import api

from ... import __version__
from ...runtime import device_info

TEXT_MAX = 500  # characters of any one text from a bundle
POSTER_SIDE = 480  # pixels, the long side of a poster
MAX_MANIFEST_BYTES = 8 * 1024 * 1024  # a bundle's own limit (realcam_core.bundle.Limits)
JOB_FIELDS = (
    "id",
    "seq",
    "state",
    "position",
    "attempts",
    "created_at",
    "started_at",
    "finished_at",
    "frames",
    "width",
    "height",
    "fps",
    "seed",
)
SOURCE_FIELDS = ("app", "scene", "camera", "blend", "photo")


def text(value, limit: int = TEXT_MAX) -> str | None:
    """A bundle's text as the page may show it: a string, no control characters, at most limit characters."""
    if value is None:
        return None
    s = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


class _Lru:
    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value):
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


class Views:
    """The dashboard's reading of the job store; one per app (routes/dashboard.py keeps it on app.state)."""

    def __init__(self, svc):
        self.svc = svc
        self._summaries = _Lru(4096)
        self._posters = _Lru(128)  # JPEG bytes, a few tens of kB each

    # -- jobs -----------------------------------------------------------------------------------------
    def summary(self, job_id: str) -> dict:
        """What a job's bundle says of its shot: prompt, source (app, scene, camera, blend, photo), the
        preview to show. {} when the bundle cannot be read (a damaged job)."""
        found = self._summaries.get(job_id)
        if found is not None:
            return found
        try:
            folder = self.svc.store.bundle_dir(job_id)
            path = os.path.join(folder, "manifest.json")
            if os.path.getsize(path) > MAX_MANIFEST_BYTES:
                return {}
            with open(path, encoding="utf-8") as fh:
                manifest = json.load(fh)
        except (KeyError, OSError, ValueError):
            return {}  # not kept: it may be readable later (a job being written)
        if not isinstance(manifest, dict):
            return self._summaries.put(job_id, {})
        settings = manifest.get("settings") if isinstance(manifest.get("settings"), dict) else {}
        source = manifest.get("source") if isinstance(manifest.get("source"), dict) else {}
        frames = manifest.get("frames") if isinstance(manifest.get("frames"), list) else []
        middle = frames[len(frames) // 2] if frames else None
        preview = middle.get("preview") if isinstance(middle, dict) else None
        size = source.get("photo_size")
        out = {
            "prompt": text(settings.get("prompt"), 2000),
            "steps": settings.get("steps") if isinstance(settings.get("steps"), int) else None,
            "evaluate": bool(settings.get("evaluate")),
            "source": {k: text(source.get(k)) for k in SOURCE_FIELDS if source.get(k) is not None},
            "photo_size": size if isinstance(size, list) and all(isinstance(v, int) for v in size[:2]) else None,
            "_preview": preview if isinstance(preview, str) else None,
        }
        return self._summaries.put(job_id, out)

    def job(self, job: dict) -> dict:
        redact = self.svc.redact
        progress = job.get("progress") if isinstance(job.get("progress"), dict) else {}
        summary = self.summary(job["id"])
        worker = job.get("worker") if isinstance(job.get("worker"), dict) else None
        return {
            **{k: job.get(k) for k in JOB_FIELDS},
            "stage": progress.get("stage"),
            "step": progress.get("step"),
            "total": progress.get("total"),
            "eta_s": progress.get("eta_s"),
            "model": text(redact(str(job["model"]))) if job.get("model") else None,
            "error": redact(str(job["error"])) if job.get("error") else None,
            "note": redact(str(job["note"])) if job.get("note") else None,
            "worker": {k: text(worker.get(k), 100) for k in ("slot", "node", "pid")} if worker else None,
            **{k: v for k, v in summary.items() if not k.startswith("_")},
            "has_preview": bool(summary.get("_preview")),
            "kind": api.TRACK if job.get("kind") == api.TRACK else "generate",  # a track has a move, no video
            "has_take": job.get("state") == api.DONE and job.get("kind") != api.TRACK,
        }

    def jobs(self) -> list[dict]:
        return [self.job(j) for j in self.svc.store.list()]

    # -- the server --------------------------------------------------------------------------------------
    def server(self) -> dict:
        svc = self.svc
        redact = svc.redact
        w = svc.worker.status()
        loaded = svc.worker.engine.loaded_model()
        slots = w.get("slots")
        return {
            "version": __version__,
            "api_version": api.API_VERSION,
            "device": _device(device_info(svc.config.device)),
            "loaded_model": redact(loaded) if loaded else None,
            "worker": {"alive": bool(w.get("alive")), "error": redact(w["error"]) if w.get("error") else None},
            "cluster": w.get("cluster") is not None,
            "slots": None
            if slots is None
            else [
                {
                    "name": text(s.get("name"), 100),
                    "node": text(s.get("node"), 100),
                    "device": _device(s.get("device")),
                    "model": redact(s["model"]) if s.get("model") else None,
                    "job": s.get("job"),
                    "answers": bool(s.get("answers")),
                }
                for s in slots
            ],
            **svc.store.counts(),
        }

    # -- posters ---------------------------------------------------------------------------------------
    def poster(self, job: dict, which: str) -> bytes | None:
        """A small JPEG of the middle frame of the job's preview or take; None when it has none (yet)."""
        job_id = job["id"]
        found = self._posters.get((job_id, which))
        if found is not None:
            return found
        path = self._poster_source(job, which)
        if path is None:
            return None
        return self._posters.put((job_id, which), _thumbnail(path))

    def _poster_source(self, job: dict, which: str) -> str | None:
        store = self.svc.store
        if which == "preview":
            name = self.summary(job["id"]).get("_preview")
            if not name:
                return None
            root = os.path.realpath(store.bundle_dir(job["id"]))
            path = os.path.realpath(os.path.join(root, name))
            # Checked at submission; checked again, since a name in the manifest is the client's.
            return path if path.startswith(root + os.sep) and os.path.isfile(path) else None
        if job.get("state") != api.DONE:
            return None
        folder = os.path.join(store.take_dir(job["id"]), "frames")
        try:
            frames = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
        except OSError:
            return None
        return os.path.join(folder, frames[len(frames) // 2]) if frames else None


def _device(info) -> dict | None:
    """A device as the page shows it: kind, name, memory (GPUs), count or CPUs."""
    if not isinstance(info, dict):
        return None
    keys = ("device", "name", "memory_gb", "count", "cpus")
    return {k: (text(info[k], 100) if isinstance(info[k], str) else info[k]) for k in keys if k in info}


def _thumbnail(path: str) -> bytes:
    """A JPEG of an image at most POSTER_SIDE on its long side; a preview's uncovered parts (alpha) grey."""
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (POSTER_SIDE, POSTER_SIDE))
        im = im.convert("RGBA")
        im.thumbnail((POSTER_SIDE, POSTER_SIDE))
        flat = Image.new("RGB", im.size, (64, 64, 64))
        flat.paste(im, mask=im.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, "JPEG", quality=85)
    return out.getvalue()
