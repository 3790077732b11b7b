"""The add-on's own EXIF reader (no Pillow in Blender) against Pillow, the backend's reader."""

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageOps

from realcam_core.addon_only import exif


def _photo(path, orientation=None, focal=None, fmt="JPEG"):
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 255, (30, 50, 3), dtype=np.uint8))
    e = img.getexif()
    if orientation:
        e[ExifTags.Base.Orientation] = orientation
    if focal:
        e.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.FocalLengthIn35mmFilm] = focal
    img.save(path, format=fmt, exif=e, **({"quality": 100} if fmt == "JPEG" else {}))
    return path


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(tmp_path, fmt, ext, orientation):
    path = _photo(tmp_path / f"p.{ext}", orientation, 28 if orientation == 3 else None, fmt)
    info = exif.read(path)
    assert info.orientation == orientation
    assert info.focal_35mm == (28.0 if orientation == 3 else None)
    with Image.open(path) as im:
        stored = np.asarray(im.convert("RGB"))
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert np.array_equal(exif.orient(stored, info.orientation), expected)
    assert info.swaps_axes == (expected.shape[:2] != stored.shape[:2])


def test_no_exif_and_damaged_exif_give_defaults(tmp_path):
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (20, 10)).save(plain)
    assert exif.read(plain) == exif.ExifInfo(1, None)
    data = bytearray(_photo(tmp_path / "d.jpg", 6).read_bytes())
    i = data.find(b"Exif\x00\x00")
    data[i + 6 : i + 40] = b"\xff" * 34  # the TIFF header and IFD0 destroyed
    (tmp_path / "bad.jpg").write_bytes(bytes(data))
    assert exif.read(tmp_path / "bad.jpg") == exif.ExifInfo()
    (tmp_path / "text.jpg").write_text("not a picture")
    assert exif.read(tmp_path / "text.jpg") == exif.ExifInfo()
    assert exif.read(tmp_path / "missing.jpg") == exif.ExifInfo()
