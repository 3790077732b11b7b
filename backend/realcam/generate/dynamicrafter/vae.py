"""The SD VAE (latent scale 0.18215) as a diffusers AutoencoderKL, read from upstream's `first_stage_model.` keys.

Upstream keeps the LDM layout (encoder.down.N.block.M, mid.attn_1 with 1x1 conv q/k/v); diffusers names
the same weights encoder.down_blocks.N.resnets.M and mid_block.attentions.0 with linear projections. The
conversion is a renaming plus squeezing the attention's 1x1 conv kernels; the load is strict.
"""

from __future__ import annotations

import re

from .config import VAEConfig

_RESNET = {"nin_shortcut": "conv_shortcut"}
_ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}


def build_vae(cfg: VAEConfig):
    from diffusers import AutoencoderKL

    n = len(cfg.ch_mult)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg.ch * m for m in cfg.ch_mult),
        layers_per_block=cfg.num_res_blocks,
        latent_channels=cfg.z_channels,
        norm_num_groups=cfg.groups,
        sample_size=256,
        scaling_factor=cfg.scale_factor,
    )


def _rename(key: str, levels: int) -> str:
    """One LDM VAE key (without `first_stage_model.`) -> its diffusers name."""
    m = re.match(r"(encoder|decoder)\.(down|up)\.(\d+)\.(block|downsample|upsample)\.(.+)$", key)
    if m:
        side, kind, level, part, rest = m.groups()
        level = int(level) if kind == "down" else levels - 1 - int(level)
        blocks = "down_blocks" if kind == "down" else "up_blocks"
        if part == "block":
            idx, rest = rest.split(".", 1)
            name, tail = rest.split(".", 1)
            return f"{side}.{blocks}.{level}.resnets.{idx}.{_RESNET.get(name, name)}.{tail}"
        sampler = "downsamplers" if part == "downsample" else "upsamplers"
        return f"{side}.{blocks}.{level}.{sampler}.0.{rest}"
    m = re.match(r"(encoder|decoder)\.mid\.(block_1|block_2|attn_1)\.(\w+)\.(.+)$", key)
    if m:
        side, part, name, tail = m.groups()
        if part == "attn_1":
            return f"{side}.mid_block.attentions.0.{_ATTN[name]}.{tail}"
        return f"{side}.mid_block.resnets.{int(part[-1]) - 1}.{_RESNET.get(name, name)}.{tail}"
    return re.sub(r"^(encoder|decoder)\.norm_out\.", r"\1.conv_norm_out.", key)


def convert_vae_state(state: dict, cfg: VAEConfig) -> dict:
    """Upstream's first_stage_model state (prefix removed) -> diffusers AutoencoderKL names and shapes."""
    out = {}
    for key, value in state.items():
        new = _rename(key, len(cfg.ch_mult))
        if ".mid_block.attentions.0.to_" in new and new.endswith(".weight") and value.ndim == 4:
            value = value[:, :, 0, 0]
        out[new] = value
    return out


def load_vae(state: dict, cfg: VAEConfig, dtype=None):
    """A diffusers AutoencoderKL holding upstream's VAE weights; any missing or extra key is an error."""
    vae = build_vae(cfg)
    try:
        missing, unexpected = vae.load_state_dict(convert_vae_state(state, cfg), strict=False)
    except RuntimeError as e:  # shapes that differ
        raise ValueError(f"the VAE weights do not fit: {str(e).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise ValueError(
            f"the VAE weights do not fit: missing {sorted(missing)[:8]}, unexpected {sorted(unexpected)[:8]}"
        )
    return vae.to(dtype) if dtype is not None else vae
