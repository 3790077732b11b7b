"""Depth maps the artist supplies (LiDAR, another tool): one rule for the add-on and the backend.

    .npy   an (H, W) or (H, W, 1) array of numbers, metres
    .png   16-bit grayscale, millimetres (an 8-bit PNG cannot hold metric depth: refused)
    .exr   floating point, metres, from the first depth channel found (EXR_DEPTH_CHANNELS:
           a lone Z, a multilayer pass such as 'ViewLayer.Depth.Z', Y, then R)

Zero marks unknown depth (no geometry there), and so do values of
BACKGROUND_DEPTH or more (renderers write 1e10 where nothing was hit); NaN,
infinities, negative values and a map with no depth at all are refused, since
they mean a broken export.

Everything here is shared by both sides, .npy and EXR reading included; only
the PNG's pixels are decoded per side (Pillow in the backend, Blender's image
loader in the add-on, which has no Pillow), after the header was checked here.
"""

from __future__ import annotations

import os

import numpy as np

from . import exr
from .npy_info import npy_header
from .png_info import png_info

MAX_DEPTH_PIXELS = 100_000_000
BACKGROUND_DEPTH = 1e9  # metres; at or past this a pixel saw nothing
PNG_UNITS_PER_METRE = 1000.0  # millimetres
EXR_DEPTH_CHANNELS = ("Z", "depth", "Depth", "D", "Y", "R", "V")
FORMATS = {".npy": ".npy (metres)", ".png": "16-bit grayscale .png (millimetres)", ".exr": ".exr (metres)"}


class DepthMapError(ValueError):
    """A depth map that cannot be used; the message names the file and what to do."""


def depth_format(path) -> str:
    """The file's extension once the file exists and is one of FORMATS."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DepthMapError(f"{path}: no such depth map")
    if os.path.getsize(path) == 0:
        raise DepthMapError(f"{path}: the depth map file is empty")
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise DepthMapError(f"{path}: unknown depth map format {ext!r}; use {', '.join(FORMATS.values())}")
    if ext == ".png":
        check_png_header(path)
    return ext


def check_png_header(path) -> None:
    """A PNG depth map must be 16-bit grayscale (checked before decoding)."""
    try:
        info = png_info(path)
    except (OSError, ValueError) as e:
        raise DepthMapError(f"{path}: not a readable PNG ({e})") from None
    if info.width * info.height > MAX_DEPTH_PIXELS:
        raise DepthMapError(f"{path}: depth map of {info.width}x{info.height} is too large")
    if info.bit_depth != 16 or info.color != "gray":
        raise DepthMapError(
            f"{path}: a PNG depth map must be 16-bit grayscale in millimetres, found {info.bit_depth}-bit "
            f"{info.color} (an 8-bit PNG cannot hold metric depth; export 16-bit, or use .npy or .exr)"
        )


def read_npy(path) -> np.ndarray:
    """(H, W) float32 metres from a .npy file, its header checked before the data is read."""
    try:
        shape, dtype = npy_header(path)
    except Exception as e:  # numpy raises several types for a bad header
        raise DepthMapError(f"{path}: not a readable .npy file ({e})") from None
    if len(shape) == 3 and shape[-1] == 1:
        shape = shape[:2]
    if len(shape) != 2:
        raise DepthMapError(f"{path}: depth map must be a 2-D array (height, width), found shape {shape}")
    if shape[0] * shape[1] > MAX_DEPTH_PIXELS:
        raise DepthMapError(f"{path}: depth map of {shape[1]}x{shape[0]} is too large")
    if dtype.kind not in "fiu":
        raise DepthMapError(f"{path}: depth map must hold numbers (metres), found {dtype}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DepthMapError(f"{path}: damaged .npy file ({e})") from None
    return arr.reshape(shape).astype(np.float32)


def png_to_metres(values: np.ndarray) -> np.ndarray:
    """Stored 16-bit PNG values (0..65535) -> metres."""
    return np.asarray(values, dtype=np.float32) / np.float32(PNG_UNITS_PER_METRE)


def exr_depth_channel(names) -> str | None:
    """The channel of an EXR that holds depth (layer prefixes such as 'ViewLayer.Depth.Z' allowed)."""
    for wanted in EXR_DEPTH_CHANNELS:
        for name in names:
            if name == wanted or name.endswith("." + wanted):
                return name
    return None


def read_exr(path) -> np.ndarray:
    try:
        names = exr.channel_names(path)
        name = exr_depth_channel(names)
        if name is None:
            raise DepthMapError(
                f"{path}: no depth channel in this EXR (looked for {', '.join(EXR_DEPTH_CHANNELS)}; "
                f"found {', '.join(names)})"
            )
        return exr.read_channel(path, name)
    except exr.ExrError as e:
        raise DepthMapError(f"{path}: {e}") from None


def read(path, decode_png16) -> np.ndarray:
    """(H, W) float32 z-depth in metres, 0 where unknown.

    decode_png16(path) -> (H, W) array of the stored 16-bit values: each side's PNG decoder."""
    path = os.fspath(path)
    ext = depth_format(path)
    if ext == ".npy":
        depth = read_npy(path)
    elif ext == ".png":
        depth = png_to_metres(decode_png16(path))
    else:
        depth = read_exr(path)
    return checked(depth, path)


def checked(depth: np.ndarray, path) -> np.ndarray:
    """The decoded map as (H, W) float32 metres, or DepthMapError for values no depth can have."""
    depth = np.asarray(depth, dtype=np.float32)
    bad = ~np.isfinite(depth)
    if bad.any():
        raise DepthMapError(
            f"{path}: depth map has {int(bad.sum())} NaN or infinite values; mark unknown depth with 0 instead"
        )
    if (depth < 0).any():
        raise DepthMapError(f"{path}: depth map has negative values; depth must be metres in front of the camera")
    depth = np.where(depth >= BACKGROUND_DEPTH, np.float32(0.0), depth)
    if not (depth > 0).any():
        raise DepthMapError(f"{path}: depth map holds no depth (all zero or background)")
    return depth


def check_size(depth: np.ndarray, path, sizes: list[tuple[int, int]]) -> None:
    """The map must match the photo (as displayed) or the generation size: sizes are (w, h)."""
    h, w = depth.shape
    if (w, h) not in sizes:
        allowed = " or ".join(f"{a}x{b}" for a, b in dict.fromkeys(sizes))
        raise DepthMapError(f"{path}: depth map is {w}x{h} but must match the photo: {allowed}")
