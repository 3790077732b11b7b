"""The clip's intrinsics: given by the user, or estimated by the reconstruction (and how far to trust that).

Given: --focal-px (pixels of the clip's frames as stored) or --fov (degrees across the width); the
principal point is the frame centre. Otherwise one focal length is estimated for the whole clip
(evaluate.reconstruct: view-graph calibration and bundle adjustment, or the pure-rotation fit of a
pan). Measured on Cycles renders of a textured room (true 60 degrees across, 256x192, 20 frames):
an orbit turning 20 degrees 0.8 % off, a pan 1 % off, a crane tilting 10 degrees 4.9 % off, a
truck and a dolly with no rotation 39 % and 47 % off. Without rotation the focal length cannot be
observed at all: a scene stretched along the viewing axis looks the same through a longer lens.
A forward dolly keeps its metric length all the same (scene depth and forward motion stretch
together), but sideways motion is off by the focal length's error, hence the warning below
MIN_ROTATION_DEG.
"""

from __future__ import annotations

import math

import numpy as np

from realcam_core.camera import Intrinsics

from ..errors import UserError
from ..evaluate.metrics import rotation_angles

MIN_ROTATION_DEG = 15.0  # an estimated focal length needs the camera to turn at least this much


def check(focal_px: float | None, fov: float | None) -> None:
    """UserError for a lens given twice or impossible numbers."""
    if focal_px is not None and fov is not None:
        raise UserError("--focal-px and --fov exclude each other: give the lens one way")
    if focal_px is not None and not (math.isfinite(focal_px) and focal_px > 0):
        raise UserError(f"--focal-px {focal_px}: must be a finite positive number of pixels")
    if fov is not None and not (1.0 < fov < 179.0):
        raise UserError(f"--fov {fov}: the horizontal field of view must be between 1 and 179 degrees")


def given(focal_px: float | None, fov: float | None, native: tuple[int, int], size: tuple[int, int]):
    """Intrinsics at the tracked size from --focal-px or --fov; None when neither is given."""
    check(focal_px, fov)
    if focal_px is not None:
        f_native = focal_px
    elif fov is not None:
        f_native = 0.5 * native[0] / math.tan(math.radians(fov) / 2.0)
    else:
        return None
    return Intrinsics.from_focal(f_native * size[0] / native[0], *size)


def first_guess(size: tuple[int, int]) -> Intrinsics:
    """Where an estimate starts: only the principal point (the frame centre) is used as given."""
    return Intrinsics.default_for(*size)


def rotation_span_deg(c2w: dict) -> float:
    """The largest rotation of any registered camera from the first one, in degrees."""
    frames = sorted(c2w)
    R = np.stack([c2w[f][:3, :3] for f in frames])
    return float(np.degrees(rotation_angles(np.repeat(R[:1], len(R), 0), R).max()))


def describe(params: tuple, size: tuple[int, int], source: str, reliable: bool) -> dict:
    fx, fy, cx, cy = (float(v) for v in params)
    return {
        "fx": fx,
        "fy": fy,
        "cx": cx,
        "cy": cy,
        "width": size[0],
        "height": size[1],
        "fov_x_degrees": math.degrees(2.0 * math.atan(0.5 * size[0] / fx)),
        "source": source,
        "reliable": reliable,
    }
