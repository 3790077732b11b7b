"""The camera pose encoder of CameraCtrl and CamI2V (one design, upstream ships it twice).

Plücker rays (B, 6, F, H, W) at pixel resolution -> pixel-unshuffle by the VAE's factor ->
a 3x3 convolution -> per level: residual blocks, each followed by a temporal self-attention
block over the frames of every position -> one feature map per level, (B, C_l, F, h_l, w_l)
at latent resolution / 2^l, matching the UNet's widths at its levels.

Parameter names follow upstream's modules (encoder_conv_in, encoder_down_conv_blocks,
encoder_down_attention_blocks.*.attention_blocks.0.to_q, ...ff.net.0.proj, ...), so a published
state dict loads key for key. The temporal attention is diffusers' `Attention` with its default
processor (no bias on q, k, v; sinusoidal positions added to the normed input), and its
feed-forward diffusers' GEGLU `FeedForward`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import PoseEncoderConfig


def positional_table(dim: int, max_len: int) -> torch.Tensor:
    """(1, max_len, dim) sin/cos table, computed as upstream's PositionalEncoding (in float32)."""
    position = torch.arange(max_len).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, max_len, dim)
    pe[0, :, 0::2] = torch.sin(position * div)
    pe[0, :, 1::2] = torch.cos(position * div)
    return pe


class _PositionalEncoding(nn.Module):
    def __init__(self, dim: int, max_len: int):
        super().__init__()
        self.register_buffer("pe", positional_table(dim, max_len))  # persistent: published files carry it

    def forward(self, x):
        return x + self.pe[:, : x.shape[1]]


class TemporalSelfAttention(nn.Module):
    """Self-attention over the frame axis of (N, F, C); key names as diffusers' Attention."""

    def __init__(self, dim: int, heads: int, positional: bool, max_len: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible into {heads} heads")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.pos_encoder = _PositionalEncoding(dim, max_len) if positional else None

    def forward(self, x):
        if self.pos_encoder is not None:
            x = self.pos_encoder(x)
        n, f, c = x.shape
        q, k, v = (
            p(x).view(n, f, self.heads, c // self.heads).transpose(1, 2) for p in (self.to_q, self.to_k, self.to_v)
        )
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, f, c)
        return self.to_out[1](self.to_out[0](out))


class _GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class _FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.net = nn.ModuleList([_GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)])

    def forward(self, x):
        for layer in self.net:
            x = layer(x)
        return x


class TemporalTransformerBlock(nn.Module):
    """x + attn(norm(x)), then x + ff(norm(x)); over (N, F, C)."""

    def __init__(self, dim: int, heads: int, positional: bool, max_len: int):
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalSelfAttention(dim, heads, positional, max_len)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim)])
        self.ff = _FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(self, x):
        for attention, norm in zip(self.attention_blocks, self.norms, strict=True):
            x = attention(norm(x)) + x
        return self.ff(self.ff_norm(x)) + x


class _Downsample(nn.Module):
    def __init__(self, channels: int, use_conv: bool):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1) if use_conv else nn.AvgPool2d(2, 2)

    def forward(self, x):
        return self.op(x)


class ResnetBlock(nn.Module):
    """[downsample] -> [in_conv] -> x + block2(relu(block1(x))) (or + skep(x) without `sk`)."""

    def __init__(self, in_c: int, out_c: int, down: bool, ksize: int, sk: bool, use_conv: bool):
        super().__init__()
        pad = ksize // 2
        self.in_conv = nn.Conv2d(in_c, out_c, ksize, 1, pad) if (in_c != out_c or not sk) else None
        self.block1 = nn.Conv2d(out_c, out_c, 3, 1, 1)
        self.block2 = nn.Conv2d(out_c, out_c, ksize, 1, pad)
        self.skep = None if sk else nn.Conv2d(in_c, out_c, ksize, 1, pad)
        self.down_opt = _Downsample(in_c, use_conv) if down else None

    def forward(self, x):
        if self.down_opt is not None:
            x = self.down_opt(x)
        if self.in_conv is not None:
            x = self.in_conv(x)
        h = self.block2(F.relu(self.block1(x)))
        return h + (self.skep(x) if self.skep is not None else x)


class CameraPoseEncoder(nn.Module):
    def __init__(self, cfg: PoseEncoderConfig):
        super().__init__()
        self.cfg = cfg
        ch = tuple(cfg.channels)
        self.unshuffle = nn.PixelUnshuffle(cfg.downscale_factor)
        self.encoder_conv_in = nn.Conv2d(cfg.cin, ch[0], 3, 1, 1)
        self.encoder_down_conv_blocks = nn.ModuleList()
        self.encoder_down_attention_blocks = nn.ModuleList()
        for i, c in enumerate(ch):
            convs, attns = nn.ModuleList(), nn.ModuleList()
            for j in range(cfg.nums_rb):
                in_c = ch[i - 1] if (j == 0 and i != 0) else c  # the first block of a level changes width
                convs.append(ResnetBlock(in_c, c, j == 0 and i != 0, cfg.ksize, cfg.sk, cfg.use_conv))
                attns.append(TemporalTransformerBlock(c, cfg.heads, cfg.positional_encoding, cfg.max_len))
            self.encoder_down_conv_blocks.append(convs)
            self.encoder_down_attention_blocks.append(attns)

    def forward(self, rays: torch.Tensor) -> list[torch.Tensor]:
        """(B, 6, F, H, W) rays -> [(B, C_l, F, h_l, w_l) for each level]."""
        b, c, f, h, w = rays.shape
        if c * self.cfg.downscale_factor**2 != self.cfg.cin:
            raise ValueError(f"the pose encoder takes {self.cfg.cin} channels after unshuffling, got {c} rays")
        x = self.encoder_conv_in(self.unshuffle(rays.transpose(1, 2).reshape(b * f, c, h, w)))
        features = []
        for convs, attns in zip(self.encoder_down_conv_blocks, self.encoder_down_attention_blocks, strict=True):
            for conv, attn in zip(convs, attns, strict=True):
                x = conv(x)
                ch, hh, ww = x.shape[1:]
                t = x.view(b, f, ch, hh * ww).permute(0, 3, 1, 2).reshape(b * hh * ww, f, ch)  # (b h w) f c
                x = attn(t).view(b, hh * ww, f, ch).permute(0, 2, 3, 1).reshape(b * f, ch, hh, ww)
            features.append(x.view(b, f, *x.shape[1:]).transpose(1, 2))
        return features
