"""What a PNG file is, from its header, without decoding it (standard library only).

The bundle is checked on both sides of the wire, and Blender's Python has no
Pillow, so size and pixel format are read from the IHDR chunk directly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {0: "gray", 2: "rgb", 3: "palette", 4: "gray+alpha", 6: "rgba"}
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


@dataclass(frozen=True)
class PngInfo:
    width: int
    height: int
    bit_depth: int
    color: str  # gray, rgb, palette, gray+alpha, rgba
    complete: bool  # ends with an IEND chunk (not truncated)


def png_info(path) -> PngInfo:
    """Header facts of a PNG; ValueError with the reason when it is not one."""
    with open(path, "rb") as fh:
        head = fh.read(33)
        if len(head) == 0:
            raise ValueError("file is empty")
        if head[:8] != PNG_SIGNATURE:
            raise ValueError("not a PNG file")
        if len(head) < 33 or head[12:16] != b"IHDR":
            raise ValueError("PNG header is truncated or damaged")
        width, height, bit_depth, color_type = struct.unpack(">IIBB", head[16:26])
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - len(_IEND)))
        complete = fh.read() == _IEND
    if color_type not in _COLOR_TYPES:
        raise ValueError(f"PNG has an invalid colour type {color_type}")
    return PngInfo(width, height, bit_depth, _COLOR_TYPES[color_type], complete)
