"""The frames of a clip (a video file or a folder of images), sampled and written as PNG for COLMAP.

`realcam eval` reads every frame at its own size; `realcam track` samples long clips (a stride, or
at most a number of frames spread evenly over the clip) and scales large frames down, since SIFT
and matching time grow with both. Frame k of the output is frame `source[k]` of the clip.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")


@dataclass
class Frames:
    names: list[str]  # PNG files in the output folder, in clip order
    source: list[int]  # clip frame index of each
    total: int  # frames in the clip
    fps: float | None  # the video's frame rate; None for a folder of images
    native_size: tuple[int, int]  # (w, h) of the clip's frames
    size: tuple[int, int]  # (w, h) of the written frames


def is_clip(path: str) -> bool:
    """A video file, or a folder holding images."""
    if os.path.isdir(path):
        return any(n.lower().endswith(IMAGE_EXTENSIONS) for n in os.listdir(path))
    return path.lower().endswith(VIDEO_EXTENSIONS)


def pick(total: int, stride: int | None = None, max_frames: int | None = None, keep=()) -> list[int]:
    """Clip frame indices to use: every stride-th (first frame always), with the stride raised until at
    most max_frames remain; frames in keep (e.g. the one with a depth map) are always included."""
    if total <= 0:
        return []
    stride = max(1, stride or 1)
    if max_frames:
        stride = max(stride, math.ceil(total / max_frames))
    chosen = set(range(0, total, stride)) | {k for k in keep if 0 <= k < total}
    return sorted(chosen)


def _target_size(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    if not max_side or max(w, h) <= max_side:
        return w, h
    s = max_side / max(w, h)
    return max(16, round(w * s)), max(16, round(h * s))


def _write(rgb: np.ndarray, size, path: str) -> None:
    img = Image.fromarray(rgb)
    if img.size != tuple(size):
        img = img.resize(size, Image.LANCZOS)
    img.save(path)


def _from_folder(source, out_dir, stride, max_frames, max_side, keep) -> Frames:
    files = sorted(n for n in os.listdir(source) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise UserError(f"{source}: no PNG or JPEG frames in this folder")
    chosen = pick(len(files), stride, max_frames, keep)
    native = Image.open(os.path.join(source, files[0])).size
    size = _target_size(*native, max_side)
    names = []
    for k, i in enumerate(chosen):
        img = Image.open(os.path.join(source, files[i])).convert("RGB")
        if img.size != native:
            w, h = img.size
            raise UserError(f"{source}/{files[i]} is {w}x{h} but the first frame is {native[0]}x{native[1]}")
        names.append(f"{k:04d}.png")
        _write(np.asarray(img), size, os.path.join(out_dir, names[-1]))
    return Frames(names, chosen, len(files), None, native, size)


def _from_video(source, out_dir, stride, max_frames, max_side, keep) -> Frames:
    import imageio_ffmpeg

    try:
        total = None
        if max_frames:  # the count needs a pass over the stream (no decoding: fast)
            total = imageio_ffmpeg.count_frames_and_secs(source)[0]
        reader = imageio_ffmpeg.read_frames(source)
        meta = next(reader)
        w, h = meta["size"]
        fps = float(meta.get("fps") or 0) or None
        chosen = set(pick(total, stride, max_frames, keep)) if total else None
        step = max(1, stride or 1)
        size = _target_size(w, h, max_side)
        names, used, n = [], [], 0
        for i, buf in enumerate(reader):
            n = i + 1
            if (i in chosen) if chosen is not None else (i % step == 0 or i in keep):
                if len(buf) != w * h * 3:
                    raise UserError(f"{source}: frame {i} has {len(buf)} bytes, expected {w}x{h} RGB")
                names.append(f"{len(names):04d}.png")
                used.append(i)
                _write(np.frombuffer(buf, np.uint8).reshape(h, w, 3), size, os.path.join(out_dir, names[-1]))
    except (OSError, RuntimeError, StopIteration) as e:
        raise UserError(f"{source}: cannot read this video ({e})") from None
    if not names:
        raise UserError(f"{source}: the video has no frames")
    return Frames(names, used, n, fps, (w, h), size)


def read_frames(
    source: str, out_dir: str, stride: int | None = None, max_frames: int | None = None, max_side=None, keep=()
) -> Frames:
    """Frames of a video file or a folder of images as 0000.png, 0001.png, ... in out_dir.

    Without stride, max_frames and max_side: every frame at its own size."""
    if os.path.isdir(source):
        return _from_folder(source, out_dir, stride, max_frames, max_side, keep)
    if not os.path.isfile(source):
        raise UserError(f"{source}: no such video or folder")
    return _from_video(source, out_dir, stride, max_frames, max_side, keep)
