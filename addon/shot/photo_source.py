"""Photo -> (image, metric depth, intrinsics) in a scene folder, by the backend or by the user's depth map.

The scene folder holds what `realcam depth` writes (image.png, depth.npy,
intrinsics.json), whichever way it was made, so the rest of the add-on reads
one layout.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile

import bpy
import numpy as np

from ..realcam_core import depth_map as depth_rule
from ..realcam_core.addon_only import exif
from ..realcam_core.addon_only.png_write import bytes_from_unit_floats, write_png
from ..realcam_core.camera import K_CONVENTION, Intrinsics
from ..realcam_core.resample import cover_crop_box, resize_cover
from ..tasks import Background, run_now

# The backend opens photos with Pillow; these it cannot, so the add-on sends an sRGB PNG of them instead.
CONVERT_FOR_BACKEND = (".exr", ".hdr")
FULL_FRAME_DIAGONAL_MM = (36.0**2 + 24.0**2) ** 0.5  # "35 mm equivalent" focal lengths are on this diagonal


class PhotoError(Exception):
    """A photo or depth map that cannot be used; the message says which and why."""


def unpack_depth_zip(zip_path: str, scene_folder: str) -> None:
    """The backend's /v1/depth answer -> the scene folder (runs in a worker thread)."""
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        for n in ("image.png", "depth.npy", "intrinsics.json"):
            if n not in names:
                raise PhotoError(f"the backend's depth answer lacks {n}")
            with zf.open(n) as src, open(os.path.join(scene_folder, n), "wb") as out:
                out.write(src.read())


def read_scene_folder(folder: str):
    """Task steps: (rgb uint8 (H, W, 3), depth float32 (H, W), Intrinsics) from a scene folder. Blender decodes
    the image on the main thread; the rest runs in a worker thread."""
    decoded = yield from _decode(os.path.join(folder, "image.png"), raw=True)
    return (yield Background(_scene_from_folder, folder, decoded))


def _scene_from_folder(folder: str, decoded):
    with open(os.path.join(folder, "intrinsics.json"), encoding="utf-8") as fh:
        K = Intrinsics.from_dict(json.load(fh))
    depth = np.load(os.path.join(folder, "depth.npy"), allow_pickle=False)
    rgb = _pixels(*decoded, raw=True)[..., :3]
    rgb = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    if depth.shape != rgb.shape[:2] or (K.width, K.height) != (rgb.shape[1], rgb.shape[0]):
        raise PhotoError(f"{folder}: image, depth and intrinsics disagree on the size")
    return rgb, depth.astype(np.float32), K


_READING = "realcam_reading"  # an ID property an image carries while a task reads it


def _decode(path: str, raw: bool):
    """Task steps, Blender's part of reading an image: it decodes the file in one slice and hands the pixels over
    in the next. Returns (flat RGBA float32, bottom row first, width, height, is_float) for _pixels. The image is
    found again by name after the pause (an undo in between frees it: then it is read again)."""
    img = _open(path, raw)
    name, token = img.name, uuid.uuid4().hex
    img[_READING] = token
    try:
        w, h = img.size  # decodes the file
        is_float = img.is_float
        if w == 0 or h == 0:
            raise PhotoError(f"{path}: the image is empty or damaged")
        yield None
        img = bpy.data.images.get(name)
        if img is None or img.get(_READING) != token:
            img = _open(path, raw)
            name, token = img.name, ""
            if tuple(img.size) != (w, h):
                raise PhotoError(f"{path}: the file changed while it was read")
        buf = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(buf)
    finally:
        img = bpy.data.images.get(name)
        if img is not None and img.get(_READING, "") == token:
            bpy.data.images.remove(img)
    return buf, w, h, is_float


def _open(path: str, raw: bool):
    try:
        img = bpy.data.images.load(path, check_existing=False)
    except RuntimeError as e:
        raise PhotoError(f"{path}: Blender cannot read it ({e})") from None
    if raw:
        img.colorspace_settings.name = "Non-Color"  # values as stored, no conversion
    return img


def _pixels(buf: np.ndarray, w: int, h: int, is_float: bool, raw: bool) -> np.ndarray:
    """(H, W, 4) float32, top row first, from _decode (numpy only: a worker thread may run it).

    raw: the values as stored (data such as depth). Otherwise a photo as it is
    displayed: 8-bit files are sRGB-encoded already; float files (EXR, 16-bit)
    come out of Blender's colour management scene-linear and are encoded to sRGB
    here, as the Standard view shows them (read raw, an EXR comes out far too dark)."""
    px = buf.reshape(h, w, 4)[::-1].copy()
    if not raw and is_float:
        px[..., :3] = linear_to_srgb(px[..., :3])
    return px


def _load_pixels(path: str, raw: bool) -> np.ndarray:
    """_pixels of a file, read at once (through Blender's own image loading)."""
    return _pixels(*run_now(_decode(path, raw)), raw=raw)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1.0 / 2.4) - 0.055).astype(np.float32)


