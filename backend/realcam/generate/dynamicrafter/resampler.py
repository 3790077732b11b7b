"""The image-token resampler: OpenCLIP's 257 image features -> 16 learned query tokens per frame (a Perceiver).

Each layer lets the queries attend to the image features and to themselves, then a feed-forward. With
video_length set, there are num_queries * video_length queries, read by the UNet as 16 tokens per frame.
Names follow upstream's `image_proj_model.` state dict.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ResamplerConfig


class PerceiverAttention(nn.Module):
    def __init__(self, dim, dim_head, heads):
        super().__init__()
        self.heads = heads
        self.dim_head = dim_head
        inner = dim_head * heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def _split(self, t):
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, -1).transpose(1, 2)

    def forward(self, x, latents):
        x, latents = self.norm1(x), self.norm2(latents)
        q = self._split(self.to_q(latents))
        k, v = (self._split(t) for t in self.to_kv(torch.cat([x, latents], dim=1)).chunk(2, dim=-1))
        # Upstream scales q and k by dim_head ** -0.25 each (steadier in fp16) and takes the softmax in float32.
        s = self.dim_head**-0.25
        w = torch.softmax(((q * s) @ (k * s).transpose(-2, -1)).float(), dim=-1).to(q.dtype)
        out = (w @ v).transpose(1, 2).reshape(latents.shape[0], latents.shape[1], -1)
        return self.to_out(out)


def _feed_forward(dim, mult):
    return nn.Sequential(
        nn.LayerNorm(dim), nn.Linear(dim, dim * mult, bias=False), nn.GELU(), nn.Linear(dim * mult, dim, bias=False)
    )


class Resampler(nn.Module):
    def __init__(self, cfg: ResamplerConfig):
        super().__init__()
        queries = cfg.num_queries * (cfg.video_length or 1)
        self.latents = nn.Parameter(torch.randn(1, queries, cfg.dim) / cfg.dim**0.5)
        self.proj_in = nn.Linear(cfg.embedding_dim, cfg.dim)
        self.proj_out = nn.Linear(cfg.dim, cfg.output_dim)
        self.norm_out = nn.LayerNorm(cfg.output_dim)
        self.layers = nn.ModuleList(
            nn.ModuleList([PerceiverAttention(cfg.dim, cfg.dim_head, cfg.heads), _feed_forward(cfg.dim, cfg.ff_mult)])
            for _ in range(cfg.depth)
        )

    def forward(self, x):
        latents = self.latents.repeat(x.shape[0], 1, 1)
        x = self.proj_in(x)
        for attn, ff in self.layers:
            latents = attn(x, latents) + latents
            latents = ff(latents) + latents
        return self.norm_out(self.proj_out(latents))
