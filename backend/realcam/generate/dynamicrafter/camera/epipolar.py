"""CamI2V's epipolar attention: masks from fundamental matrices, and the attention with register tokens.

For every pair of frames (i, j) the relative pose c2w_j^-1 c2w_i gives R, t and
F = K^-T [t]x R K^-1 (upstream uses frame j's K on both sides; the same K throughout at
inference). A query pixel p of frame i may attend a key pixel q of frame j when q lies
within stride * sqrt(2) / 2 of p's epipolar line in frame j, at every pixel stride of
the UNet levels (8 x attention_resolution). Pixel centres sit at x * stride + stride / 2 - 0.5
(upstream's `pix2coord`: the integer-index convention, half a pixel off the rays' +0.5 one;
kept for parity). Pairs with no translation (a frame with itself, a pure pan) get a
translation of ~1e-6 in a random direction first (upstream's add_small_perturbation_on_zero_T),
else their lines are 0/0: the draw comes from a generator here, so a seed fixes it.

The attention (one per temporal block) is full attention over all frames' pixels,
restricted by that mask, with learned register tokens every query may attend; its output
projection is zero at initialisation. Masks are keyed by stride; a level whose stride has no
mask (the 512 models list strides 64, 32, 16 only) attends everything.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import EpipolarConfig


def relative_pairs(rel_c2w: torch.Tensor) -> torch.Tensor:
    """(B, T, 4, 4) -> (B, T, T, 4, 4): pair [i, j] = c2w_j^-1 c2w_i (camera i's frame to camera j's)."""
    inv = torch.linalg.inv(rel_c2w)
    return inv[:, None] @ rel_c2w[:, :, None]


def fundamental_matrices(K: torch.Tensor, rel_c2w: torch.Tensor, perturbation=None, generator=None) -> torch.Tensor:
    """(B, T, 3, 3) intrinsics and (B, T, 4, 4) relative c2w -> (B, T, T, 3, 3) fundamental matrices.

    `perturbation` (B, T, T, 3, 1) replaces translations that are all below 1e-6; without it one is
    drawn (standard normal x 1e-6) from `generator`. Pass perturbation=False to keep zeros."""
    pairs = relative_pairs(rel_c2w)
    R, t = pairs[..., :3, :3], pairs[..., :3, 3:4]
    if perturbation is not False:
        if perturbation is None:
            perturbation = torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device) * 1e-6
        zero = (t.abs() < 1e-6).all(dim=-2, keepdim=True)
        t = torch.where(zero, perturbation.to(t), t)
    E = torch.cross(t.expand_as(R), R, dim=-2)  # [t]x R, column by column
    K_inv = torch.linalg.inv(K)[:, None]  # frame j's K for both sides, as upstream broadcasts it
    return K_inv.transpose(-1, -2) @ E @ K_inv


def pixel_grid(h: int, w: int, stride: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """(h * w, 3) homogeneous centres of a stride-s grid, rows then columns (upstream's pix2coord)."""
    y = torch.arange(h, dtype=dtype, device=device) * stride + stride / 2.0 - 0.5
    x = torch.arange(w, dtype=dtype, device=device) * stride + stride / 2.0 - 0.5
    gy, gx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(-1, 3)


def epipolar_mask(Fm: torch.Tensor, h: int, w: int, stride: int) -> torch.Tensor:
    """(B, T, T, 3, 3) fundamental matrices -> (B, T*h*w, T*h*w) bool: query (i, p) may attend key (j, q).

    Computed one query frame at a time (the full distance tensor of a 256 model is 1 GB)."""
    b, t = Fm.shape[:2]
    grid = pixel_grid(h, w, stride, Fm.dtype, Fm.device)  # (hw, 3)
    limit = stride * math.sqrt(2) / 2
    rows = []
    for i in range(t):
        lines = Fm[:, i] @ grid.T  # (B, T, 3, hw): the line in frame j of each pixel of frame i
        lines = lines / torch.linalg.vector_norm(lines[..., :2, :], dim=-2, keepdim=True)
        dist = (lines.transpose(-1, -2) @ grid.T).abs()  # (B, T, hw_i, hw_j)
        rows.append((dist < limit).permute(0, 2, 1, 3).reshape(b, h * w, t * h * w))
    return torch.cat(rows, dim=1)


def epipolar_masks(
    K: torch.Tensor,
    rel_c2w: torch.Tensor,
    height: int,
    width: int,
    cfg: EpipolarConfig,
    perturbation=None,
    generator=None,
) -> dict[int, torch.Tensor]:
    """{pixel stride: (B, T*h*w, T*h*w) mask} for every stride the model attends with (upstream's sample_locs_dict)."""
    pert = perturbation if cfg.perturb_zero_translation else False
    Fm = fundamental_matrices(K, rel_c2w, pert, generator)
    strides = [int(8 * r) for r in cfg.attention_resolution]
    return {d: epipolar_mask(Fm, height // d, width // d, d) for d in strides}


class EpipolarCrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, num_register_tokens: int):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))
        self.num_register_tokens = num_register_tokens
        if num_register_tokens > 0:
            self.register_tokens = nn.Parameter(torch.randn(1, num_register_tokens, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None):
        b = x.shape[0]
        if self.num_register_tokens:
            context = torch.cat([self.register_tokens.expand(b, -1, -1), context], dim=1)
            if mask is not None:  # every query may attend the registers
                mask = F.pad(mask, (self.num_register_tokens, 0), value=True)
        q, k, v = (
            p(s).view(b, s.shape[1], self.heads, -1).transpose(1, 2)
            for p, s in ((self.to_q, x), (self.to_k, context), (self.to_v, context))
        )
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask[:, None])
        return self.to_out(out.transpose(1, 2).reshape(b, x.shape[1], -1))


class Epipolar(nn.Module):
    """(B, T, C, h, w) features -> (B*h*w, T, C), the layout of the temporal block's hidden states."""

    def __init__(self, dim: int, heads: int, cfg: EpipolarConfig):
        super().__init__()
        self.origin_h = cfg.origin_h
        self.epipolar_attn = EpipolarCrossAttention(dim, heads, dim // heads, cfg.num_register_tokens)
        nn.init.zeros_(self.epipolar_attn.to_out[0].weight)
        nn.init.zeros_(self.epipolar_attn.to_out[0].bias)

    def forward(self, features: torch.Tensor, masks: dict[int, torch.Tensor] | None) -> torch.Tensor:
        b, t, c, h, w = features.shape
        mask = None if masks is None else masks.get(self.origin_h // h)  # upstream's lookup, by the origin height
        x = features.permute(0, 1, 3, 4, 2).reshape(b, t * h * w, c)
        out = self.epipolar_attn(x, x, mask)
        return out.view(b, t, h, w, c).permute(0, 2, 3, 1, 4).reshape(b * h * w, t, c)
