"""How a metric camera track enters each camera-conditioned video model (pure numpy).

A job bundle's track is metres, OpenCV axes, relative to frame 0. Each model was
trained on another convention; the mapping below is what each one was trained on,
read from upstream (ZGCTroy/CamI2V at c5d7b2f, aigc-apps/VideoX-Fun):

* Relative poses: c2w_0^-1 c2w_i for every model (upstream's
  `get_relative_pose(mode="left")`, VideoX-Fun's `get_relative_pose`); the
  translation is then multiplied by a scale, the rotation is never touched.
* RealCam-I2V: trained on RealEstate10K translations times a per-clip metric
  scale (metric depth aligned to the SLAM points), with `trace_scale_factor`
  1.0, and evaluated the same way: metres enter as they are. Upstream's Gradio
  app multiplies its canned, unit-less demo moves (1-4 units) by a "Camera Trace
  Scale Factor" slider defaulting to 0.5 and renders its preview with the same
  scaled move. For the artist's own metric track the default here is 1.0 (what
  the weights were trained and evaluated with, and what the Blender preview
  shows); the setting stays the artist's to change, and 0.5 is recorded as
  upstream's app default.
* CamI2V, CameraCtrl, MotionCtrl: RealEstate10K's own translations, fed
  unnormalised (no `normalize_T0`, no `RT_norm` in any config), trace scale 1.0.
  Those units are the dataset's per-clip SLAM scale, in which nearby geometry
  sits at about one unit (the convention behind the near plane of 1 that
  RealEstate10K view-synthesis work uses). A metric track is therefore divided
  by a reference depth of the photo: its 5th-percentile metric depth becomes 1
  unit. This is an estimate, not an upstream rule (upstream never feeds these
  models metric tracks); result.json records the numbers and the setting
  overrides them.
* Wan2.2-Fun Control-Camera: VideoX-Fun feeds translations as they are; its demo
  moves are 1.5 units (pans) to 3 units (zooms) over 81 frames and its ComfyUI
  nodes use 1.5 x a speed, the CameraCtrl lineage of RealEstate10K units. Same
  mapping as the RealEstate10K models, for the same reason.

Intrinsics: the Plücker models (RealCam-I2V, CamI2V, CameraCtrl, Fun) are told
the lens through their rays (and CamI2V's epipolar masks), trained on each
clip's own focal length, so the bundle's K enters as it is. MotionCtrl gets
only [R|t]: it cannot be told the lens and assumes what its training clips had;
upstream's inference assumes fx = fy = 0.5 * max(H, W) of the photo resized to
cover the generation size (`single_image_for_inference.py`), i.e. 90 degrees
across the long side, and the preview should be rendered with that K.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .camera import Intrinsics, relative_to_first

METRIC = "metric"
RE10K = "re10k"
NEAR_PERCENTILE = 5.0  # the photo's depth percentile that becomes one RealEstate10K unit
NEAR_UNITS = 1.0
FALLBACK_NEAR_DEPTH_M = 1.0  # without a depth map: metres taken as units, and said so
UPSTREAM_APP_TRACE_SCALE = 0.5  # realcami2v_gradio_app.py, "Camera Trace Scale Factor"


class CameraScaleError(ValueError):
    """A track or depth map that cannot be mapped to a model's camera input."""


@dataclass(frozen=True)
class CameraConvention:
    """How one model family is told the camera; `to_dict` is what the add-on and result.json show."""

    family: str
    translation: str  # METRIC or RE10K
    intrinsics: str  # "bundle": the bundle's own K; "upstream-90deg": fx = fy = 0.5 * max(H, W)
    panel_note: str  # what the panel tells the artist
    upstream_inference_scale: float  # what upstream's own inference multiplies its (demo) translations by
    upstream_source: str

    def to_dict(self) -> dict:
        return asdict(self)


CONVENTIONS = {
    "realcam-i2v": CameraConvention(
        "realcam-i2v",
        METRIC,
        "bundle",
        "Trained on metric camera moves: the track enters in metres (times the camera scale, 1 by default; "
        "another scale moves the camera further or shorter than the preview shows).",
        UPSTREAM_APP_TRACE_SCALE,
        "CameraControl/realcam_i2v/realcam_i2v.py (per_frame_scale); realcami2v_gradio_app.py (slider 0.5)",
    ),
    "cami2v": CameraConvention(
        "cami2v",
        RE10K,
        "bundle",
        "Trained on RealEstate10K's unit-less moves: metres are divided by the photo's near depth "
        "(5th percentile); change the camera scale if the move looks too short or too long.",
        1.0,
        "CameraControl/CamI2V/cami2v.py; cami2v_gradio_app.py (slider 1.0, trace extract ratio 0.1)",
    ),
    "cameractrl": CameraConvention(
        "cameractrl",
        RE10K,
        "bundle",
        "Trained on RealEstate10K's unit-less moves: metres are divided by the photo's near depth "
        "(5th percentile); change the camera scale if the move looks too short or too long.",
        1.0,
        "CameraControl/cameractrl/cameractrl.py",
    ),
    "motionctrl": CameraConvention(
        "motionctrl",
        RE10K,
        "upstream-90deg",
        "This model is not told the lens: it assumes a 90° horizontal field of view across the photo's "
        "long side; the preview is rendered to match. Moves are RealEstate10K units (metres / near depth).",
        1.0,
        "CameraControl/motionctrl/motionctrl.py; data/single_image_for_inference.py",
    ),
    "wan-fun-camera": CameraConvention(
        "wan-fun-camera",
        RE10K,
        "bundle",
        "Moves are in the model's own units (its demos move 1.5-3 units): metres are divided by the photo's "
        "near depth (5th percentile); change the camera scale if the move looks too short or too long.",
        1.0,
        "VideoX-Fun examples/wan2.2_fun/predict_v2v_control_camera_5b.py, comfyui/camera_utils.py",
    ),
}


