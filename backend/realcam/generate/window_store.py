"""A long shot's finished windows on disk, so a job that was stopped (a killed backend, Ctrl-C) goes on from the
window it was in.

    WORK/store.json        {"key": ...}: what the windows were made from (bundle files, model, settings, device)
    WORK/0003/0000.png ... a finished window's frames, lossless (the next window starts from them bit for bit)
    WORK/0003/window.json  its index, frame count, seed and seconds

A window folder appears whole (written under a temporary name, then renamed) or not at all. A store made for
anything else (another bundle, model, step count, device or precision) is cleared, never reused: resuming gives
the same frames as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
from PIL import Image

STORE = "store.json"


def bundle_digest(folder: str) -> str:
    """SHA-256 over every file of a bundle folder (names and contents)."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, folder).replace(os.sep, "/").encode() + b"\0")
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def store_key(**what) -> str:
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


class WindowStore:
    def __init__(self, folder: str, key: str):
        self.folder = folder
        self.key = key
        os.makedirs(folder, exist_ok=True)
        try:
            with open(os.path.join(folder, STORE), encoding="utf-8") as fh:
                same = json.load(fh).get("key") == key
        except (OSError, ValueError, AttributeError):
            same = False
        if not same:
            self.clear()
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, STORE), "w", encoding="utf-8") as fh:
                json.dump({"key": key}, fh)
        for name in os.listdir(folder):
            if name.startswith(".tmp-"):  # a window cut off while it was being saved
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)

    def _dir(self, index: int) -> str:
        return os.path.join(self.folder, f"{index:04d}")

    def load(self, index: int, count: int) -> tuple[np.ndarray, dict] | None:
        """A finished window's frames and record, or None when it is not (wholly) there."""
        d = self._dir(index)
        try:
            with open(os.path.join(d, "window.json"), encoding="utf-8") as fh:
                record = json.load(fh)
            if record.get("frames") != count:
                return None
            names = [os.path.join(d, f"{i:04d}.png") for i in range(count)]
            frames = np.stack([np.asarray(Image.open(name).convert("RGB")) for name in names])
        except (OSError, ValueError):
            return None
        return frames, record

    def save(self, index: int, frames: np.ndarray, record: dict) -> None:
        tmp = os.path.join(self.folder, f".tmp-{index:04d}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for i, f in enumerate(frames):
            Image.fromarray(f).save(os.path.join(tmp, f"{i:04d}.png"), compress_level=1)
        with open(os.path.join(tmp, "window.json"), "w", encoding="utf-8") as fh:
            json.dump({**record, "frames": len(frames)}, fh)
        final = self._dir(index)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
