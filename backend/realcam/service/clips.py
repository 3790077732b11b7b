"""A clip uploaded for tracking (POST /v1/tracks): its options and the clip checked under this server's limits, then
made into a queued track job (a job of kind "track", run by track_job.py).

The body is a video (any video/* type) or a zip of the clip and its depth map (names: realcam_core.api). Nothing
the client says about sizes is believed: the archive is judged from its central directory before anything is
unpacked and its entries counted as they are written (realcam_core.bundle.archive, with limits for clips), every
frame's size is read from its own header, a video's frame count, duration and size from ffmpeg, and each limit
(--max-track-frames, --max-track-seconds, --max-track-pixels) is checked before the job is queued. A depth map of
the wrong size or a depth frame past the clip's end is refused now, not after a minute of reconstruction. The
client names no path: a depth model is one this server offers, by name.

The job folder: clip/ (the upload: clip.<ext>, or frames/ and depth.<ext>) and track.json, the options as the run
needs them, private (it may name a folder of this machine: the client's own options are in the job).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass

from realcam_core import api
from realcam_core.bundle import BundleError, Limits, inspect_archive, unpack_bundle

from ..errors import UserError
from .jobstore import Duplicate
from .responses import HttpError

CLIP_DIR = "clip"
OPTIONS_FILE = "track.json"
VIDEO_SUFFIX = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/x-m4v": ".m4v",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "video/avi": ".avi",
}  # another video type is stored as .mp4: ffmpeg reads a file by its content, the name only says "a video"


@dataclass(frozen=True)
class ClipLimits(Limits):
    """Limits on a clip archive: its frames (or one video as large as an upload may be) and a depth map."""

    max_file_bytes: int = 0

    @property
    def max_entry_bytes(self) -> int:
        return max(self.max_file_bytes, self.max_png_bytes, self.max_npy_bytes)


def clip_limits(config) -> ClipLimits:
    return ClipLimits(
        max_frames=config.max_track_frames,
        max_pixels=config.max_track_pixels,
        max_side=max(4096, int(config.max_track_pixels**0.5) * 4),
        max_archive_entries=config.max_track_frames + 16,
        # A video is stored in the archive, frames are compressed already: an archive hardly expands.
        max_unpacked_bytes=2 * config.max_upload_bytes + 256 * 2**20,
        max_file_bytes=config.max_upload_bytes,
    )


def check_options(svc, focal_px, fov, depth_frame, relative, depth_model, fps, max_frames, stride, max_side):
    """(the options as the client gave them, the run's TrackOptions fields): refused with 422 naming the problem."""
    given = {
        "focal_px": focal_px,
        "fov": fov,
        "depth_frame": depth_frame,
        "relative": relative,
        "depth_model": depth_model,
        "fps": fps,
        "max_frames": max_frames,
        "stride": stride,
        "max_side": max_side,
    }
    problems = [
        f"{k} {v}: must be a finite number" for k, v in given.items() if isinstance(v, float) and not math.isfinite(v)
    ]
    if not 2 <= max_frames <= api.TRACK_MAX_SAMPLED:
        problems.append(f"max_frames {max_frames}: this server tracks 2 to {api.TRACK_MAX_SAMPLED} frames of a clip")
    if not 16 <= max_side <= api.TRACK_MAX_SIDE:
        problems.append(f"max_side {max_side}: this server tracks at a long side of 16 to {api.TRACK_MAX_SIDE} pixels")
    if problems:
        raise HttpError(422, f"bad track options: {problems[0]}", problems)
    run = {k: v for k, v in given.items() if k != "depth_model"}
    run["depth_model"] = _depth_model(svc, depth_model) if depth_model else None
    _check_run(run)
    return {k: v for k, v in given.items() if v is not None}, run


def _check_run(run: dict) -> None:
    from ..track.pipeline import TrackOptions

    try:
        TrackOptions(**run).check()
    except UserError as e:  # the command line's words (--focal-px) as the API's (focal_px)
        message = str(e)
        for name in (*api.TRACK_OPTIONS, "depth_map"):
            message = message.replace("--" + name.replace("_", "-"), name)
        raise HttpError(422, f"bad track options: {message}") from None


def _depth_model(svc, name: str) -> str:
    """The depth model a client names, as this machine loads it: a configured folder or a hub id, never a path."""
    from ..depth.models import resolve_model_id
    from ..generate.adapters import HUB_ID

    if name in svc.config.depth_model_folders:
        return svc.config.depth_model_folders[name]
    model_id = resolve_model_id(name)
    if os.path.exists(model_id) or not HUB_ID.match(model_id):
        raise HttpError(422, f"bad track options: depth model {name!r} is not a model this server knows")
    return model_id


def submit_track(svc, path: str, media: str, digest: str, given: dict, run: dict) -> tuple[dict, bool]:
    """The track for an uploaded clip: (job, True) when new, (the same job, False) when this clip with these options
    is already queued, running or done. Refused (HttpError) when the clip is not usable."""
    store = svc.store
    key = hashlib.sha256(f"track\n{digest}\n{json.dumps(given, sort_keys=True)}".encode()).hexdigest()
    existing = store.find_by_digest(key)
    if existing is not None:
        return existing, False
    incoming = store.new_incoming()
    try:
        clip_dir = os.path.join(incoming, CLIP_DIR)
        if media == api.TRACK_ARCHIVE_CONTENT_TYPE:
            names = _unpack(svc, path, clip_dir)
        else:
            os.makedirs(clip_dir)
            names = {"clip": api.TRACK_CLIP_VIDEO + VIDEO_SUFFIX.get(media, ".mp4"), "depth": None}
            os.replace(path, os.path.join(clip_dir, names["clip"]))
        clip = _describe(svc.config, clip_dir, names["clip"])
        if names["depth"] is not None:
            run = {**run, "depth_map": names["depth"]}
            _check_run(run)  # a depth map excludes relative and depth_model
            _check_depth(os.path.join(clip_dir, names["depth"]), clip, run)
        if not run["relative"] and run["depth_frame"] >= clip["clip_frames"]:
            raise HttpError(
                422, f"depth_frame {run['depth_frame']}: the clip has frames 0 to {clip['clip_frames'] - 1} only"
            )
        with open(os.path.join(incoming, OPTIONS_FILE), "w", encoding="utf-8") as fh:
            json.dump({"clip": names["clip"], "options": run, "depth_model_name": given.get("depth_model")}, fh)
        fields = {"kind": api.TRACK, "digest": key, **clip, "options": given}
        try:
            return store.add(incoming, fields), True
        except Duplicate as d:  # the same clip and options arrived at the same time: one track
            return d.job, False
    finally:
        if os.path.isdir(incoming):
            shutil.rmtree(incoming, ignore_errors=True)


def _refused(e: BundleError) -> HttpError:
    status = {"not-zip": 400, "too-large": 413}.get(e.kind, 422)
    return HttpError(status, "the upload is not a usable clip archive", e.problems)


def _layout(zip_names: list[str]) -> dict:
    """{"clip": the video's name or the frames folder, "depth": the depth map's name or None}, or 422 naming every
    entry that does not belong in a clip archive."""
    videos, frames, depths, problems = [], [], [], []
    for name in zip_names:
        if name.endswith("/"):
            if name.rstrip("/") != api.TRACK_FRAMES:
                problems.append(f"archive entry {name!r}: the only folder of a clip archive is {api.TRACK_FRAMES}/")
            continue
        stem, ext = os.path.splitext(name)
        ext = ext.lower()
        if stem == api.TRACK_CLIP_VIDEO and ext in api.TRACK_VIDEO_EXTENSIONS:
            videos.append(name)
        elif stem == api.TRACK_DEPTH and ext in api.TRACK_DEPTH_EXTENSIONS:
            depths.append(name)
        elif (
            name.startswith(api.TRACK_FRAMES + "/")
            and "/" not in name[len(api.TRACK_FRAMES) + 1 :]
            and ext in api.TRACK_FRAME_EXTENSIONS
        ):
            frames.append(name)
        else:
            problems.append(
                f"archive entry {name[:100]!r}: not part of a clip archive ({api.TRACK_CLIP_VIDEO}.<video>, "
                f"{api.TRACK_FRAMES}/<image>, {api.TRACK_DEPTH}.npy|png|exr)"
            )
    if len(videos) + (1 if frames else 0) != 1:
        problems.append(
            f"the archive must hold one clip: a video {api.TRACK_CLIP_VIDEO}.<ext> or frames in {api.TRACK_FRAMES}/ "
            f"(it holds {len(videos)} video(s) and {len(frames)} frame(s))"
        )
    if len(depths) > 1:
        problems.append(f"the archive holds {len(depths)} depth maps ({', '.join(depths)}); send one")
    if problems:
        raise HttpError(422, f"the upload is not a usable clip archive: {problems[0]}", problems)
    return {"clip": videos[0] if videos else api.TRACK_FRAMES, "depth": depths[0] if depths else None}


def _unpack(svc, path: str, clip_dir: str) -> dict:
    import zipfile

    limits = clip_limits(svc.config)
    try:
        unpacked = inspect_archive(path, limits)  # before anything is written
        with zipfile.ZipFile(path) as zf:
            names = _layout(zf.namelist())
        with svc.unpack_budget.take(unpacked):
            unpack_bundle(path, clip_dir, limits)
    except BundleError as e:
        raise _refused(e) from None
    return names


def _too_long(what: str, value, limit, flag: str) -> HttpError:
    return HttpError(413, f"the clip has {value} {what}, over this server's limit of {limit} (realcam serve {flag})")


def _describe(config, clip_dir: str, clip: str) -> dict:
    """The clip's frames, size, rate and duration, read from the files themselves, within the limits."""
    path = os.path.join(clip_dir, clip)
    if clip == api.TRACK_FRAMES:
        w, h, n = _frames_size(path, config)
        out = {"clip": f"{n} frames", "clip_frames": n, "width": w, "height": h, "fps": None, "duration_s": None}
    else:
        out = _video_size(path, config)
    _check_pixels(out["width"], out["height"], config)
    if out["clip_frames"] > config.max_track_frames:
        raise _too_long("frames", out["clip_frames"], config.max_track_frames, "--max-track-frames")
    if out["clip_frames"] < 3:
        raise HttpError(422, f"the clip has {out['clip_frames']} frame(s): tracking needs at least 3")
    return out


def _frames_size(folder: str, config) -> tuple[int, int, int]:
    from PIL import Image, UnidentifiedImageError

    names = sorted(os.listdir(folder))
    if len(names) > config.max_track_frames:
        raise _too_long("frames", len(names), config.max_track_frames, "--max-track-frames")
    size = None
    for name in names:
        try:
            with Image.open(os.path.join(folder, name)) as img:  # the header only: no pixels decoded
                this, kind = img.size, img.format
        except (UnidentifiedImageError, OSError) as e:
            raise HttpError(422, f"frame {name!r} is not a PNG or JPEG image ({type(e).__name__})") from None
        if kind not in ("PNG", "JPEG"):
            raise HttpError(422, f"frame {name!r} is a {kind} image; send PNG or JPEG frames")
        if size is None:
            size = this
            if this[0] * this[1] > config.max_track_pixels:
                break  # refused by the caller with the size
        elif this != size:
            raise HttpError(422, f"frame {name!r} is {this[0]}x{this[1]} but the first frame is {size[0]}x{size[1]}")
    return size[0], size[1], len(names)


def _video_size(path: str, config) -> dict:
    """A video's size, rate, frames and seconds. Its header is read first and its size and stated duration
    checked; then its frames are counted by decoding, but never past the limits: a header that lies (or a
    stream that states no duration) costs at most --max-track-seconds + 1 s of decoding, under a time cap."""
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(path)
        try:
            meta = next(reader)
        finally:
            reader.close()
        w, h = (int(v) for v in meta["size"])
        duration = float(meta.get("duration") or 0.0)
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError, TypeError) as e:
        raise HttpError(422, f"the clip is not a video this server can read ({type(e).__name__})") from None
    _check_pixels(w, h, config)  # before decoding a frame of it
    if duration > config.max_track_seconds:
        raise _too_long("seconds", f"{duration:.1f}", f"{config.max_track_seconds:g}", "--max-track-seconds")
    frames, seconds = _count_frames(imageio_ffmpeg.get_ffmpeg_exe(), path, config)
    if seconds > config.max_track_seconds:
        raise _too_long("seconds", f"over {seconds:.1f}", f"{config.max_track_seconds:g}", "--max-track-seconds")
    fps = float(meta.get("fps") or 0.0) or None
    size = os.path.getsize(path)
    return {
        "clip": f"a video ({size} bytes)",
        "clip_frames": frames,
        "width": w,
        "height": h,
        "fps": fps,
        "duration_s": round(float(seconds or duration), 3),
    }


