"""Depth maps the artist supplies: the shared rule, with Pillow decoding PNG pixels.

What a depth map must be, its units and the checks on its values are the one
rule in realcam_core.depth_map, which the add-on applies too.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, UnidentifiedImageError

from realcam_core import depth_map as rule

from ..errors import UserError


def _decode_png16(path: str) -> np.ndarray:
    try:
        img = Image.open(path)
        img.load()
    except UnidentifiedImageError:
        raise UserError(f"{path}: not a PNG image") from None
    except OSError as e:
        raise UserError(f"{path}: damaged PNG ({e})") from None
    return np.asarray(img)


def read_depth_map(path) -> np.ndarray:
    """(H, W) float32 z-depth in metres; 0 where unknown. UserError naming the file otherwise."""
    try:
        return rule.read(path, _decode_png16)
    except rule.DepthMapError as e:
        raise UserError(str(e)) from None


def check_depth_size(depth: np.ndarray, path: str, sizes: list[tuple[int, int]]) -> None:
    try:
        rule.check_size(depth, path, sizes)
    except rule.DepthMapError as e:
        raise UserError(str(e)) from None
