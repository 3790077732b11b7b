"""Metric scale of a reconstruction: metric depth over SfM depth at the points a frame sees (pure numpy).

`realcam eval` takes the plain median of the ratios, as the CamI2V / RealCam-I2V protocol states it.
`realcam track` rejects outliers first and reports how tightly the ratios agree: a keypoint on a depth
edge may read the depth of the surface behind it, and a depth model is wrong in places (sky,
glass, thin structures), so a few ratios are far off in one direction.

Outliers are judged on log ratios (a scale is a factor: half and double are equally far off):
median m, spread s = 1.4826 * MAD (the standard deviation for normally distributed values, unmoved
by outliers); ratios with |log r - m| > REJECT_SIGMAS * s are dropped, and the scale is the median
of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826
REJECT_SIGMAS = 3.0
MIN_POINTS = 20  # fewer ratios than this give no scale in `realcam track`


@dataclass
class ScaleFit:
    scale: float  # metres per SfM unit
    spread: float  # 1.4826 * MAD of the kept log ratios: the relative spread of one point's ratio
    uncertainty: float  # relative standard error of the scale itself (median of n ratios)
    points: int  # ratios kept
    rejected: int  # ratios dropped as outliers
    range_5_95: tuple[float, float]  # 5th and 95th percentile of the kept ratios

    def to_dict(self) -> dict:
        return {
            "scale": self.scale,
            "spread": self.spread,
            "uncertainty": self.uncertainty,
            "points": self.points,
            "rejected": self.rejected,
            "ratio_5_95": list(self.range_5_95),
        }


def depth_ratios(depth: np.ndarray, points: np.ndarray, size) -> np.ndarray:
    """Metric depth over SfM depth for each point (u, v, z) with known depth.

    points: u, v in pixels of an image of size (w, h) (continuous convention: pixel i covers [i, i+1)),
    z the point's depth along the optical axis in SfM units. depth: (H, W) metres, 0 = unknown, at any
    resolution of the same image."""
    h, w = depth.shape
    if len(points) == 0:
        return np.zeros(0)
    pts = np.asarray(points, dtype=np.float64)
    x = np.floor(pts[:, 0] * (w / size[0])).astype(np.int64)
    y = np.floor(pts[:, 1] * (h / size[1])).astype(np.int64)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h) & (pts[:, 2] > 0)
    d = np.zeros(len(pts))
    d[inside] = depth[y[inside], x[inside]]
    ok = inside & (d > 0)
    return d[ok] / pts[ok, 2]


def robust_scale(ratios: np.ndarray, min_points: int = MIN_POINTS) -> ScaleFit | None:
    """The median ratio after MAD-based outlier rejection (module doc); None with too few ratios."""
    r = np.asarray(ratios, dtype=np.float64)
    r = r[np.isfinite(r) & (r > 0)]
    if len(r) < min_points:
        return None
    logs = np.log(r)
    m = np.median(logs)
    sigma = MAD_TO_SIGMA * np.median(np.abs(logs - m))
    keep = np.abs(logs - m) <= REJECT_SIGMAS * max(sigma, 1e-9)
    kept = r[keep]
    kl = logs[keep]
    spread = float(MAD_TO_SIGMA * np.median(np.abs(kl - np.median(kl))))
    # The median's standard error is sqrt(pi / 2) = 1.2533 times the mean's for normal data.
    uncertainty = 1.2533 * spread / np.sqrt(len(kept))
    lo, hi = np.percentile(kept, [5, 95])
    return ScaleFit(float(np.median(kept)), spread, float(uncertainty), int(len(kept)), int((~keep).sum()), (lo, hi))
