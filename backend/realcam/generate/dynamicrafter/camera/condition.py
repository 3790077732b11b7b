"""A job's camera condition for a DynamiCrafter camera model, computed once per job.

From the bundle's per-frame intrinsics (pixels of the generation size) and its metric track:
the track is made relative to frame 0 and its translations scaled into the model's units
(realcam_core.camera_scale), then

* CamI2V / RealCam-I2V: Plücker rays (realcam_core.plucker: CameraCtrl's rays, same convention)
  -> pose encoder features per UNet level, and epipolar masks per pixel stride;
* CameraCtrl: the same rays and pose encoder, no masks;
* MotionCtrl: the relative world-to-camera [R | t], flattened to 12 numbers per frame.

Upstream gives the unconditional (guidance) branch the same camera condition, so one condition
serves both branches and every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from realcam_core.camera_scale import motionctrl_rt
from realcam_core.plucker import plucker_rays

from .config import CAMERACTRL, CAMI2V, MOTIONCTRL, CameraConfig
from .epipolar import epipolar_masks


@dataclass
class CameraCondition:
    pose_features: list | None = None  # per pose-encoder level: (B, C_l, F, h_l, w_l)
    masks: dict | None = None  # pixel stride -> (B, F*h*w, F*h*w) bool
    rt: torch.Tensor | None = None  # (B, F, 12) MotionCtrl
    record: dict = field(default_factory=dict)

    def for_block(self, feature: int | None):
        """The pose feature a temporal block takes (its TemporalBlock.feature), or None."""
        if self.pose_features is None or feature is None:
            return None
        return self.pose_features[feature]


def ray_input(intrinsics, rel_c2w, height: int, width: int) -> torch.Tensor:
    """(1, 6, F, H, W) float32 Plücker rays; intrinsics (F, 4) fx, fy, cx, cy; rel_c2w (F, 4, 4) model units."""
    rays = plucker_rays(np.asarray(intrinsics, np.float64), np.asarray(rel_c2w, np.float64), height, width)
    return torch.from_numpy(rays).permute(1, 0, 2, 3)[None]


def intrinsics_matrices(intrinsics) -> torch.Tensor:
    k = np.asarray(intrinsics, np.float64)
    m = np.zeros((len(k), 3, 3))
    m[:, 0, 0], m[:, 1, 1], m[:, 0, 2], m[:, 1, 2], m[:, 2, 2] = k[:, 0], k[:, 1], k[:, 2], k[:, 3], 1.0
    return torch.from_numpy(m)[None]


@torch.no_grad()
def build_condition(
    cfg: CameraConfig,
    pose_encoder,
    intrinsics,
    rel_c2w,
    height: int,
    width: int,
    seed: int = 0,
    device="cpu",
    dtype=torch.float32,
    perturbation=None,
) -> CameraCondition:
    """The condition for one job. `rel_c2w` is already in the model's units (camera_scale.model_track).

    Rays, masks and RT are computed in float32 as upstream does (autocast off); the pose encoder runs
    in its own dtype. `seed` fixes the epipolar perturbation of zero translations; `perturbation`
    ((1, F, F, 3, 1), the nudges themselves) replaces that draw, for parity with upstream's."""
    rel = np.asarray(rel_c2w, np.float64)
    cond = CameraCondition(record={"kind": cfg.kind, "frames": len(rel)})
    if cfg.kind == MOTIONCTRL:
        cond.rt = torch.from_numpy(motionctrl_rt(rel)).float()[None].to(device)
        return cond
    if cfg.kind not in (CAMI2V, CAMERACTRL):
        raise ValueError(cfg.kind)
    rays = ray_input(intrinsics, rel, height, width).to(device)
    p = next(pose_encoder.parameters())
    cond.pose_features = [f.to(dtype) for f in pose_encoder(rays.to(p.dtype))]
    if cfg.kind == CAMI2V and cfg.epipolar is not None:
        gen = torch.Generator().manual_seed(int(seed))
        K = intrinsics_matrices(intrinsics).float()
        rel_t = torch.from_numpy(rel).float()[None]
        masks = epipolar_masks(K, rel_t, height, width, cfg.epipolar, perturbation=perturbation, generator=gen)
        cond.masks = {d: m.to(device) for d, m in masks.items()}
        cond.record["epipolar_strides"] = sorted(cond.masks)
    return cond