def convention(family: str) -> CameraConvention:
    try:
        return CONVENTIONS[family]
    except KeyError:
        raise CameraScaleError(f"no camera convention for model family {family!r}") from None


def upstream_inference_intrinsics(width: int, height: int, photo_size=None) -> Intrinsics:
    """Upstream's assumed camera for a photo shown at width x height (SingleImageForInference).

    The photo is resized to cover width x height and centre-cropped; fx = fy = half the long side of the
    resized (uncropped) photo, the principal point at the centre of the crop. Without `photo_size` the
    photo is taken to be at the generation aspect already: fx = fy = 0.5 * max(width, height)."""
    if photo_size is None:
        return Intrinsics.default_for(width, height)
    pw, ph = (float(v) for v in photo_size)
    if pw <= 0 or ph <= 0:
        raise CameraScaleError(f"photo size {pw:g}x{ph:g} must be positive")
    # Upstream also turns a landscape target round for a portrait photo; here width x height is already the
    # size the video is made at, so the crop is always width x height. Sizes truncate as torchvision's resize.
    if pw / ph > width / height:
        resized = (math.floor(pw * height / ph), height)
    else:
        resized = (width, math.floor(ph * width / pw))
    f = 0.5 * max(resized)
    return Intrinsics(f, f, 0.5 * width, 0.5 * height, width, height)


def near_depth(depth, percentile: float = NEAR_PERCENTILE) -> float:
    """The photo's reference depth in metres: a low percentile of its valid (finite, positive) depths."""
    d = np.asarray(depth, dtype=np.float64)
    valid = d[np.isfinite(d) & (d > 0)]
    if valid.size == 0:
        raise CameraScaleError("the depth map has no valid (finite, positive) depth")
    return float(np.percentile(valid, percentile))


@dataclass(frozen=True)
class CameraScale:
    """Model translation units per metre of the track, and where the number came from (for result.json)."""

    family: str
    units_per_metre: float
    translation: str
    source: str  # "setting", "trained metric", "photo depth", "no depth (assumed)"
    near_depth_m: float | None = None
    upstream_inference_scale: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def camera_scale(family: str, depth=None, setting: float | None = None) -> CameraScale:
    """The translation scale of a job: the artist's setting, else the model's trained convention."""
    conv = convention(family)
    up = conv.upstream_inference_scale
    if setting is not None:
        s = float(setting)
        if not (math.isfinite(s) and s > 0):
            raise CameraScaleError(f"camera scale must be a positive number, not {setting!r}")
        return CameraScale(family, s, conv.translation, "setting", upstream_inference_scale=up)
    if conv.translation == METRIC:
        return CameraScale(family, 1.0, METRIC, "trained metric", upstream_inference_scale=up)
    if depth is None:
        near = FALLBACK_NEAR_DEPTH_M
        return CameraScale(family, NEAR_UNITS / near, RE10K, "no depth (assumed)", near, up)
    near = near_depth(depth)
    return CameraScale(family, NEAR_UNITS / near, RE10K, "photo depth", near, up)


def model_track(c2w, units_per_metre: float) -> np.ndarray:
    """(F, 4, 4) relative c2w as a model takes it: relative to frame 0, translations times the scale."""
    arr = np.asarray(c2w, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (4, 4) or len(arr) < 1:
        raise CameraScaleError(f"expected (F, 4, 4) camera-to-world matrices, got {arr.shape}")
    rel = relative_to_first(arr)
    rel[:, :3, 3] *= float(units_per_metre)
    return rel


def motionctrl_rt(rel_c2w) -> np.ndarray:
    """(F, 12) MotionCtrl condition: the relative world-to-camera [R | t], rows flattened (upstream's RT)."""
    rel = np.asarray(rel_c2w, dtype=np.float64)
    w2c = np.linalg.inv(rel)  # upstream inverts the scaled relative c2w in full
    return w2c[:, :3, :4].reshape(len(rel), 12)


def reach(rel_c2w) -> float:
    """How far the camera gets from frame 0 (track units)."""
    t = np.asarray(rel_c2w, dtype=np.float64)[:, :3, 3]
    return float(np.linalg.norm(t, axis=1).max())
