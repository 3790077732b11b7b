"""Opening a photo safely: size checked before decoding, EXIF orientation applied.

Photos are refused with a message when they are probably not what the user
meant (a 16-bit or grayscale PNG is more likely a depth map than a photo, an
alpha channel a render or a cut-out); `convert=True` takes them anyway.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ..errors import UserError

MAX_PIXELS = 100_000_000
# The diagonal of a 36 x 24 mm frame: "35 mm equivalent" focal lengths are
# defined on it (CIPA DC-008), so this also holds for 4:3 and 16:9 photos.
FULL_FRAME_DIAGONAL_MM = (36.0**2 + 24.0**2) ** 0.5


@dataclass
class Photo:
    image: Image.Image  # RGB, oriented as displayed
    path: str
    focal_35mm: float | None  # from EXIF, if present
    rotated: bool  # EXIF orientation was applied
    converted_from: str | None  # original mode when convert=True changed it

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    def exif_focal_px(self) -> float | None:
        """Focal length in pixels of the oriented photo, from its 35 mm equivalent."""
        if not self.focal_35mm:
            return None
        w, h = self.image.size
        return self.focal_35mm * (w * w + h * h) ** 0.5 / FULL_FRAME_DIAGONAL_MM


def _focal_35mm(img: Image.Image) -> float | None:
    try:
        exif = img.getexif()
        value = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.FocalLengthIn35mmFilm)
    except Exception:  # damaged EXIF must not stop the import
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if 1.0 <= value <= 5000.0 else None


def _describe_mode(img: Image.Image) -> str | None:
    """Why this pixel format is refused as a photo, or None when it is fine."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F") or (
        img.format == "PNG" and img.info.get("bitdepth", 8) == 16
    ):
        return (
            "is a 16-bit or floating-point image, which looks like a depth map rather than a photo; "
            "pass depth maps with --depth-map, or save the photo as 8-bit RGB (or add --convert)"
        )
    if mode in ("L", "LA", "1", "P") and not _palette_is_colour(img):
        return "is a grayscale image; the video model needs colour: save it as RGB (or add --convert)"
    if mode == "CMYK":
        return "is a CMYK (print) image; convert it to RGB in an image editor (or add --convert)"
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        return (
            "has an alpha channel; transparent parts have no defined colour: flatten it to RGB "
            "(or add --convert to composite it over white)"
        )
    if mode not in ("RGB", "P"):
        return f"has an unsupported pixel format {mode}; save it as 8-bit RGB (or add --convert)"
    return None


def _palette_is_colour(img: Image.Image) -> bool:
    if img.mode != "P":
        return False
    pal = img.getpalette() or []
    return any(pal[i] != pal[i + 1] or pal[i] != pal[i + 2] for i in range(0, len(pal) - 2, 3))


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grayscale: scale to 8 bits.
        return img.point(lambda v: v / 257).convert("L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def open_photo(path, max_pixels: int = MAX_PIXELS, convert: bool = False) -> Photo:
    """Open, check and orient a photo; UserError naming the file when it cannot be used."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise UserError(f"{name}: no such file")
    if os.path.getsize(name) == 0:
        raise UserError(f"{name}: the file is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # Pillow's own bomb guard would fire at 2x its default; ours is exact.
        previous = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            img = Image.open(name)  # reads the header only
        except UnidentifiedImageError:
            raise UserError(f"{name}: not an image, or a format this tool cannot read (use JPEG or PNG)") from None
        except OSError as e:
            raise UserError(f"{name}: cannot be read as an image ({e})") from None
        finally:
            Image.MAX_IMAGE_PIXELS = previous
    w, h = img.size
    if w * h > max_pixels:
        img.close()
        raise UserError(
            f"{name}: {w}x{h} is {w * h / 1e6:.0f} megapixels, more than the {max_pixels / 1e6:.0f} allowed; "
            "scale it down first"
        )
    if w < 16 or h < 16:
        img.close()
        raise UserError(f"{name}: {w}x{h} is too small to be a photo")
    problem = _describe_mode(img)
    if problem and not convert:
        img.close()
        raise UserError(f"{name}: {problem}")
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{name}: the image data is damaged or truncated ({e})") from None
    focal = _focal_35mm(img)
    orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    oriented = ImageOps.exif_transpose(img)
    original_mode = img.mode
    rgb = _to_rgb(oriented) if oriented.mode != "RGB" else oriented
    return Photo(
        image=rgb,
        path=name,
        focal_35mm=focal,
        rotated=orientation not in (None, 1),
        converted_from=original_mode if problem else None,
    )