COUNT_TIMEOUT_S = 120  # decoding --max-track-seconds of a 4K video takes far less on any CPU


def _count_frames(ffmpeg: str, path: str, config) -> tuple[int, float]:
    """(frames, seconds) of the first video stream, decoding at most one frame and one second past the limits."""
    import re
    import subprocess

    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-i", path, "-map", "0:v:0", "-an", "-sn", "-dn"]
    cmd += ["-t", f"{config.max_track_seconds + 1:g}", "-frames:v", str(config.max_track_frames + 1)]
    cmd += ["-vf", "null", "-f", "null", "-"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=COUNT_TIMEOUT_S).stderr.decode(errors="ignore")
    except subprocess.TimeoutExpired:
        raise HttpError(
            413, f"the clip could not be read within {COUNT_TIMEOUT_S} s: send a shorter or smaller video"
        ) from None
    stats = re.findall(r"frame=\s*(\d+).*?time=\s*(-?\d+):(\d+):([\d.]+)", out)
    if not stats:
        raise HttpError(422, "the clip is not a video this server can read (no frames could be decoded)")
    n, hh, mm, ss = stats[-1]
    return int(n), max(0.0, int(hh) * 3600 + int(mm) * 60 + float(ss))


def _check_pixels(w: int, h: int, config) -> None:
    if w * h > config.max_track_pixels:
        raise HttpError(
            413,
            f"the clip's frames are {w}x{h}, over this server's limit of {config.max_track_pixels} pixels "
            "(realcam serve --max-track-pixels)",
        )


def _check_depth(path: str, clip: dict, run: dict) -> None:
    from ..depth.maps import check_depth_size, read_depth_map
    from ..evaluate.frames import _target_size

    native = (clip["width"], clip["height"])
    name = os.path.basename(path)
    try:
        depth = read_depth_map(path)
        check_depth_size(depth, name, [native, _target_size(*native, run["max_side"])])
    except UserError as e:
        raise HttpError(422, f"the depth map: {str(e).replace(path, name)}") from None
