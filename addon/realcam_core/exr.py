"""Reading one channel of an OpenEXR file (standard library + numpy).

Depth passes live in channels Blender's image loader does not expose (a
multilayer file's 'ViewLayer.Depth.Z', or a lone 'Z'), and Blender's Python
has no OpenEXR module, so the add-on and the backend read depth maps with this
one reader. Scanline files with no, RLE, ZIPS or ZIP compression are read
(OpenEXR's and Blender's default is ZIP); tiled, deep, multi-part and other
compressions are refused with the reason.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = 20000630
_TILED, _LONG_NAMES, _DEEP, _MULTIPART = 0x200, 0x400, 0x800, 0x1000
_COMPRESSIONS = {
    0: "none",
    1: "RLE",
    2: "ZIPS",
    3: "ZIP",
    4: "PIZ",
    5: "PXR24",
    6: "B44",
    7: "B44A",
    8: "DWAA",
    9: "DWAB",
}
_LINES_PER_BLOCK = {"none": 1, "RLE": 1, "ZIPS": 1, "ZIP": 16}
_PIXEL_TYPES = {0: ("<u4", 4), 1: ("<f2", 2), 2: ("<f4", 4)}
MAX_HEADER_BYTES = 1 << 20


class ExrError(ValueError):
    """Not an EXR this reader can use; the message says why."""


@dataclass(frozen=True)
class ExrChannel:
    name: str
    dtype: str
    size: int  # bytes per sample


@dataclass(frozen=True)
class ExrHeader:
    channels: tuple  # ExrChannel, in file order (sorted by name)
    compression: str
    width: int
    height: int
    y_min: int
    data_start: int  # offset of the chunk offset table


def _cstring(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(b"\x00", pos)
    return buf[pos:end].decode("latin-1"), end + 1


def read_header(path) -> ExrHeader:
    with open(path, "rb") as fh:
        buf = fh.read(MAX_HEADER_BYTES)
    if len(buf) < 8 or struct.unpack("<i", buf[:4])[0] != MAGIC:
        raise ExrError("not an OpenEXR file")
    flags = struct.unpack("<I", buf[4:8])[0]
    if flags & (_TILED | _DEEP | _MULTIPART):
        raise ExrError("tiled, deep and multi-part EXR files are not supported; save a scanline EXR")
    pos, attrs = 8, {}
    try:
        while buf[pos] != 0:
            name, pos = _cstring(buf, pos)
            kind, pos = _cstring(buf, pos)
            (size,) = struct.unpack_from("<i", buf, pos)
            pos += 4
            attrs[name] = (kind, buf[pos : pos + size])
            pos += size
        pos += 1
    except (ValueError, IndexError, struct.error):
        raise ExrError("the EXR header is truncated or damaged") from None
    for needed in ("channels", "compression", "dataWindow"):
        if needed not in attrs:
            raise ExrError(f"the EXR header has no {needed!r} attribute")
    compression = _COMPRESSIONS.get(attrs["compression"][1][0], "unknown")
    if compression not in _LINES_PER_BLOCK:
        raise ExrError(f"EXR compression {compression} is not supported; re-save with ZIP or no compression")
    x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"][1][:16])
    return ExrHeader(_channels(attrs["channels"][1]), compression, x1 - x0 + 1, y1 - y0 + 1, y0, pos)


def _channels(raw: bytes) -> tuple:
    out, pos = [], 0
    while pos < len(raw) and raw[pos] != 0:
        name, pos = _cstring(raw, pos)
        ptype, _linear, xs, ys = struct.unpack_from("<iB3xii", raw, pos)
        pos += 16
        if ptype not in _PIXEL_TYPES:
            raise ExrError(f"channel {name!r} has an unknown pixel type {ptype}")
        if (xs, ys) != (1, 1):
            raise ExrError(f"channel {name!r} is subsampled; save it at full resolution")
        out.append(ExrChannel(name, *_PIXEL_TYPES[ptype]))
    return tuple(out)


def channel_names(path) -> list[str]:
    return [c.name for c in read_header(path).channels]


def _unrle(data: bytes) -> bytes:
    out, i, n = bytearray(), 0, len(data)
    while i < n:
        count = struct.unpack_from("<b", data, i)[0]
        i += 1
        if count < 0:
            out += data[i : i - count]
            i -= count
        else:
            out += data[i : i + 1] * (count + 1)
            i += 1
    return bytes(out)


def _undo_predictor(data: bytes) -> np.ndarray:
    """ZIP and RLE store byte deltas (+128) of the two interleaved halves of the block."""
    d = np.frombuffer(data, np.uint8).astype(np.int64)
    if d.size == 0:
        return d.astype(np.uint8)
    t = np.empty_like(d)
    t[0] = d[0]
    t[1:] = d[0] + np.cumsum(d[1:] - 128)
    t = (t & 0xFF).astype(np.uint8)
    out = np.empty_like(t)
    half = (t.size + 1) // 2
    out[0::2] = t[:half]
    out[1::2] = t[half:]
    return out


def read_channel(path, name: str) -> np.ndarray:
    """(height, width) float32 values of one channel, top row first."""
    h = read_header(path)
    names = [c.name for c in h.channels]
    if name not in names:
        raise ExrError(f"no channel {name!r} (found {', '.join(names)})")
    lines = _LINES_PER_BLOCK[h.compression]
    blocks = -(-h.height // lines)
    row_bytes = sum(c.size for c in h.channels) * h.width
    out = np.zeros((h.height, h.width), np.float32)
    with open(path, "rb") as fh:
        fh.seek(h.data_start)
        table = fh.read(8 * blocks)
        if len(table) != 8 * blocks:
            raise ExrError("the EXR file is truncated (offset table)")
        for offset in struct.unpack(f"<{blocks}Q", table):
            fh.seek(offset)
            head = fh.read(8)
            if len(head) != 8:
                raise ExrError("the EXR file is truncated")
            y, size = struct.unpack("<ii", head)
            first = y - h.y_min
            n_lines = min(lines, h.height - first)
            if not 0 <= first < h.height or size < 0 or size > row_bytes * n_lines + 1024:
                raise ExrError("the EXR file is damaged (a block is out of range)")
            data = fh.read(size)
            if len(data) != size:
                raise ExrError("the EXR file is truncated")
            expected = row_bytes * n_lines
            if size < expected:  # stored compressed (a block may be stored raw when that is smaller)
                try:
                    raw = zlib.decompress(data) if h.compression in ("ZIP", "ZIPS") else _unrle(data)
                except (zlib.error, struct.error) as e:
                    raise ExrError(f"the EXR file is damaged ({e})") from None
                if h.compression != "none":
                    raw = _undo_predictor(raw).tobytes()
            else:
                raw = data
            if len(raw) != expected:
                raise ExrError("the EXR file is damaged (a block has the wrong size)")
            _scatter(raw, h, name, first, n_lines, out)
    return out


def _scatter(raw: bytes, h: ExrHeader, name: str, first: int, n_lines: int, out: np.ndarray) -> None:
    """Each scanline holds every channel's row in turn."""
    rows = np.frombuffer(raw, np.uint8).reshape(n_lines, -1)
    start = 0
    for c in h.channels:
        width_bytes = c.size * h.width
        if c.name == name:
            part = np.ascontiguousarray(rows[:, start : start + width_bytes])
            out[first : first + n_lines] = part.view(c.dtype).reshape(n_lines, h.width).astype(np.float32)
            return
        start += width_bytes
