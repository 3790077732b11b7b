"""The add-on's check of a photo file's bytes (realcam_core.addon_only.photo_file): degenerate files are named
before anything decodes or uploads them; real photos, with what cameras and editors add, pass."""

import io
import os
import struct
import zlib

import numpy as np
import pytest
from helpers import SAMPLES
from PIL import Image

from realcam_core.addon_only.photo_file import problem


def _write(path, data: bytes) -> str:
    with open(path, "wb") as fh:
        fh.write(data)
    return str(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _encoded(fmt: str, **kw) -> bytes:
    rgb = np.asarray(Image.open(os.path.join(SAMPLES, "room.jpg")).convert("RGB"))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt, kw, ext",
    [
        ("JPEG", {"quality": 90}, ".jpg"),
        ("JPEG", {"quality": 90, "progressive": True}, ".jpg"),
        ("PNG", {}, ".png"),
        ("TIFF", {}, ".tif"),
        ("WEBP", {"quality": 80}, ".webp"),
        ("BMP", {}, ".bmp"),
    ],
)
def test_whole_photos_pass_and_cut_ones_are_named(tmp_path, fmt, kw, ext):
    data = _encoded(fmt, **kw)
    assert problem(_write(tmp_path / f"whole{ext}", data)) is None
    if fmt in ("JPEG", "PNG", "WEBP"):
        for frac in (0.2, 0.6, 0.99):
            cut = _write(tmp_path / f"cut{ext}", data[: int(len(data) * frac)])
            why = problem(cut)
            assert why is not None and why.startswith(f"cut{ext} ") and "cut short" in why, (frac, why)


def test_what_cameras_and_editors_add_still_passes(tmp_path):
    jpeg = open(os.path.join(SAMPLES, "room.jpg"), "rb").read()
    # Bytes after the end of the picture (a motion photo's video, a maker note trailer).
    assert problem(_write(tmp_path / "trailer.jpg", jpeg + b"\x00" * 100 + b"MP4 data")) is None
    # An EXIF thumbnail: a whole JPEG inside the header, whose own end marker comes before the picture's scan.
    thumb = _encoded("JPEG", quality=50)
    img = Image.open(os.path.join(SAMPLES, "room.jpg"))
    exif = img.getexif()
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=90)
    data = buf.getvalue()
    app1 = b"Exif\x00\x00" + thumb[:2000]  # thumbnail-like bytes with an end marker missing: still just a segment
    with_segment = data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]
    assert problem(_write(tmp_path / "exif.jpg", with_segment)) is None
    assert "cut short" in problem(_write(tmp_path / "exif_cut.jpg", with_segment[: len(with_segment) // 2]))
    # A PNG with bytes after its last chunk.
    png = _encoded("PNG")
    assert problem(_write(tmp_path / "extra.png", png + b"\x00\x00")) is None
    # A format without a signature (TGA) is left to Blender.
    assert problem(_write(tmp_path / "frame.tga", _encoded("TGA"))) is None


def test_degenerate_files_are_named_with_what_to_do(tmp_path):
    empty = _write(tmp_path / "empty.jpg", b"")
    assert problem(empty) == (
        "empty.jpg is empty (0 bytes): the copy or download did not finish; copy it again from where it came from, "
        "or pick another photo"
    )
    why = problem(_write(tmp_path / "notes.jpg", b"shot list: room, hall\n"))
    assert why.startswith("notes.jpg is not a picture") and "renamed" in why
    assert "is a folder" in problem(str(tmp_path))
    assert "no such photo" in problem(str(tmp_path / "missing.jpg"))
    zero = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0))
    zero += _png_chunk(b"IDAT", zlib.compress(b"")) + _png_chunk(b"IEND", b"")
    assert problem(_write(tmp_path / "zero.png", zero)).startswith("zero.png has 0x0 pixels")
    # A JPEG whose frame header says 0 lines.
    jpeg = bytearray(open(os.path.join(SAMPLES, "room.jpg"), "rb").read())
    sof = next(i for i in range(2, len(jpeg) - 1) if jpeg[i] == 0xFF and jpeg[i + 1] in (0xC0, 0xC2))
    jpeg[sof + 5 : sof + 7] = b"\x00\x00"
    assert problem(_write(tmp_path / "flat.jpg", bytes(jpeg))).startswith("flat.jpg has 832x0 pixels")
    assert "no image data" in problem(_write(tmp_path / "header.jpg", b"\xff\xd8\xff\xd9"))
