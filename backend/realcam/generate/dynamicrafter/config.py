"""The architecture and sampling settings of a DynamiCrafter model, as upstream's inference configs state them.

The published checkpoints are bare state dicts: their architecture lives in upstream's YAML configs
(`configs/inference/000_dynamicrafter_{256x256,512x320}.yaml`, the same UNet for every camera model).
VARIANTS holds those two; a local folder may carry `dynamicrafter.json` (the same fields, plus "camera":
the camera model of its .safetensors checkpoint, and "camera_config": that camera's sizes, read by
camera/config.py) to describe another size, which is how the tiny test models are built. Sampling
settings (prediction type, zero terminal SNR, dynamic rescale, frame-rate condition) belong to the variant
and are never taken from a folder's JSON alone: they are what the weights were trained with.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace

CONFIG_FILE = "dynamicrafter.json"


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 8  # noisy latents + the photo's latent repeated over frames
    out_channels: int = 4
    model_channels: int = 320
    channel_mult: tuple = (1, 2, 4, 4)
    num_res_blocks: int = 2
    attention_resolutions: tuple = (4, 2, 1)
    head_channels: int = 64
    context_dim: int = 1024
    init_attn_heads: int = 8  # the extra temporal attention after the first conv ("addition_attention")
    image_cross_attention_learnable: bool = True  # a learned gate alpha on the image tokens (256 only)
    text_tokens: int = 77
    image_tokens_per_frame: int = 16
    default_fs: int = 3
    groups: int = 32  # GroupNorm groups everywhere


@dataclass(frozen=True)
class VAEConfig:
    ch: int = 128
    ch_mult: tuple = (1, 2, 4, 4)
    num_res_blocks: int = 2
    z_channels: int = 4
    scale_factor: float = 0.18215
    groups: int = 32  # GroupNorm groups (not in the state dict: only smaller test models change it)


@dataclass(frozen=True)
class CLIPConfig:
    """OpenCLIP ViT-H-14's towers (only what differs between the real and tiny models)."""

    text_width: int = 1024
    text_layers: int = 24
    text_heads: int = 16
    vocab_size: int = 49408
    context_length: int = 77
    vision_width: int = 1280
    vision_layers: int = 32
    vision_heads: int = 16
    patch_size: int = 14
    image_size: int = 224
    embed_dim: int = 1024  # the CLIP projection width (loaded, unused here)
    mlp_ratio: float = 4.0


@dataclass(frozen=True)
class ResamplerConfig:
    dim: int = 1024
    depth: int = 4
    dim_head: int = 64
    heads: int = 12
    num_queries: int = 16  # per frame
    embedding_dim: int = 1280
    output_dim: int = 1024
    ff_mult: int = 4
    video_length: int = 16


@dataclass(frozen=True)
class SamplingConfig:
    parameterization: str = "eps"  # "eps" or "v"
    zero_snr: bool = False  # betas rescaled to zero terminal SNR
    dynamic_rescale: bool = False  # latents scaled by base_scale at t >= turning_step during training
    base_scale: float = 1.0
    turning_step: int = 400
    fps_condition: str = "fs"  # "fs": frame stride; "fps": frames per second (29.97 // stride)
    linear_start: float = 0.00085
    linear_end: float = 0.012
    timesteps: int = 1000


@dataclass(frozen=True)
class ModelConfig:
    variant: str
    unet: UNetConfig = field(default_factory=UNetConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    clip: CLIPConfig = field(default_factory=CLIPConfig)
    resampler: ResamplerConfig = field(default_factory=ResamplerConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    frames: int = 16

    def to_json(self) -> dict:
        return asdict(self)


VARIANTS = {
    "256": ModelConfig("256"),
    "512": ModelConfig(
        "512",
        unet=UNetConfig(image_cross_attention_learnable=False, default_fs=10),
        sampling=SamplingConfig(
            parameterization="v", zero_snr=True, dynamic_rescale=True, base_scale=0.7, fps_condition="fps"
        ),
    ),
}


def _from_dict(cls, data: dict):
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


def config_from_json(data: dict) -> ModelConfig:
    """A folder's dynamicrafter.json: its variant's sampling, with the architecture it states."""
    variant = str(data.get("variant", ""))
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, not {variant!r}")
    base = VARIANTS[variant]
    parts = {
        "unet": UNetConfig,
        "vae": VAEConfig,
        "clip": CLIPConfig,
        "resampler": ResamplerConfig,
    }
    unknown = sorted(set(data) - set(parts) - {"variant", "frames", "sampling", "camera", "camera_config"})
    if unknown:
        raise ValueError(f"unknown fields {unknown}")
    if "sampling" in data and _from_dict(SamplingConfig, data["sampling"]) != base.sampling:
        raise ValueError(f"its sampling settings differ from those variant {variant} was trained with")
    changes = {name: _from_dict(cls, data[name]) for name, cls in parts.items() if name in data}
    return replace(base, frames=int(data.get("frames", base.frames)), **changes)


def read_folder_config(folder: str) -> ModelConfig | None:
    path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        try:
            return config_from_json(json.load(fh))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: {e}") from None


def write_folder_config(folder: str, config: ModelConfig) -> None:
    with open(os.path.join(folder, CONFIG_FILE), "w", encoding="utf-8") as fh:
        json.dump(config.to_json(), fh, indent=1)
