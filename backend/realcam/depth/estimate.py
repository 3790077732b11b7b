"""`realcam depth`: a photo -> the image as it will be used, its metric depth and intrinsics.

Outputs in the folder (written together or not at all):
    image.png        8-bit RGB at the generation size (oriented, resized to cover, centre-cropped)
    depth.npy        float32 (H, W) z-depth in metres of the reference camera; 0 = unknown
    intrinsics.json  fx, fy, cx, cy, width, height (continuous pixel convention), and where they came from

Focal length, first that applies: the user's (--focal-px, pixels of the photo
as displayed), the photo's EXIF 35 mm equivalent, Depth Pro's field of view,
else the upstream default of 90 degrees across the long side.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np
from PIL import Image

from realcam_core.camera import K_CONVENTION, Intrinsics
from realcam_core.resample import cover_crop_box

from ..errors import UserError
from .maps import check_depth_size, read_depth_map
from .models import DEFAULT_DEPTH_MODEL, DepthModel, licence_of, resolve_model_id
from .photo import open_photo

MAX_LONG_SIDE_DEFAULT = 1280


@dataclass
class DepthResult:
    image: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres
    intrinsics: Intrinsics
    focal_source: str  # user, exif, depth-pro, default
    depth_source: str  # model id or the depth map's path
    notes: list[str]


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--size {text!r}: expected WIDTHxHEIGHT, e.g. 832x480") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise UserError(f"--size {text!r}: each side must be between 16 and 8192 pixels")
    return w, h


def default_size(
    w: int, h: int, long_side: int = MAX_LONG_SIDE_DEFAULT, max_pixels: int | None = None
) -> tuple[int, int]:
    """The photo's own size, scaled down so the long side is at most long_side (and the area at
    most max_pixels), sides even."""
    s = min(1.0, long_side / max(w, h))
    if max_pixels:
        s = min(s, (max_pixels / (w * h)) ** 0.5)
    out = max(16, int(round(w * s / 2)) * 2), max(16, int(round(h * s / 2)) * 2)
    if max_pixels and out[0] * out[1] > max_pixels:  # rounding up went over: round down
        out = max(16, int(w * s / 2) * 2), max(16, int(h * s / 2) * 2)
    return out


def _resize_image(img: Image.Image, size, box) -> np.ndarray:
    return np.asarray(img.resize(size, Image.Resampling.LANCZOS, box=box), dtype=np.uint8)


def _resize_depth(depth: np.ndarray, size, box) -> np.ndarray:
    # Nearest neighbour: averaging across an edge would invent depths that
    # belong to neither surface (flying pixels).
    src = Image.fromarray(np.ascontiguousarray(depth, dtype=np.float32))
    return np.asarray(src.resize(size, Image.Resampling.NEAREST, box=box), dtype=np.float32)


def estimate(
    image_path,
    size: tuple[int, int] | None = None,
    model: str | None = None,
    depth_map: str | None = None,
    focal_px: float | None = None,
    device: str | None = None,
    convert: bool = False,
    depth_model: DepthModel | None = None,
    max_pixels: int | None = None,
) -> DepthResult:
    photo = open_photo(image_path, convert=convert)
    notes = []
    if photo.rotated:
        notes.append("rotated per EXIF")
    if photo.converted_from:
        notes.append(f"converted from {photo.converted_from}")
    w0, h0 = photo.size
    out_size = size or default_size(w0, h0, max_pixels=max_pixels)
    scale, box = cover_crop_box((w0, h0), out_size)

    # Depth first from the user's map: a wrong map must fail before any model loads.
    user_depth = None
    if depth_map is not None:
        user_depth = read_depth_map(depth_map)
        check_depth_size(user_depth, str(depth_map), [(w0, h0), out_size])

    if focal_px is not None:
        if not (np.isfinite(focal_px) and focal_px > 0):
            raise UserError(f"--focal-px {focal_px}: must be a finite positive number of pixels")
        focal0, focal_source = float(focal_px), "user"
    elif photo.exif_focal_px() is not None:
        focal0, focal_source = photo.exif_focal_px(), "exif"
    else:
        focal0, focal_source = None, None

    image = _resize_image(photo.image, out_size, box)
    focal_out = None if focal0 is None else focal0 * scale

    if user_depth is not None:
        if user_depth.shape == (out_size[1], out_size[0]):
            depth = user_depth
        else:
            depth = _resize_depth(user_depth, out_size, box)
        depth_source = str(depth_map)
    else:
        model_id = resolve_model_id(model or DEFAULT_DEPTH_MODEL)
        dm = depth_model or DepthModel(model_id, device)
        pred = dm.predict(image, focal_out)
        depth = pred.depth
        depth_source = dm.model_id
        if focal_out is None and pred.fov_x_degrees is not None:
            focal_out = 0.5 * out_size[0] / np.tan(np.radians(pred.fov_x_degrees) / 2.0)
            focal_source = "depth-pro"
        elif dm.kind == "depth_pro" and pred.fov_x_degrees is None and focal_out is None:
            notes.append("Depth Pro gave no usable field of view")

    if focal_out is None:
        K = Intrinsics.default_for(*out_size)
        focal_source = "default"
    else:
        K = Intrinsics.from_focal(float(focal_out), *out_size)
    return DepthResult(image, depth.astype(np.float32), K, focal_source, depth_source, notes)


def write_outputs(result: DepthResult, out_dir) -> None:
    """Write the three files into out_dir together: on failure nothing is left behind."""
    out_dir = os.fspath(out_dir)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".realcam-depth-", dir=parent)
    try:
        Image.fromarray(result.image).save(os.path.join(tmp, "image.png"))
        np.save(os.path.join(tmp, "depth.npy"), result.depth)
        meta = {
            **result.intrinsics.to_dict(),
            "convention": K_CONVENTION,
            "focal_source": result.focal_source,
            "depth_source": result.depth_source,
            "depth_licence": licence_of(result.depth_source),
        }
        with open(os.path.join(tmp, "intrinsics.json"), "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
        created = not os.path.exists(out_dir)
        if created:
            os.replace(tmp, out_dir)
            return
        if not os.path.isdir(out_dir):
            raise UserError(f"{out_dir}: exists and is not a folder")
        for name in ("image.png", "depth.npy", "intrinsics.json"):
            os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def summary(image_path, out_dir, r: DepthResult) -> str:
    valid = r.depth[r.depth > 0]
    lo, med, hi = np.percentile(valid, [1, 50, 99]) if valid.size else (0.0, 0.0, 0.0)
    K = r.intrinsics
    notes = f" ({', '.join(r.notes)})" if r.notes else ""
    return (
        f"{image_path} -> {out_dir}: {K.width}x{K.height}{notes}, depth {lo:.2f}-{hi:.2f} m (median {med:.2f}) "
        f"from {r.depth_source}, focal {K.fx:.1f} px ({K.fov_x_degrees():.1f} deg across) from {r.focal_source}"
    )
