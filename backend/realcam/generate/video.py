"""H.264 MP4 from uint8 frames, through the ffmpeg that imageio-ffmpeg ships, and the checks before it.

ffmpeg is run here rather than through imageio_ffmpeg.write_frames, which never reads ffmpeg's exit status:
a full disk left a cut MP4 behind and no error. Here a failure raises, a full disk as OSError(ENOSPC).
"""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from fractions import Fraction

import numpy as np

from ..errors import UserError


def video_rate(fps: float) -> Fraction:
    """The frame rate the MP4 is written at: fps as a fraction, exact for the NTSC rates (24000/1001)."""
    return Fraction(fps).limit_denominator(1001)


def as_uint8_frames(frames) -> np.ndarray:
    """A pipeline's float frames in [0, 1] as uint8. A model that produced NaN or infinity fails here: clipped
    and cast they would be a black take that looks done."""
    frames = np.asarray(frames)
    finite = np.isfinite(frames)
    if not finite.all():
        bad = int(frames.size - np.count_nonzero(finite))
        raise UserError(
            f"the model produced {bad} non-finite values (NaN or infinity) of {frames.size} in the video: no "
            "take was written. Extreme cameras, a damaged model or too low a precision (--dtype float16) cause "
            "this; try a gentler move, float32 or bfloat16, or another model"
        )
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_mp4(path: str, frames: np.ndarray, fps: float, quality: int = 8) -> None:
    """frames: (F, H, W, 3) uint8, at video_rate(fps). quality: 1 to 10 as imageio-ffmpeg has it (10 is
    lossless, 8 visually so). Even sides are kept as they are; an odd side is scaled to the next even size
    (yuv420p needs even sides)."""
    import imageio_ffmpeg

    _, h, w, _ = frames.shape
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{w}x{h}"]
    cmd += ["-pix_fmt", "rgb24", "-r", str(video_rate(fps)), "-i", "-", "-an"]
    cmd += ["-vcodec", "libx264", "-pix_fmt", "yuv420p", "-crf", str(int((1 - quality / 10) * 51))]
    if w % 2 or h % 2:
        cmd += ["-vf", f"scale={w + w % 2}:{h + h % 2}"]
    cmd += ["-v", "error", "-movflags", "+faststart", path]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        try:
            for frame in frames:
                proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped: its exit status and log say why
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            proc.wait()
        log.seek(0)
        said = log.read().decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        last = said.splitlines()[-1] if said else f"exit status {proc.returncode}"
        for code in (errno.ENOSPC, errno.EDQUOT):  # a full disk is waited out, not a fault (service/worker.py)
            if os.strerror(code) in said:
                raise OSError(code, f"the video could not be written: {last}", path)
        raise RuntimeError(f"ffmpeg could not write the video: {last}")
