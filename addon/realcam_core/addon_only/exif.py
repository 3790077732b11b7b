"""EXIF orientation and 35 mm focal length from a photo file, in pure Python (no Pillow).

Blender's image loader ignores EXIF orientation, and the add-on has no Pillow,
so the add-on reads the two tags it needs itself: Orientation (0x0112, IFD0)
and FocalLengthIn35mmFilm (0xA405, Exif IFD). JPEG (APP1), PNG (eXIf) and WebP
(EXIF chunk) are read; anything else (TIFF readers disagree on whether they turn
the pixels themselves), or damaged EXIF, gives the defaults (upright, no
focal), so a photo is never refused for its metadata. `orient` turns a pixel
array the way Pillow's ImageOps.exif_transpose does (the backend's rule).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
FOCAL_35MM = 0xA405
MAX_SCAN_BYTES = 16 * 1024 * 1024  # metadata sits near the start; never read a whole large photo for it


@dataclass(frozen=True)
class ExifInfo:
    orientation: int = 1  # 1..8 as in the EXIF standard; 1 = as stored
    focal_35mm: float | None = None  # 35 mm equivalent focal length (on the diagonal), mm

    @property
    def swaps_axes(self) -> bool:
        return self.orientation in (5, 6, 7, 8)


def read(path) -> ExifInfo:
    """ExifInfo of the file at path; defaults when it has none or it cannot be read."""
    try:
        with open(os.fspath(path), "rb") as fh:
            head = fh.read(12)
            fh.seek(0)
            if head[:2] == b"\xff\xd8":
                blob = _jpeg_app1(fh)
            elif head[:8] == b"\x89PNG\r\n\x1a\n":
                blob = _png_exif(fh)
            elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                blob = _webp_exif(fh)
            else:
                return ExifInfo()
    except OSError:
        return ExifInfo()
    return parse_tiff(blob) if blob else ExifInfo()


def parse_tiff(blob: bytes) -> ExifInfo:
    """The two tags from a TIFF-structured EXIF block ("II*\\0..." or "MM\\0*...")."""
    try:
        return _parse_tiff(blob)
    except (struct.error, IndexError, ValueError):
        return ExifInfo()


def _parse_tiff(blob: bytes) -> ExifInfo:
    if blob[:2] == b"II":
        end = "<"
    elif blob[:2] == b"MM":
        end = ">"
    else:
        return ExifInfo()
    if struct.unpack(end + "H", blob[2:4])[0] != 42:
        return ExifInfo()
    ifd0 = struct.unpack(end + "I", blob[4:8])[0]
    tags0 = _ifd(blob, ifd0, end)
    orientation = tags0.get(ORIENTATION, 1)
    focal = None
    if EXIF_IFD in tags0:
        focal = _ifd(blob, tags0[EXIF_IFD], end).get(FOCAL_35MM)
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    focal = float(focal) if isinstance(focal, (int, float)) and 1 <= focal <= 5000 else None
    return ExifInfo(orientation, focal)


def _ifd(blob: bytes, offset: int, end: str) -> dict:
    """SHORT and LONG values (first of each) of one IFD: tag -> int."""
    out = {}
    (count,) = struct.unpack(end + "H", blob[offset : offset + 2])
    for i in range(min(count, 1000)):
        e = offset + 2 + 12 * i
        tag, typ, n = struct.unpack(end + "HHI", blob[e : e + 8])
        if n < 1:
            continue
        if typ == 3:  # SHORT, inline
            out[tag] = struct.unpack(end + "H", blob[e + 8 : e + 10])[0]
        elif typ == 4:  # LONG, inline (also the Exif IFD pointer)
            out[tag] = struct.unpack(end + "I", blob[e + 8 : e + 12])[0]
    return out


def _jpeg_app1(fh) -> bytes | None:
    fh.read(2)
    scanned = 2
    while scanned < MAX_SCAN_BYTES:
        marker = fh.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        if marker[1] in (0xD9, 0xDA):  # end of image, start of scan: no metadata after this
            return None
        if 0xD0 <= marker[1] <= 0xD7 or marker[1] == 0x01:
            continue  # markers without a length
        (length,) = struct.unpack(">H", fh.read(2))
        body = fh.read(length - 2)
        scanned += 2 + length
        if marker[1] == 0xE1 and body[:6] == b"Exif\x00\x00":
            return body[6:]
    return None


def _png_exif(fh) -> bytes | None:
    fh.read(8)
    while True:
        head = fh.read(8)
        if len(head) < 8:
            return None
        length, kind = struct.unpack(">I4s", head)
        if kind == b"eXIf":
            return fh.read(length)
        if kind in (b"IDAT", b"IEND") or length > MAX_SCAN_BYTES:
            return None  # EXIF must come before the image data
        fh.seek(length + 4, os.SEEK_CUR)


def _webp_exif(fh) -> bytes | None:
    fh.read(12)
    while True:
        head = fh.read(8)
        if len(head) < 8:
            return None
        kind, length = struct.unpack("<4sI", head)
        if kind == b"EXIF":
            data = fh.read(length)
            return data[6:] if data[:6] == b"Exif\x00\x00" else data
        if length > MAX_SCAN_BYTES:
            return None
        fh.seek(length + (length & 1), os.SEEK_CUR)


def orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """An (H, W, ...) array, top row first, turned as the photo is displayed."""
    a = pixels
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = a[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)
