"""Camera accuracy in the terms of CamI2V / RealCam-I2V (pure numpy).

Both trajectories are camera-to-world poses relative to their frame 0.
    RotErr   sum over frames of the angle between R_gt and R_gen (radians)
    TransErr sum of ||t_gt - t_gen|| after dividing each trajectory by its own largest ||t||
    CamMC    sum of Frobenius norms of the [R|t] differences, same normalisation
Metric variants use the generated trajectory scaled to metres (from a frame-0
metric depth) and no normalisation.
"""

from __future__ import annotations

import numpy as np


def _normalised(t: np.ndarray) -> np.ndarray:
    m = np.linalg.norm(t, axis=1).max()
    return t / m if m > 1e-12 else t


def rotation_error(R_gt: np.ndarray, R_gen: np.ndarray) -> float:
    cos = (np.einsum("nji,nji->n", R_gt, R_gen) - 1.0) / 2.0  # trace(R_gt^T R_gen)
    return float(np.arccos(np.clip(cos, -1.0, 1.0)).sum())


def scores(gt: np.ndarray, gen: np.ndarray, metric_scale: float | None = None) -> dict:
    """gt, gen: (N, 4, 4) relative c2w of the same frames."""
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
