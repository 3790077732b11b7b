"""Whether a file can be a photo, from its bytes, before anything decodes or uploads it (standard library only).

An empty file, a copy that stopped part way, another file renamed, a picture of 0x0 pixels or a folder would
otherwise reach the backend (which answers about request bodies) or Blender's decoder (which fills a cut JPEG
with grey). Each gets one sentence naming the file, what is wrong and what to do.
"""

from __future__ import annotations

import os
import struct

from ..png_info import PNG_SIGNATURE

# What the add-on's photo formats start with (Blender reads them; the backend too, EXR and HDR as a PNG copy).
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (PNG_SIGNATURE, "PNG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"v/1\x01", "EXR"),
    (b"#?RADIANCE", "HDR"),
    (b"#?RGBE", "HDR"),
    (b"BM", "BMP"),
)
# Extensions whose files always start with a signature; other formats (TGA has none) are left to Blender.
_SNIFFED = {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".exr", ".hdr", ".bmp"}
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they hold the picture's size.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_COPY_AGAIN = "copy it again from where it came from, or pick another photo"


def problem(path: str) -> str | None:
    """Why the file at path cannot be a photo, as a sentence for the artist; None when nothing is wrong with it
    that its bytes show (reads the whole file: call it in a worker thread)."""
    name = os.path.basename(path.rstrip("/\\")) or path
    if os.path.isdir(path):
        return f"{name} is a folder, not a photo ({path}): pick a photo file"
    if not os.path.isfile(path):
        return f"{path}: no such photo: pick an existing file in Import Photo"
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        return f"{name} cannot be read ({e.strerror or e}): check the file's permissions, or pick another photo"
    if not data:
        return f"{name} is empty (0 bytes): the copy or download did not finish; {_COPY_AGAIN}"
    kind = _kind(data)
    if kind is None:
        if os.path.splitext(path)[1].lower() in _SNIFFED:
            return (
                f"{name} is not a picture (it does not start as a JPEG, PNG, TIFF, WebP, EXR or HDR file does; "
                "perhaps another file was renamed): pick the photo itself"
            )
        return None  # a format without a signature: Blender decides
    checker = _CHECKS.get(kind)
    why = checker(data) if checker else None
    return f"{name} {why}" if why else None


def _kind(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for sig, kind in _SIGNATURES:
        if data.startswith(sig):
            return kind
    return None


def _cut() -> str:
    return f"is cut short (the file ends before its picture does): {_COPY_AGAIN}"


def _no_pixels(w: int, h: int) -> str:
    return f"has {w}x{h} pixels: it holds no picture; pick another photo"


def _check_png(data: bytes) -> str | None:
    if len(data) < 33 or data[12:16] != b"IHDR":
        return _cut()
    w, h = struct.unpack(">II", data[16:24])
    if w == 0 or h == 0:
        return _no_pixels(w, h)
    if data.rfind(b"IEND") < 0:  # the last chunk; some writers add bytes after it, so not only at the very end
        return _cut()
    return None


def _check_jpeg(data: bytes) -> str | None:
    """Walk the segments to the first scan: the picture's size is in its frame header, and the scan data must end
    with an end-of-image marker (inside scan data 0xFF is always followed by 0x00 or a restart marker)."""
    pos, n, size = 2, len(data), None
    while True:
        while pos < n and data[pos] == 0xFF and pos + 1 < n and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 2 > n:
            return _cut()
        if data[pos] != 0xFF:
            return "is damaged (its JPEG header is broken): " + _COPY_AGAIN
        marker = data[pos + 1]
        if marker == 0xD9:
            return "ends before its picture begins (a JPEG with no image data): pick another photo"
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            pos += 2
            continue
        if pos + 4 > n:
            return _cut()
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in _SOF and pos + 9 <= n:
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (w, h)
        if marker == 0xDA:
            break
        pos += 2 + length
    if size is not None and 0 in size:
        return _no_pixels(*size)
    if data.find(b"\xff\xd9", pos + 2 + length) < 0:
        return _cut()
    return None


def _check_webp(data: bytes) -> str | None:
    declared = struct.unpack("<I", data[4:8])[0] + 8
    return _cut() if len(data) < declared else None


_CHECKS = {"PNG": _check_png, "JPEG": _check_jpeg, "WEBP": _check_webp}
