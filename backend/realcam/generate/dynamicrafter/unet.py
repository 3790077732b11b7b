"""DynamiCrafter's 3D UNet: 2D convs and attention per frame, temporal convs and attention across frames.

Input (batch, 8, frames, h, w): the noisy latents and the photo's latent repeated over the frames. The
context is 77 text tokens followed by 16 image tokens per frame (the resampler's output); each frame's
spatial cross-attention sees the text and its own 16 image tokens. The time step and the frame-rate
condition (`fs`) are added as embeddings. Module names mirror upstream's state dicts under
`model.diffusion_model.`.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import CameraHook, Site, SpatialTransformer, TemporalTransformer
from .config import UNetConfig
from .unet_blocks import Downsample, GroupNorm32, ResBlock, Upsample, time_mlp, timestep_embedding


class Stage(nn.ModuleList):
    """One of upstream's TimestepEmbedSequential: runs each layer with what it needs."""

    def forward(self, x, emb, context, batch, camera=None, site=None):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb, batch)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            elif isinstance(layer, TemporalTransformer):
                s = None
                if site is not None:
                    s = Site(site[0], site[1], site[2], x.shape[-2], x.shape[-1], x.shape[0] // batch, batch)
                x = layer(x, batch, camera, s)
            else:
                x = layer(x)
        return x


class UNet3D(nn.Module):
    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        mc, g = cfg.model_channels, cfg.groups
        emb_dim = mc * 4
        self.time_embed = time_mlp(mc)
        self.fps_embedding = time_mlp(mc)

        def attention(ch):
            heads = ch // cfg.head_channels
            return [
                SpatialTransformer(
                    ch,
                    heads,
                    cfg.head_channels,
                    cfg.context_dim,
                    cfg.text_tokens,
                    cfg.image_cross_attention_learnable,
                    g,
                ),
                TemporalTransformer(ch, heads, cfg.head_channels, groups=g),
            ]

        self.input_blocks = nn.ModuleList([Stage([nn.Conv2d(cfg.in_channels, mc, 3, padding=1)])])
        self.init_attn = Stage(
            [TemporalTransformer(mc, cfg.init_attn_heads, cfg.head_channels, linear=False, groups=g)]
        )
        self.input_ds, chans, ch, ds = [1], [mc], mc, 1
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers = [ResBlock(ch, emb_dim, mult * mc, groups=g)]
                ch = mult * mc
                if ds in cfg.attention_resolutions:
                    layers += attention(ch)
                self.input_blocks.append(Stage(layers))
                self.input_ds.append(ds)
                chans.append(ch)
            if level != len(cfg.channel_mult) - 1:
                self.input_blocks.append(Stage([Downsample(ch)]))
                self.input_ds.append(ds)
                chans.append(ch)
                ds *= 2
        self.middle_block = Stage([ResBlock(ch, emb_dim, groups=g), *attention(ch), ResBlock(ch, emb_dim, groups=g)])
        self.middle_ds = ds
        self.output_blocks, self.output_ds = nn.ModuleList(), []
        for level, mult in list(enumerate(cfg.channel_mult))[::-1]:
            for i in range(cfg.num_res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), emb_dim, mult * mc, groups=g)]
                ch = mult * mc
                if ds in cfg.attention_resolutions:
                    layers += attention(ch)
                self.output_ds.append(ds)
                if level and i == cfg.num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(Stage(layers))
        self.out = nn.Sequential(GroupNorm32(g, ch), nn.SiLU(), nn.Conv2d(mc, cfg.out_channels, 3, padding=1))

    def temporal_blocks(self):
        """(part, index, ds, block) of every temporal attention block, where camera modules attach."""
        yield "init", 0, 1, self.init_attn[0].transformer_blocks[0]
        stages = [("input", i, self.input_ds[i], s) for i, s in enumerate(self.input_blocks)]
        stages.append(("middle", 0, self.middle_ds, self.middle_block))
        stages += [("output", i, self.output_ds[i], s) for i, s in enumerate(self.output_blocks)]
        for part, i, ds, stage in stages:
            for layer in stage:
                if isinstance(layer, TemporalTransformer):
                    yield part, i, ds, layer.transformer_blocks[0]

    def _per_frame_context(self, context, frames):
        """(b, text + frames * k, d) -> (b * frames, text + k, d): the text and each frame's own image tokens."""
        cfg = self.cfg
        b, n, d = context.shape
        if n != cfg.text_tokens + frames * cfg.image_tokens_per_frame:
            return context.repeat_interleave(frames, dim=0)
        text = context[:, : cfg.text_tokens].repeat_interleave(frames, dim=0)
        image = context[:, cfg.text_tokens :].reshape(b * frames, cfg.image_tokens_per_frame, d)
        return torch.cat([text, image], dim=1)

    def forward(self, x, timesteps, context, fs=None, camera: CameraHook | None = None):
        b, c, f, h, w = x.shape
        dtype = x.dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.cfg.model_channels).to(dtype))
        if fs is None:
            fs = torch.full((b,), self.cfg.default_fs, dtype=torch.long, device=x.device)
        emb = emb + self.fps_embedding(timestep_embedding(fs, self.cfg.model_channels).to(dtype))
        emb = emb.repeat_interleave(f, dim=0)
        context = self._per_frame_context(context, f)
        x = x.transpose(1, 2).reshape(b * f, c, h, w)

        features = camera.input_features() if camera is not None else None
        hs, used = [], 0
        for i, stage in enumerate(self.input_blocks):
            x = stage(x, emb, context, b, camera, ("input", i, self.input_ds[i]))
            if i == 0:
                x = self.init_attn(x, emb, context, b, camera, ("init", 0, 1))
            if features is not None and (i + 1) % 3 == 0:
                x = x + features[used].to(x.dtype)
                used += 1
            hs.append(x)
        if features is not None and used != len(features):
            raise ValueError(f"{len(features)} input features for {used} slots")
        x = self.middle_block(x, emb, context, b, camera, ("middle", 0, self.middle_ds))
        for i, stage in enumerate(self.output_blocks):
            x = stage(torch.cat([x, hs.pop()], dim=1), emb, context, b, camera, ("output", i, self.output_ds[i]))
        y = self.out(x)
        return y.reshape(b, f, -1, h, w).transpose(1, 2)
