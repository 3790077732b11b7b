"""The metric depth of one frame of the clip: the user's depth map, or the depth model's prediction.

A user's map follows Import Photo's rule (realcam_core.depth_map: .npy metres, 16-bit PNG millimetres,
EXR metres; 0 = unknown) and must match the clip's frames as stored or as tracked. It is checked before
any reconstruction runs, so a wrong file fails in a second, not after a minute of COLMAP.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ..depth.maps import check_depth_size, read_depth_map
from ..errors import UserError


def user_map(path: str, native: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """(H, W) metres from the user's file, at the clip's own size or the tracked size."""
    depth = read_depth_map(path)
    check_depth_size(depth, path, [native, size])
    return depth


def load_model(name: str, device: str | None = None):
    """The depth model, or UserError saying why it is not available (no weights offline, wrong kind)."""
    from ..depth.models import DepthModel

    return DepthModel(name, device)


def predict(model, frame_png: str, focal_px: float) -> np.ndarray:
    """(H, W) metres for a tracked frame. focal_px is the clip's (given or estimated): Depth Pro's metres
    depend on it; Depth Anything ignores it."""
    rgb = np.asarray(Image.open(frame_png).convert("RGB"))
    depth = model.predict(rgb, focal_px).depth
    if not np.isfinite(depth).all():
        raise UserError(f"{os.path.basename(frame_png)}: the depth model gave non-finite depth")
    return depth
