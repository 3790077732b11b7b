"""Photo -> (image, metric depth, intrinsics) in a scene folder, by the backend or by the user's depth map.

The scene folder holds what `realcam depth` writes (image.png, depth.npy,
intrinsics.json), whichever way it was made, so the rest of the add-on reads
one layout.
"""

from __future__ import annotations

import json
import os
import zipfile

import bpy
import numpy as np

from ..realcam_core import depth_map as depth_rule
from ..realcam_core.addon_only import exif
from ..realcam_core.camera import K_CONVENTION, Intrinsics
from ..realcam_core.resample import cover_crop_box, resize_cover

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
    """(rgb uint8 (H, W, 3), depth float32 (H, W), Intrinsics) from a scene folder."""
    with open(os.path.join(folder, "intrinsics.json"), encoding="utf-8") as fh:
        K = Intrinsics.from_dict(json.load(fh))
    depth = np.load(os.path.join(folder, "depth.npy"), allow_pickle=False)
    rgb = _load_pixels(os.path.join(folder, "image.png"), raw=True)[..., :3]
    rgb = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    if depth.shape != rgb.shape[:2] or (K.width, K.height) != (rgb.shape[1], rgb.shape[0]):
        raise PhotoError(f"{folder}: image, depth and intrinsics disagree on the size")
    return rgb, depth.astype(np.float32), K


def _load_pixels(path: str, raw: bool) -> np.ndarray:
    """(H, W, 4) float32, top row first, through Blender's own image loading.

    raw: the values as stored (data such as depth). Otherwise a photo as it is
    displayed: 8-bit files are sRGB-encoded already; float files (EXR, 16-bit)
    come out of Blender's colour management scene-linear and are encoded to sRGB
    here, as the Standard view shows them (read raw, an EXR comes out far too dark)."""
    try:
        img = bpy.data.images.load(path, check_existing=False)
    except RuntimeError as e:
        raise PhotoError(f"{path}: Blender cannot read it ({e})") from None
    try:
        if raw:
            img.colorspace_settings.name = "Non-Color"  # values as stored, no conversion
        w, h = img.size
        if w == 0 or h == 0:
            raise PhotoError(f"{path}: the image is empty or damaged")
        buf = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(buf)
        px = buf.reshape(h, w, 4)[::-1].copy()
        if not raw and img.is_float:
            px[..., :3] = linear_to_srgb(px[..., :3])
        return px
    finally:
        bpy.data.images.remove(img)


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


def photo_for_backend(photo: str, folder: str) -> str:
    """The file to send for depth: the photo itself (the backend applies its EXIF), or an sRGB PNG of it."""
    if os.path.splitext(photo)[1].lower() not in CONVERT_FOR_BACKEND:
        return photo
    rgb, _ = load_photo(photo)
    path = os.path.join(folder, "photo.png")
    _save_png(rgb, path)
    return path


def _decode_png16(path: str) -> np.ndarray:
    """Stored 16-bit values of a grayscale PNG (Blender loads them as floats over 65535)."""
    return np.round(_load_pixels(path, raw=True)[..., 0] * 65535.0)


def read_depth_map(path: str) -> np.ndarray:
    """A user's depth map, by the rule the backend applies too (realcam_core.depth_map)."""
    try:
        return depth_rule.read(path, _decode_png16)
    except depth_rule.DepthMapError as e:
        raise PhotoError(str(e)) from None


def local_scene(photo: str, depth_map: str, size: tuple[int, int], focal_px: float | None, folder: str) -> None:
    """Without a backend: the user's depth map and the photo, fitted to size, into the scene folder."""
    if not os.path.isfile(photo):
        raise PhotoError(f"{photo}: no such photo")
    rgb0, info = load_photo(photo)
    h0, w0 = rgb0.shape[:2]
    depth = read_depth_map(depth_map)
    try:
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
    _save_png(rgb, os.path.join(folder, "image.png"))
    np.save(os.path.join(folder, "depth.npy"), depth.astype(np.float32))
    meta = {
        **K.to_dict(),
        "convention": K_CONVENTION,
        "focal_source": focal_source,
        "depth_source": depth_map,
        "exif_orientation": info.orientation,
    }
    with open(os.path.join(folder, "intrinsics.json"), "w", encoding="utf-8") as fh:
        json.dump(meta, fh, indent=1)


def _save_png(rgb01: np.ndarray, path: str) -> None:
    h, w = rgb01.shape[:2]
    img = bpy.data.images.new("realcam-tmp", w, h, alpha=False)
    try:
        img.colorspace_settings.name = "Non-Color"
        rgba = np.ones((h, w, 4), np.float32)
        rgba[..., :3] = np.clip(rgb01, 0.0, 1.0)
        img.pixels.foreach_set(rgba[::-1].ravel())
        img.filepath_raw = path
        img.file_format = "PNG"
        img.save()
    finally:
        bpy.data.images.remove(img)
