"""Scene fixes after import, as plain maths: the scale a known distance implies, and a photo seen with another focal.

A photo's metric depth is an estimate: a door the artist knows is 2.0 m may come
out 1.6 m. One factor s puts it right: every depth times s (and, so the camera
moves through the same scene, every camera offset from the photo pose times s).
A wrong focal length bends the scene instead: at unchanged depth a pixel's
lateral position is (u - cx) / fx * depth, so a new focal scales the lateral
coordinates by fx_old / fx_new.

Points here are in the photo camera's frame as the add-on's mesh stores them
(Blender axes: x right, y the depth along the view, z up; see photo_scene).
"""

from __future__ import annotations

import math
import shutil

import numpy as np

from ..camera import Intrinsics

# A factor outside this is a typo or a mis-picked point, not a calibration (a 1 cm measured as 100 m).
SCALE_LIMITS = (1e-3, 1e3)


class CalibrationError(ValueError):
    """Input a calibration cannot use, said so the artist knows what to do."""


def check_scale(s: float) -> float:
    """s itself, when it is a factor a calibration can apply."""
    if not math.isfinite(s) or s <= 0.0:
        raise CalibrationError(f"scale factor {s:g} is not a positive number: type a factor above 0 (1 = unchanged)")
    lo, hi = SCALE_LIMITS
    if not lo <= s <= hi:
        raise CalibrationError(
            f"scale factor {s:g} is outside {lo:g} to {hi:g}: check the two points and the real distance"
        )
    return float(s)


def scale_from_points(a, b, real_distance: float) -> float:
    """The factor that makes the distance between a and b (in the scene's units) real_distance (same units)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not math.isfinite(real_distance) or real_distance <= 0.0:
        raise CalibrationError(
            f"real distance {real_distance:g} is not a length: type the true distance between A and B (above 0)"
        )
    measured = float(np.linalg.norm(b - a))
    if not math.isfinite(measured) or measured <= 1e-9 * max(1.0, float(np.abs(a).max(initial=0.0))):
        raise CalibrationError(
            "points A and B are the same point: snap the 3D cursor (Shift+right-click) onto two different "
            "points of the photo's mesh and set A and B again"
        )
    return check_scale(real_distance / measured)


def with_focal(K: Intrinsics, fx: float) -> Intrinsics:
    """K with focal fx (pixels); fy keeps its ratio to fx (the pixel aspect) and the centre stays."""
    if not math.isfinite(fx) or fx <= 0.0:
        raise CalibrationError(f"focal length {fx:g} px is not a length: type the photo's focal in pixels (above 0)")
    new = Intrinsics(float(fx), K.fy * fx / K.fx, K.cx, K.cy, K.width, K.height)
    if not 0.05 <= new.fov_x_degrees() <= 175.0:
        raise CalibrationError(
            f"focal {fx:g} px makes a field of view of {new.fov_x_degrees():.1f} degrees across "
            f"{K.width} px: type a focal between {0.5 * K.width / math.tan(math.radians(87.5)):.0f} "
            f"and {0.5 * K.width / math.tan(math.radians(0.025)):.0f} px"
        )
    return new


def refocused(points, old: Intrinsics, new: Intrinsics) -> np.ndarray:
    """The photo's points (N, 3, Blender axes, camera at the origin) seen through `new` instead of `old`: each keeps
    its depth and its pixel, so x scales by old.fx / new.fx about the ray through (cx, cy), z by old.fy / new.fy."""
    if (old.cx, old.cy) != (new.cx, new.cy):
        raise ValueError("refocused keeps the image centre: only the focal length may change")
    p = np.array(points, np.float32, copy=True)
    p[:, 0] *= np.float32(old.fx / new.fx)
    p[:, 2] *= np.float32(old.fy / new.fy)
    return p


def copy_depth(src: str, dst: str, scale: float = 1.0) -> None:
    """Copy a depth.npy, times the shot's scale calibration (0, "unknown", stays 0); the source is never changed."""
    if scale == 1.0:
        shutil.copyfile(src, dst)
        return
    depth = np.load(src, allow_pickle=False)
    np.save(dst, (depth * np.float32(scale)).astype(depth.dtype, copy=False))
