"""The UNet's transformers: spatial (self, text + image cross-attention) and temporal (self-attention over frames).

Parameter names follow upstream's state dicts (`attn1`, `attn2`, `to_k_ip`, `ff.net.0.proj`, ...), so a
checkpoint loads without renaming. Attention runs through torch's scaled_dot_product_attention; upstream
multiplies by dim_head ** -0.5 before its softmax, the same computation.

Camera hook points (see the package docstring): a temporal block asks its `camera` hook, if any, for the
input of its first attention and a residual beside it, and lets it rewrite the features between its first
and second attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Site:
    """Where a temporal attention block sits, as a camera hook sees it."""

    part: str  # "init" (the attention right after the first conv), "input", "middle" or "output"
    index: int  # the block's index in input_blocks / output_blocks (0 for init and middle)
    ds: int  # the feature map's downsampling relative to the latents: 1, 2, 4 or 8
    height: int
    width: int
    frames: int
    batch: int


class CameraHook:
    """What a camera module plugs into the UNet. This base adds nothing."""

    def attn1(self, block, normed, site: Site):
        """(the first attention's input, a residual added beside its output or None).

        normed: the block's input after norm1, (batch*height*width, frames, channels). CameraCtrl changes the
        input; CamI2V and RealCam-I2V add a residual (upstream's "add_to_main_branch")."""
        return normed, None

    def after_attn1(self, block, x, site: Site):
        """The features between the block's two attentions (MotionCtrl's pose projection)."""
        return x

    def input_features(self):
        """Features added after input blocks 2, 5, 8, 11 (upstream's T2I-adapter slot), or None."""
        return None


def _heads(x, heads):
    b, n, _ = x.shape
    return x.reshape(b, n, heads, -1).transpose(1, 2)


def _merge(x):
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


class Attention(nn.Module):
    """Multi-head attention; with image_tokens > 0 the context's tail (the image tokens) gets its own keys."""

    def __init__(self, dim, heads, dim_head, context_dim=None, text_tokens=77, image_cross=False, learnable=False):
        super().__init__()
        inner = heads * dim_head
        context_dim = context_dim or dim
        self.heads, self.text_tokens, self.image_cross = heads, text_tokens, image_cross
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))
        if image_cross:
            self.to_k_ip = nn.Linear(context_dim, inner, bias=False)
            self.to_v_ip = nn.Linear(context_dim, inner, bias=False)
            if learnable:
                self.alpha = nn.Parameter(torch.tensor(0.0))

    def _attend(self, q, context, to_k, to_v):
        k, v = _heads(to_k(context), self.heads), _heads(to_v(context), self.heads)
        return _merge(F.scaled_dot_product_attention(q, k, v))

    def forward(self, x, context=None):
        q = _heads(self.to_q(x), self.heads)
        if context is None:
            return self.to_out(self._attend(q, x, self.to_k, self.to_v))
        out = self._attend(q, context[:, : self.text_tokens], self.to_k, self.to_v)
        if self.image_cross:
            image = self._attend(q, context[:, self.text_tokens :], self.to_k_ip, self.to_v_ip)
            gate = torch.tanh(self.alpha) + 1 if hasattr(self, "alpha") else 1.0
            out = out + image * gate
        return self.to_out(out)


class GEGLU(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim))

    def forward(self, x):
        return self.net(x)


class SpatialBlock(nn.Module):
    """Self-attention over a frame's pixels, then cross-attention to the text and the frame's image tokens."""

    def __init__(self, dim, heads, dim_head, context_dim, text_tokens, learnable):
        super().__init__()
        self.attn1 = Attention(dim, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = Attention(dim, heads, dim_head, context_dim, text_tokens, image_cross=True, learnable=learnable)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class TemporalBlock(nn.Module):
    """Two self-attentions over the frames of each pixel (upstream's temporal_selfatt_only), then a feed-forward."""

    def __init__(self, dim, heads, dim_head):
        super().__init__()
        self.attn1 = Attention(dim, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = Attention(dim, heads, dim_head)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, camera: CameraHook | None = None, site: Site | None = None):
        normed = self.norm1(x)
        attn_in, residual = camera.attn1(self, normed, site) if camera is not None else (normed, None)
        h = self.attn1(attn_in)
        x = h + x if residual is None else residual + h + x  # upstream's order: residual + attn1(n) + x
        if camera is not None:
            x = camera.after_attn1(self, x, site)
        x = self.attn2(self.norm2(x)) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    """(batch*frames, C, H, W) -> the same, attention over each frame's H*W tokens."""

    def __init__(self, channels, heads, dim_head, context_dim, text_tokens, learnable, groups=32):
        super().__init__()
        inner = heads * dim_head
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner)
        self.transformer_blocks = nn.ModuleList(
            [SpatialBlock(inner, heads, dim_head, context_dim, text_tokens, learnable)]
        )
        self.proj_out = nn.Linear(inner, channels)

    def forward(self, x, context):
        n, c, h, w = x.shape
        y = self.norm(x).reshape(n, c, h * w).transpose(1, 2)
        y = self.proj_in(y)
        for block in self.transformer_blocks:
            y = block(y, context)
        y = self.proj_out(y).transpose(1, 2).reshape(n, c, h, w)
        return y + x


class TemporalTransformer(nn.Module):
    """(batch*frames, C, H, W) -> the same, attention over each pixel's frames.

    linear=False is upstream's init_attn: 1x1 Conv1d projections instead of Linear ones."""

    def __init__(self, channels, heads, dim_head, linear=True, groups=32):
        super().__init__()
        inner = heads * dim_head
        self.linear = linear
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, inner) if linear else nn.Conv1d(channels, inner, 1)
        self.transformer_blocks = nn.ModuleList([TemporalBlock(inner, heads, dim_head)])
        self.proj_out = nn.Linear(inner, channels) if linear else nn.Conv1d(inner, channels, 1)

    def _project(self, proj, y):
        # y: (pixels, frames, channels); a Conv1d works on (pixels, channels, frames)
        return proj(y) if self.linear else proj(y.transpose(1, 2)).transpose(1, 2)

    def forward(self, x, batch: int, camera: CameraHook | None = None, site: Site | None = None):
        bf, c, h, w = x.shape
        f = bf // batch
        y = self.norm(x.reshape(batch, f, c, h, w).transpose(1, 2))  # (b, c, f, h, w)
        y = y.permute(0, 3, 4, 2, 1).reshape(batch * h * w, f, c)
        y = self._project(self.proj_in, y)
        for block in self.transformer_blocks:
            y = block(y, camera, site)
        y = self._project(self.proj_out, y)
        y = y.reshape(batch, h, w, f, c).permute(0, 3, 4, 1, 2).reshape(bf, c, h, w)
        return y + x
