"""Camera conventions shared by the add-on and the backend (pure numpy).

Everything that crosses between Blender, the job bundle and the video model uses
these conventions, so they are defined once, here:

* Camera frame: OpenCV axes (x right, y down, z forward), metres.
* Intrinsics: fx, fy, cx, cy in pixels of the generation resolution, in
  *continuous* image coordinates whose origin is the top-left corner of the
  top-left pixel. The centre of pixel (column i, row j) is (i + 0.5, j + 0.5);
  an unshifted camera has cx = W / 2, cy = H / 2. This is COLMAP's convention
  and Blender's raster; OpenCV's integer-index convention is this minus 0.5.
* Track: per frame a camera-to-world 4x4 relative to the reference camera
  (frame 0 is the identity), so the "world" of a track is the reference
  camera's own OpenCV frame.

A Blender camera looks down its local -Z with +Y up; OpenCV looks down +Z with
+Y down, hence the diag(1, -1, -1) flip between the two.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

K_CONVENTION = "continuous-pixel-centre-at-half"

# Blender camera axes -> OpenCV camera axes (and back: it is its own inverse).
BLENDER_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])

# Where the add-on puts the reference camera: at the origin, looking along
# Blender's +Y with +Z up (a front view). OpenCV camera point (x, y, z) lands at
# Blender world (x, z, -y).
REFERENCE_C2W_BLENDER_WORLD = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)

SENSOR_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")


class CameraError(ValueError):
    """A camera that cannot drive a generation or be expressed in the shared conventions.

    The one camera error of add-on and backend; the message says what to do."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of a width x height image (see module doc)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> Intrinsics:
        """The same camera seen at another resolution (the whole frame resized)."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy, width, height)

    def cropped(self, left: float, top: float, width: int, height: int) -> Intrinsics:
        """The camera of a crop whose top-left corner is at (left, top)."""
        return Intrinsics(self.fx, self.fy, self.cx - left, self.cy - top, width, height)

    def fov_x_degrees(self) -> float:
        return math.degrees(2.0 * math.atan(0.5 * self.width / self.fx))

    def problems(self, check_centre: bool = True) -> list[str]:
        """Why these intrinsics are unusable; empty when they are fine."""
        out = []
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values):
            return ["intrinsics must be finite numbers"]
        if self.width <= 0 or self.height <= 0:
            out.append(f"image size {self.width}x{self.height} must be positive")
        if self.fx <= 0 or self.fy <= 0:
            out.append(f"focal lengths fx={self.fx:g}, fy={self.fy:g} must be positive")
        # A principal point far outside the frame means the numbers were
        # normalised or in another resolution, not a real lens shift.
        if check_centre and not (
            -self.width <= self.cx <= 2 * self.width and -self.height <= self.cy <= 2 * self.height
        ):
            out.append(
                f"principal point ({self.cx:g}, {self.cy:g}) is far outside the {self.width}x{self.height} image"
            )
        return out

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Intrinsics:
        return cls(float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]), int(d["width"]), int(d["height"]))

    @classmethod
    def default_for(cls, width: int, height: int) -> Intrinsics:
        """Upstream default for an unknown lens: 90 degrees across the long side."""
        f = 0.5 * max(width, height)
        return cls(f, f, width / 2.0, height / 2.0, width, height)

    @classmethod
    def from_focal(cls, focal_px: float, width: int, height: int) -> Intrinsics:
        return cls(focal_px, focal_px, width / 2.0, height / 2.0, width, height)


@dataclass(frozen=True)
class BlenderCamera:
    """The Blender camera data that decides what a perspective camera sees.

    resolution_x/y are the effective render size (percentage already applied).
    """

    lens: float
    sensor_width: float = 36.0
    sensor_height: float = 24.0
    sensor_fit: str = "AUTO"
    shift_x: float = 0.0
    shift_y: float = 0.0
    resolution_x: int = 1920
    resolution_y: int = 1080
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0


def _resolved_fit(cam: BlenderCamera) -> str:
    # Blender resolves AUTO on the pixel-aspect-corrected frame size.
    if cam.sensor_fit == "AUTO":
        sx = cam.pixel_aspect_x * cam.resolution_x
        sy = cam.pixel_aspect_y * cam.resolution_y
        return "HORIZONTAL" if sx >= sy else "VERTICAL"
    return cam.sensor_fit


def _view_factor(cam: BlenderCamera, fit: str) -> float:
    # Length, in horizontal-pixel units, of the image side the sensor is fitted to.
    ycor = cam.pixel_aspect_y / cam.pixel_aspect_x
    return float(cam.resolution_x) if fit == "HORIZONTAL" else ycor * cam.resolution_y


def _sensor_size(cam: BlenderCamera) -> float:
    # AUTO uses sensor_width for whichever side is longer (Blender's rule).
    return cam.sensor_height if cam.sensor_fit == "VERTICAL" else cam.sensor_width


def intrinsics_from_blender(cam: BlenderCamera) -> Intrinsics:
    """Pinhole intrinsics of a perspective Blender camera (Blender's own viewplane maths)."""
    if cam.sensor_fit not in SENSOR_FITS:
        raise CameraError(f"unknown sensor fit {cam.sensor_fit!r}; expected one of {', '.join(SENSOR_FITS)}")
    if cam.lens <= 0 or _sensor_size(cam) <= 0:
        raise CameraError("lens and sensor size must be positive")
    if cam.resolution_x <= 0 or cam.resolution_y <= 0:
        raise CameraError("render resolution must be positive")
    if cam.pixel_aspect_x <= 0 or cam.pixel_aspect_y <= 0:
        raise CameraError("pixel aspect must be positive")
    fit = _resolved_fit(cam)
    viewfac = _view_factor(cam, fit)
    ycor = cam.pixel_aspect_y / cam.pixel_aspect_x
    fx = cam.lens / _sensor_size(cam) * viewfac
    fy = fx / ycor
    cx = cam.resolution_x / 2.0 - cam.shift_x * viewfac
    cy = cam.resolution_y / 2.0 + cam.shift_y * viewfac / ycor
    return Intrinsics(fx, fy, cx, cy, cam.resolution_x, cam.resolution_y)


def blender_from_intrinsics(
    K: Intrinsics, sensor_fit: str = "AUTO", sensor_width: float = 36.0, sensor_height: float = 24.0
) -> BlenderCamera:
    """A Blender camera that sees exactly through K (lens, shift and pixel aspect set)."""
    problems = K.problems(check_centre=False)
    if problems:
        raise CameraError("; ".join(problems))
    if sensor_fit not in SENSOR_FITS:
        raise CameraError(f"unknown sensor fit {sensor_fit!r}; expected one of {', '.join(SENSOR_FITS)}")
    # Blender keeps pixel aspects >= 1, so the smaller one is 1.
    ratio = K.fx / K.fy  # = ycor = aspect_y / aspect_x
    asp_x, asp_y = (1.0, ratio) if ratio >= 1.0 else (1.0 / ratio, 1.0)
    cam = BlenderCamera(
        lens=1.0,
        sensor_width=sensor_width,
        sensor_height=sensor_height,
        sensor_fit=sensor_fit,
        resolution_x=K.width,
        resolution_y=K.height,
        pixel_aspect_x=asp_x,
        pixel_aspect_y=asp_y,
    )
    fit = _resolved_fit(cam)
    viewfac = _view_factor(cam, fit)
    ycor = asp_y / asp_x
    lens = K.fx * _sensor_size(cam) / viewfac
    shift_x = (K.width / 2.0 - K.cx) / viewfac
    shift_y = (K.cy - K.height / 2.0) * ycor / viewfac
    return BlenderCamera(
        lens=lens,
        sensor_width=sensor_width,
        sensor_height=sensor_height,
        sensor_fit=sensor_fit,
        shift_x=shift_x,
        shift_y=shift_y,
        resolution_x=K.width,
        resolution_y=K.height,
        pixel_aspect_x=asp_x,
        pixel_aspect_y=asp_y,
    )


def _as_matrix4(m) -> np.ndarray:
    a = np.asarray(m, dtype=np.float64)
    if a.shape != (4, 4):
        raise CameraError(f"expected a 4x4 matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise CameraError("matrix has non-finite values")
    return a


def opencv_c2w_from_blender(matrix_world, unit_scale: float = 1.0) -> np.ndarray:
    """OpenCV camera-to-world (metres) from a Blender camera's matrix_world.

    Object scale does not change what a camera sees (Blender normalises it), so
    it is removed; unit_scale is the scene's metres per Blender unit.
    """
    m = _as_matrix4(matrix_world)
    r = m[:3, :3]
    norms = np.linalg.norm(r, axis=0)
    if np.any(norms < 1e-12):
        raise CameraError("camera matrix has a zero scale axis")
    out = np.eye(4)
    out[:3, :3] = r / norms
    out[:3, 3] = m[:3, 3] * unit_scale
    return out @ BLENDER_TO_OPENCV


def blender_from_opencv_c2w(c2w, unit_scale: float = 1.0) -> np.ndarray:
    """Blender matrix_world (Blender units) for an OpenCV camera-to-world in metres."""
    m = _as_matrix4(c2w) @ BLENDER_TO_OPENCV
    m[:3, 3] /= unit_scale
    return m


def relative_to_first(c2ws) -> np.ndarray:
    """Poses made relative to the first: c2w_0^-1 c2w_i (frame 0 becomes the identity)."""
    arr = np.asarray(c2ws, dtype=np.float64)
    inv0 = rigid_inverse(arr[0])
    return np.einsum("ij,njk->nik", inv0, arr)


def rigid_inverse(m) -> np.ndarray:
    """Inverse of a rigid 4x4 [R|t] without a general matrix inverse."""
    m = np.asarray(m, dtype=np.float64)
    out = np.eye(4)
    r = m[:3, :3]
    out[:3, :3] = r.T
    out[:3, 3] = -r.T @ m[:3, 3]
    return out


def rigid_problems(m, tol: float = 1e-4) -> list[str]:
    """Why a 4x4 is not a rigid camera pose; empty when it is."""
    a = np.asarray(m, dtype=np.float64)
    if a.shape != (4, 4):
        return [f"must be a 4x4 matrix, got shape {a.shape}"]
    if not np.all(np.isfinite(a)):
        return ["has non-finite values"]
    out = []
    if not np.allclose(a[3], [0.0, 0.0, 0.0, 1.0], atol=tol):
        out.append("last row must be 0 0 0 1")
    r = a[:3, :3]
    if not np.allclose(r.T @ r, np.eye(3), atol=tol):
        out.append("rotation part is not orthonormal (scaled or sheared)")
    elif np.linalg.det(r) < 0:
        out.append("rotation part is a reflection (determinant -1)")
    return out
