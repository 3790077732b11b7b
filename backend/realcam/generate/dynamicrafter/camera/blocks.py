"""The camera modules that live inside each temporal transformer block, one class per kind.

Each is an nn.Module whose children carry upstream's names, so it can be attached to the
block with `attach_to_block` (children added to the block itself: checkpoint keys stay
`...transformer_blocks.0.pluker_projection.weight`) or held on its own and loaded with a key
prefix (loading.py). Hidden states are the temporal block's (B*h*w, F, C), (b h w) ordered.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import CAMERACTRL, CAMI2V, MOTIONCTRL, CameraConfig, EpipolarConfig, TemporalBlock
from .epipolar import Epipolar


def _pose_tokens(pose: torch.Tensor) -> torch.Tensor:
    """(B, C, F, h, w) pose-encoder feature -> (B*h*w, F, C)."""
    b, c, f, h, w = pose.shape
    return pose.permute(0, 3, 4, 2, 1).reshape(b * h * w, f, c)


class CamI2VBlockCamera(nn.Module):
    """CamI2V / RealCam-I2V: returns the residual the block adds beside its temporal self-attention.

    In the block (add_type "add_to_main_branch", both published configs):
        n = norm1(x); x = camera(n, pose, h, w, masks) + attn1(n) + x; then attn2 and ff as usual.
    residual = pluker_projection(n + p) + epipolar(n + p) with p the block's pose feature."""

    def __init__(self, dim: int, heads: int, epipolar: EpipolarConfig | None, with_pose: bool = True):
        super().__init__()
        self.pluker_projection = nn.Linear(dim, dim) if with_pose else None
        if with_pose:
            nn.init.zeros_(self.pluker_projection.weight)
            nn.init.zeros_(self.pluker_projection.bias)
        self.epipolar = Epipolar(dim, heads, epipolar) if epipolar is not None else None

    def forward(self, normed, pose=None, h=None, w=None, masks=None):
        out = torch.zeros_like(normed)
        x = normed
        if pose is not None and self.pluker_projection is not None:
            x = normed + _pose_tokens(pose)
            out = out + self.pluker_projection(x)
        if self.epipolar is not None:
            bhw, f, c = x.shape
            b = bhw // (h * w)
            feats = x.view(b, h, w, f, c).permute(0, 3, 4, 1, 2)  # (b h w) f c -> b f c h w
            out = out + self.epipolar(feats, masks)
        return out


class CameraCtrlBlockCamera(nn.Module):
    """CameraCtrl: returns the temporal self-attention's input, n + cc_projection(n + p).

    In the block: n = norm1(x); x = attn1(camera(n, pose)) + x; then attn2 and ff as usual."""

    def __init__(self, dim: int):
        super().__init__()
        self.cc_projection = nn.Linear(dim, dim)
        nn.init.zeros_(self.cc_projection.weight)
        nn.init.zeros_(self.cc_projection.bias)

    def forward(self, normed, pose):
        return normed + self.cc_projection(normed + _pose_tokens(pose))


class MotionCtrlBlockCamera(nn.Module):
    """MotionCtrl: replaces the hidden states between the two attentions with cc_projection([x, RT]).

    In the block: x = attn1(norm1(x)) + x; x = camera(x, rt); x = attn2(norm2(x)) + x; ff as usual.
    rt is (B, F, 12), the same for every position; no residual (the projection starts as identity)."""

    def __init__(self, dim: int, pose_dim: int = 12):
        super().__init__()
        self.cc_projection = nn.Linear(dim + pose_dim, dim)
        nn.init.zeros_(self.cc_projection.weight)
        with torch.no_grad():
            self.cc_projection.weight[:, :dim] = torch.eye(dim)
        nn.init.zeros_(self.cc_projection.bias)

    def forward(self, x, rt):
        b, f, _ = rt.shape
        rt = rt.to(x.dtype).repeat_interleave(x.shape[0] // b, dim=0)
        return self.cc_projection(torch.cat([x, rt], dim=-1))


def block_camera(cfg: CameraConfig, block: TemporalBlock) -> nn.Module:
    if cfg.kind == CAMI2V:
        return CamI2VBlockCamera(block.dim, block.heads, cfg.epipolar, cfg.pose_encoder is not None)
    if cfg.kind == CAMERACTRL:
        return CameraCtrlBlockCamera(block.dim)
    if cfg.kind == MOTIONCTRL:
        return MotionCtrlBlockCamera(block.dim, cfg.pose_dim)
    raise ValueError(cfg.kind)


def attach_to_block(block: nn.Module, camera: nn.Module) -> None:
    """Give a temporal BasicTransformerBlock its camera module.

    The camera's children are registered on the block under their own names (so the block's
    state-dict keys are upstream's: `...transformer_blocks.0.pluker_projection.weight`), and the camera
    itself is kept as a plain attribute, `block.camera`, for the block's forward to call."""
    for name, child in camera.named_children():
        block.add_module(name, child)
    object.__setattr__(block, "camera", camera)  # not a submodule: its parameters are already the block's
