"""An 8-bit RGB image as a PNG file with the standard library (zlib), no Pillow and no Blender.

The import writes the scene folder's image.png with this in a worker thread: Blender's own PNG writer runs on
the main thread and takes about half a second for a 1280x704 photo. zlib releases the GIL while it compresses.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The largest value still stored as 254: Blender rounds x * 255 half up, in single precision.
_BELOW_WHITE = np.float32(1.0) - np.float32(0.5) / np.float32(255.0)


def bytes_from_unit_floats(values: np.ndarray) -> np.ndarray:
    """0..1 floats as the 8-bit values Blender stores when they are written into a byte image (its
    unit_float_to_uchar_clamp, float32 arithmetic): the import's colours stay what they were when Blender
    wrote the PNG."""
    v = np.asarray(values, dtype=np.float32)
    out = (v * np.float32(255.0) + np.float32(0.5)).astype(np.int32)
    out[v <= 0] = 0
    out[v > _BELOW_WHITE] = 255
    return out.astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, rgb: np.ndarray, level: int = 6) -> None:
    """(H, W, 3) uint8, top row first, as an 8-bit RGB PNG."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, c = rgb.shape
    if c != 3:
        raise ValueError(f"write_png takes RGB, got {c} channels")
    # Filter "Sub" on every row (each byte minus the one a pixel to its left, modulo 256): photos compress
    # better than unfiltered and it is one numpy subtraction.
    px = rgb.reshape(h, w * 3)
    rows = np.empty((h, 1 + w * 3), dtype=np.uint8)
    rows[:, 0] = 1
    rows[:, 1:4] = px[:, :3]
    np.subtract(px[:, 3:], px[:, :-3], out=rows[:, 4:])
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8 bits, truecolour, deflate, filters, no interlace
    data = zlib.compress(rows.tobytes(), level)
    with open(path, "wb") as fh:
        fh.write(PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
