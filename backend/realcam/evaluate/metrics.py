"""Camera accuracy in the terms of CamI2V / RealCam-I2V (pure numpy).

Both trajectories are camera-to-world poses relative to their frame 0.
    RotErr   sum over frames of the angle of R_gt^T R_gen (radians)
    TransErr sum of ||t_gt - t_gen|| after dividing each trajectory by its own largest ||t||
    CamMC    sum of Frobenius norms of the [R|t] differences, same normalisation
Metric variants use the generated trajectory scaled to metres (from a frame-0
metric depth) and no normalisation.
"""

from __future__ import annotations

import numpy as np

# A track whose camera centre moves less than this (in its own units: metres for a requested track)
# is a pure rotation: its translations stay 0 instead of rounding noise blown up to unit length
# (Blender's float32 matrices leave ~1e-7 m in a pan's track).
STILL = 1e-5


def _normalised(t: np.ndarray) -> np.ndarray:
    m = np.linalg.norm(t, axis=1).max()
    return t / m if m > STILL else np.zeros_like(t)


def rotation_angles(R_gt: np.ndarray, R_gen: np.ndarray) -> np.ndarray:
    """Per-frame angle (radians) of M = R_gt^T R_gen, in float64: the norm of M's rotation vector.

    atan2(|vee(M - M^T)| / 2, (tr M - 1) / 2) keeps full precision near 0, where arccos of the trace
    reads exactly 0 below ~1e-8 rad (and loses digits well above that)."""
    M = np.einsum("nji,njk->nik", np.asarray(R_gt, np.float64), np.asarray(R_gen, np.float64))
    cos = (np.trace(M, axis1=1, axis2=2) - 1.0) / 2.0
    v = np.stack([M[:, 2, 1] - M[:, 1, 2], M[:, 0, 2] - M[:, 2, 0], M[:, 1, 0] - M[:, 0, 1]], 1)
    return np.arctan2(np.linalg.norm(v, axis=1) / 2.0, cos)


def rotation_error(R_gt: np.ndarray, R_gen: np.ndarray) -> float:
    return float(rotation_angles(R_gt, R_gen).sum())


def scores(gt: np.ndarray, gen: np.ndarray, metric_scale: float | None = None) -> dict:
    """gt, gen: (N, 4, 4) relative c2w of the same frames."""
    gt, gen = np.asarray(gt, np.float64), np.asarray(gen, np.float64)
    R_gt, R_gen = gt[:, :3, :3], gen[:, :3, :3]
    t_gt, t_gen = gt[:, :3, 3], gen[:, :3, 3]
    tn_gt, tn_gen = _normalised(t_gt), _normalised(t_gen)
    out = {
        "RotErr": rotation_error(R_gt, R_gen),
        "TransErr": float(np.linalg.norm(tn_gt - tn_gen, axis=1).sum()),
        "CamMC": float(
            np.linalg.norm(np.concatenate([R_gt - R_gen, (tn_gt - tn_gen)[..., None]], 2), axis=(1, 2)).sum()
        ),
    }
    if metric_scale is not None:
        tm = t_gen * metric_scale
        out["TransErr_metric"] = float(np.linalg.norm(t_gt - tm, axis=1).sum())
        out["CamMC_metric"] = float(
            np.linalg.norm(np.concatenate([R_gt - R_gen, (t_gt - tm)[..., None]], 2), axis=(1, 2)).sum()
        )
    return out
