"""The UNet's convolutional pieces: residual blocks with a temporal convolution, down/upsampling, embeddings.

Names follow upstream's state dicts, including its spelling `temopral_conv`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t, dim: int, max_period: float = 10000.0):
    """Sinusoidal embedding, cosines first, computed in float32 as upstream does whatever the model's dtype."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in at least float32 (upstream's normalization() of the UNet's residual blocks)."""

    def forward(self, x):
        if x.dtype in (torch.float16, torch.bfloat16):
            return F.group_norm(x.float(), self.num_groups, self.weight.float(), self.bias.float(), self.eps).to(
                x.dtype
            )
        return super().forward(x)


def _mlp(dim_in, dim):
    return nn.Sequential(nn.Linear(dim_in, dim), nn.SiLU(), nn.Linear(dim, dim))


class TemporalConv(nn.Module):
    """Four (norm, SiLU, 3x1x1 conv) layers over the frame axis, added to the input (ModelScope's block)."""

    def __init__(self, channels, groups=32):
        super().__init__()

        def layer(dropout):
            mods = [nn.GroupNorm(groups, channels), nn.SiLU()]
            mods += [nn.Dropout(0.0)] if dropout else []
            return nn.Sequential(*mods, nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0)))

        self.conv1, self.conv2, self.conv3, self.conv4 = layer(False), layer(True), layer(True), layer(True)

    def forward(self, x):  # (b, c, f, h, w)
        return x + self.conv4(self.conv3(self.conv2(self.conv1(x))))


class ResBlock(nn.Module):
    """Conv residual block on (batch*frames, C, H, W) conditioned on the time (+ frame-rate) embedding."""

    def __init__(self, channels, emb_dim, out_channels=None, temporal=True, groups=32):
        super().__init__()
        out_channels = out_channels or channels
        self.in_layers = nn.Sequential(
            GroupNorm32(groups, channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_channels))
        self.out_layers = nn.Sequential(
            GroupNorm32(groups, out_channels),
            nn.SiLU(),
            nn.Dropout(0.0),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)
        if temporal:
            self.temopral_conv = TemporalConv(out_channels, groups)

    def forward(self, x, emb, batch: int):
        h = self.in_layers(x)
        h = h + self.emb_layers(emb).to(h.dtype)[..., None, None]
        h = self.skip_connection(x) + self.out_layers(h)
        if hasattr(self, "temopral_conv"):
            bf, c, hh, ww = h.shape
            v = h.reshape(batch, bf // batch, c, hh, ww).transpose(1, 2)
            h = self.temopral_conv(v).transpose(1, 2).reshape(bf, c, hh, ww)
        return h


class Downsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def time_mlp(model_channels: int) -> nn.Sequential:
    """time_embed / fps_embedding: model_channels -> 4 * model_channels."""
    return _mlp(model_channels, model_channels * 4)
