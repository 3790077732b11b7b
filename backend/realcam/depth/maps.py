"""Depth maps the user supplies (LiDAR, another tool): .npy metres, 16-bit PNG millimetres, EXR.

Zero marks unknown depth (no geometry there); NaN, infinities and negative
values are refused, since they usually mean a broken export.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from realcam_core.npy_info import npy_header

from ..errors import UserError

MAX_DEPTH_PIXELS = 100_000_000
EXR_DEPTH_CHANNELS = ("Z", "depth", "Depth", "D", "Y", "R", "V")


def _read_npy(path: str) -> np.ndarray:
    try:
        shape, dtype = npy_header(path)
    except Exception as e:
        raise UserError(f"{path}: not a readable .npy file ({e})") from None
    if len(shape) == 3 and shape[-1] == 1:
        shape = shape[:2]
    if len(shape) != 2:
        raise UserError(f"{path}: depth map must be a 2-D array (height, width), found shape {shape}")
    if shape[0] * shape[1] > MAX_DEPTH_PIXELS:
        raise UserError(f"{path}: depth map of {shape[1]}x{shape[0]} is too large")
    if dtype.kind not in "fiu":
        raise UserError(f"{path}: depth map must hold numbers (metres), found {dtype}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UserError(f"{path}: damaged .npy file ({e})") from None
    return arr.reshape(shape).astype(np.float32)


def _read_png(path: str) -> np.ndarray:
    try:
        img = Image.open(path)
        if img.size[0] * img.size[1] > MAX_DEPTH_PIXELS:
            raise UserError(f"{path}: depth map of {img.size[0]}x{img.size[1]} is too large")
        img.load()
    except UnidentifiedImageError:
        raise UserError(f"{path}: not a PNG image") from None
    except OSError as e:
        raise UserError(f"{path}: damaged PNG ({e})") from None
    if img.mode not in ("I;16", "I;16B", "I;16L", "I"):
        raise UserError(
            f"{path}: a PNG depth map must be 16-bit grayscale in millimetres, found mode {img.mode} "
            "(an 8-bit PNG cannot hold metric depth)"
        )
    return np.asarray(img, dtype=np.float32) / 1000.0


def _read_exr(path: str) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise UserError(f"{path}: reading EXR needs the 'openexr' package (pip install openexr)") from None
    try:
        with OpenEXR.File(path) as f:
            channels = f.channels()
            for part_name in EXR_DEPTH_CHANNELS:
                for name, ch in channels.items():
                    if name == part_name or name.endswith("." + part_name):
                        px = np.asarray(ch.pixels)
                        return (px if px.ndim == 2 else px[..., 0]).astype(np.float32)
            if "RGB" in channels or "RGBA" in channels:
                px = np.asarray(channels.get("RGB", channels.get("RGBA")).pixels)
                return px[..., 0].astype(np.float32)
            raise UserError(
                f"{path}: no depth channel in this EXR (looked for {', '.join(EXR_DEPTH_CHANNELS)}; "
                f"found {', '.join(channels)})"
            )
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{path}: not a readable EXR file ({e})") from None


def read_depth_map(path) -> np.ndarray:
    """(H, W) float32 z-depth in metres; 0 where unknown."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such depth map")
    if os.path.getsize(path) == 0:
        raise UserError(f"{path}: the depth map file is empty")
    ext = os.path.splitext(path)[1].lower()
    readers = {".npy": _read_npy, ".png": _read_png, ".exr": _read_exr}
    if ext not in readers:
        raise UserError(f"{path}: unknown depth map format {ext!r}; use .npy (metres), 16-bit .png (mm) or .exr")
    depth = readers[ext](path)
    bad = ~np.isfinite(depth)
    if bad.any():
        raise UserError(
            f"{path}: depth map has {int(bad.sum())} NaN or infinite values; mark unknown depth with 0 instead"
        )
    if (depth < 0).any():
        raise UserError(f"{path}: depth map has negative values; depth must be metres in front of the camera")
    if not (depth > 0).any():
        raise UserError(f"{path}: depth map holds no depth (all zero)")
    return depth


def check_depth_size(depth: np.ndarray, path: str, sizes: list[tuple[int, int]]) -> None:
    h, w = depth.shape
    if (w, h) not in sizes:
        allowed = " or ".join(f"{a}x{b}" for a, b in dict.fromkeys(sizes))
        raise UserError(f"{path}: depth map is {w}x{h} but must match the photo: {allowed}")
