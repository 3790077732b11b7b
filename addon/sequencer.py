"""Strips in the Video Sequence Editor: previews as image strips, takes as movie strips."""

from __future__ import annotations

import json
import os

from .compat import all_strips, strips

MAX_CHANNEL = 128


def free_channel(scene, start: int, end: int, lowest: int = 2) -> int:
    """The lowest channel with nothing between start and end (inclusive)."""
    busy = set()
    for s in all_strips(scene):
        if s.frame_final_start <= end and s.frame_final_end > start:
            busy.add(s.channel)
    for ch in range(lowest, MAX_CHANNEL + 1):
        if ch not in busy:
            return ch
    raise RuntimeError("no free channel left in the sequencer")


def add_image_sequence(scene, folder: str, files: list[str], start: int, name: str):
    """An image strip of files (in order) starting at frame start."""
    ch = free_channel(scene, start, start + len(files) - 1)
    strip = strips(scene).new_image(name=name, filepath=os.path.join(folder, files[0]), channel=ch, frame_start=start)
    for f in files[1:]:
        strip.elements.append(f)
    strip.frame_final_duration = len(files)
    return strip


def add_take(scene, video: str, start: int, frames: int, name: str, settings: dict):
    """A movie strip for a generated take, with what made it stored on the strip."""
    ch = free_channel(scene, start, start + frames - 1)
    strip = strips(scene).new_movie(name=name, filepath=video, channel=ch, frame_start=start)
    strip["realcam"] = json.dumps(settings)
    return strip