def load_photo(path: str):
    """(H, W, 3) float32 sRGB in 0..1 as the photo is displayed (EXIF orientation applied), and its EXIF."""
    info = exif.read(path)
    rgb = _load_pixels(path, raw=False)[..., :3]
    return exif.orient(rgb, info.orientation), info


def photo_size(path: str) -> tuple[int, int]:
    """(width, height) of the photo as displayed, without decoding its pixels twice."""
    try:
        img = bpy.data.images.load(path, check_existing=False)
    except RuntimeError as e:
        raise PhotoError(f"{path}: Blender cannot read it ({e})") from None
    try:
        w, h = img.size
    finally:
        bpy.data.images.remove(img)
    if not w or not h:
        raise PhotoError(f"{path}: Blender cannot read this image")
    return (h, w) if exif.read(path).swaps_axes else (w, h)


def photo_for_backend(photo: str, folder: str):
    """Task steps: the file to send for depth: the photo itself (the backend applies its EXIF), or an sRGB PNG
    of it (written in a worker thread)."""
    if os.path.splitext(photo)[1].lower() not in CONVERT_FOR_BACKEND:
        return photo
    decoded = yield from _decode(photo, raw=False)
    path = os.path.join(folder, "photo.png")
    yield Background(_photo_png, photo, decoded, path)
    return path


def _photo_png(photo: str, decoded, path: str) -> None:
    rgb = exif.orient(_pixels(*decoded, raw=False)[..., :3], exif.read(photo).orientation)
    write_png(path, bytes_from_unit_floats(np.clip(rgb, 0.0, 1.0)))


def _decode_png16(path: str) -> np.ndarray:
    """Stored 16-bit values of a grayscale PNG (Blender loads them as floats over 65535)."""
    return np.round(_load_pixels(path, raw=True)[..., 0] * 65535.0)


def read_depth_map(path: str) -> np.ndarray:
    """A user's depth map, by the rule the backend applies too (realcam_core.depth_map)."""
    try:
        return depth_rule.read(path, _decode_png16)
    except depth_rule.DepthMapError as e:
        raise PhotoError(str(e)) from None


def local_scene(photo: str, depth_map: str, size: tuple[int, int], focal_px: float | None, folder: str):
    """Task steps, without a backend: the user's depth map and the photo, fitted to size, into the scene folder.
    Returns (rgb, depth, K) as read_scene_folder would read them back. Blender decodes the photo (and a PNG depth
    map) on the main thread; fitting, encoding and writing run in a worker thread."""
    if not os.path.isfile(photo):
        raise PhotoError(f"{photo}: no such photo")
    photo_px = yield from _decode(photo, raw=False)
    try:
        png = (yield from _decode(depth_map, raw=True)) if depth_rule.depth_format(depth_map) == ".png" else None
    except depth_rule.DepthMapError as e:
        raise PhotoError(str(e)) from None
    return (yield Background(_fit_into_folder, photo, photo_px, depth_map, png, size, focal_px, folder))


def _fit_into_folder(photo, photo_px, depth_map, png, size, focal_px, folder):
    info = exif.read(photo)
    rgb0 = exif.orient(_pixels(*photo_px, raw=False)[..., :3], info.orientation)
    h0, w0 = rgb0.shape[:2]
    try:
        depth = depth_rule.read(depth_map, lambda _path: np.round(_pixels(*png, raw=True)[..., 0] * 65535.0))
        # The photo's size, or the generation size already (one rule with the backend).
        depth_rule.check_size(depth, depth_map, [(w0, h0), tuple(size)])
    except depth_rule.DepthMapError as e:
        raise PhotoError(str(e)) from None
    scale, box = cover_crop_box((w0, h0), size)
    rgb = resize_cover(rgb0, size)
    if depth.shape != (size[1], size[0]):
        depth = resize_cover(depth, size, nearest=True)
    # Focal length by the backend's rule: the user's, the EXIF 35 mm equivalent, else 90 degrees across.
    if focal_px:
        f0, focal_source = focal_px, "user"
    elif info.focal_35mm:
        f0, focal_source = info.focal_35mm * (w0 * w0 + h0 * h0) ** 0.5 / FULL_FRAME_DIAGONAL_MM, "exif"
    else:
        f0, focal_source = 0.5 * max(w0, h0), "default"
    f = f0 * scale
    K = Intrinsics(f, f, size[0] / 2.0, size[1] / 2.0, size[0], size[1])
    rgb8 = bytes_from_unit_floats(np.clip(rgb, 0.0, 1.0))  # what an 8-bit PNG written by Blender held
    write_png(os.path.join(folder, "image.png"), rgb8)
    depth = depth.astype(np.float32)
    np.save(os.path.join(folder, "depth.npy"), depth)
    meta = {
        **K.to_dict(),
        "convention": K_CONVENTION,
        "focal_source": focal_source,
        "depth_source": depth_map,
        "exif_orientation": info.orientation,
    }
    with open(os.path.join(folder, "intrinsics.json"), "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=1)
    return rgb8, depth, K
