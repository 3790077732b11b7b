"""RealEstate10K camera files, read and written exactly.

A file is an optional first line holding the source (a video URL in the
dataset), then one row per frame:

    timestamp fx fy cx cy 0 0 r00 r01 r02 t0 r10 r11 r12 t1 r20 r21 r22 t2

with the intrinsics normalised by the image width (fx, cx) and height (fy, cy)
and a row-major 3x4 world-to-camera matrix in OpenCV axes. A file read at
another aspect than it was written for is centre-cropped, as upstream reads
RealEstate10K's 16:9 files at 256x256 or 512x320 (Re10kFrame.intrinsics). Numbers are written
with Python's shortest round-trip repr, so reading what was written gives back
the same float64 values bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .camera import Intrinsics, rigid_inverse


class Re10kError(ValueError):
    """A camera file that cannot be read."""


@dataclass
class Re10kFrame:
    timestamp: int  # microseconds, as in the dataset
    fx: float  # normalised by width
    fy: float  # normalised by height
    cx: float
    cy: float
    w2c: np.ndarray  # 3x4 world-to-camera, OpenCV axes

    def source_aspect(self) -> float:
        """Width / height of the images this row was written for, if their pixels were square: fy / fx."""
        return self.fy / self.fx

    def intrinsics(self, width: int, height: int, source_aspect: float | None = None) -> Intrinsics:
        """The camera seen at width x height, read as upstream reads a file written for another aspect.

        The source image is resized to cover width x height, keeping its pixels square, then
        centre-cropped (CamI2V's `_resize_for_rectangle_crop`, VideoX-Fun's `process_pose_file`): the
        focal lengths scale with the resized image, the principal point moves with the crop. Not
        fy = fy_n * H with fx = fx_n * W, which squashes the pixels when the aspects differ. The source
        aspect is `source_aspect` when known, else the one that square pixels imply (fy_n / fx_n); a
        file written by a camera with non-square pixels must be read with its source aspect.

        Upstream differences, below 0.2 % for RealEstate10K's 16:9 files: CamI2V truncates the
        resized size to whole pixels, and both take cx = cx_n * W (equal to the crop rule for the
        centred principal points those files have)."""
        aspect = self.source_aspect() if source_aspect is None else float(source_aspect)
        if not (math.isfinite(aspect) and aspect > 0):
            raise Re10kError(f"cannot read intrinsics with a source aspect of {aspect!r}")
        target = width / height
        if abs(aspect / target - 1.0) < 1e-9:  # written for this aspect: plain scaling, bit for bit
            rw, rh = float(width), float(height)
        elif aspect > target:
            rw, rh = height * aspect, float(height)
        else:
            rw, rh = float(width), width / aspect
        return Intrinsics(
            self.fx * rw,
            self.fy * rh,
            self.cx * rw - 0.5 * (rw - width),
            self.cy * rh - 0.5 * (rh - height),
            width,
            height,
        )

    def c2w(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :] = self.w2c
        return rigid_inverse(m)


@dataclass
class Re10kFile:
    frames: list[Re10kFrame]
    source: str | None = None


def _num(x: float) -> str:
    return repr(float(x))


def format_re10k(cameras: Re10kFile) -> str:
    lines = []
    if cameras.source is not None:
        lines.append(cameras.source)
    for f in cameras.frames:
        w2c = np.asarray(f.w2c, dtype=np.float64).reshape(3, 4)
        nums = [_num(f.fx), _num(f.fy), _num(f.cx), _num(f.cy), "0", "0", *(_num(v) for v in w2c.ravel())]
        lines.append(" ".join([str(int(f.timestamp)), *nums]))
    return "\n".join(lines) + "\n"


def parse_re10k(text: str, name: str = "camera file") -> Re10kFile:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise Re10kError(f"{name}: empty, expected RealEstate10K rows")
    source = None
    if len(lines[0].split()) == 1:  # the dataset's URL line
        source = lines[0]
        lines = lines[1:]
    frames = []
    for n, line in enumerate(lines, start=2 if source is not None else 1):
        parts = line.split()
        if len(parts) != 19:
            raise Re10kError(f"{name}, line {n}: expected 19 numbers, found {len(parts)}")
        try:
            ts = int(parts[0])
            vals = [float(p) for p in parts[1:]]
        except ValueError as e:
            raise Re10kError(f"{name}, line {n}: not a number ({e})") from None
        if not all(np.isfinite(vals)):
            raise Re10kError(f"{name}, line {n}: non-finite number")
        w2c = np.array(vals[6:], dtype=np.float64).reshape(3, 4)
        frames.append(Re10kFrame(ts, vals[0], vals[1], vals[2], vals[3], w2c))
    if not frames:
        raise Re10kError(f"{name}: no camera rows")
    return Re10kFile(frames, source)


def read_re10k(path) -> Re10kFile:
    with open(path, encoding="utf-8") as fh:
        return parse_re10k(fh.read(), name=str(path))


def write_re10k(path, cameras: Re10kFile) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(format_re10k(cameras))


def from_track(
    c2ws, intrinsics: list[Intrinsics], fps: float, source: str | None = None, frame_numbers=None
) -> Re10kFile:
    """A camera file for a track: one row per frame, timestamps from the frame rate.

    frame_numbers: each row's frame of the video (default 0, 1, 2, ...), for a track with gaps."""
    frames = []
    numbers = range(len(c2ws)) if frame_numbers is None else frame_numbers
    for i, c2w, K in zip(numbers, c2ws, intrinsics, strict=True):
        w2c = rigid_inverse(np.asarray(c2w, dtype=np.float64))[:3, :]
        frames.append(
            Re10kFrame(round(i * 1e6 / fps), K.fx / K.width, K.fy / K.height, K.cx / K.width, K.cy / K.height, w2c)
        )
    return Re10kFile(frames, source)
