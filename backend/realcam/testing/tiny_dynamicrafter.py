"""Tiny random-weight DynamiCrafter models written in the published layouts.

A folder holds what a user downloads, small:
    model.ckpt           a Lightning checkpoint ({"state_dict", "epoch", "global_step", ...}) with upstream's
                         key names: model.diffusion_model.* (the 256 model's `framestride_embed` spelling
                         included), first_stage_model.* in the LDM layout, cond_stage_model.model.* and
                         embedder.model.* in OpenCLIP's layout (fused attention in_proj), image_proj_model.*,
                         and the schedule buffers
    tokenizer/           a CLIP BPE tokenizer (vocab.json, merges.txt) over single bytes
    dynamicrafter.json   the tiny architecture (the published models need none: theirs is built in)
and optionally a camera delta `*.safetensors` (camera_delta()) for loader tests. The loader reads them
through the same code as the real files.

Camera models (build_camera_model) add their published file, e.g. `256_realcam-i2v_50k.safetensors`: the
camera parts under upstream's key names (pose_encoder.*, model.diffusion_model.<temporal block>.
pluker_projection / epipolar / cc_projection), MotionCtrl's also the retrained attn2 of every temporal block
under the base names, as a delta over the tiny base; dynamicrafter.json names the camera model and its tiny
sizes (pose-encoder widths = the tiny UNet's, epipolar masks at the tiny UNet's strides).
"""

from __future__ import annotations

import json
import os
import re

import torch

TINY_FRAMES = 8  # the published models make 16; half as many keep end-to-end tests quick on a shared CPU
TINY_UNET = dict(
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(1, 2),
    head_channels=16,
    context_dim=32,
    init_attn_heads=1,  # 16 wide: no other temporal block has init_attn's width (upstream tells it apart so)
    image_tokens_per_frame=4,
)


def tiny_config(variant: str):
    from dataclasses import replace

    from ..generate.dynamicrafter.config import VARIANTS, CLIPConfig, ResamplerConfig, UNetConfig, VAEConfig

    base = VARIANTS[variant]
    return replace(
        base,
        frames=TINY_FRAMES,
        unet=UNetConfig(**TINY_UNET, image_cross_attention_learnable=base.unet.image_cross_attention_learnable),
        vae=VAEConfig(ch=16, ch_mult=(1, 1, 1, 1), num_res_blocks=1, groups=16),  # 16 frames at 64x64: the costly part
        clip=CLIPConfig(
            text_width=32,
            text_layers=2,
            text_heads=2,
            vocab_size=len(_vocab()),
            vision_width=32,
            vision_layers=2,
            vision_heads=2,
            image_size=28,
            embed_dim=16,
        ),
        resampler=ResamplerConfig(
            dim=32,
            depth=1,
            dim_head=8,
            heads=4,
            num_queries=4,
            embedding_dim=32,
            output_dim=32,
            ff_mult=2,
            video_length=TINY_FRAMES,
        ),
    )


def _byte_chars() -> list[str]:
    """CLIP's (GPT-2's) printable stand-ins for the 256 byte values, in its vocabulary's order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) for b in keep] + [chr(256 + i) for i in range(len(extra))]


def _vocab() -> list[str]:
    chars = _byte_chars()  # "!" first: id 0, open_clip's padding
    return chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]


def write_tokenizer(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as fh:
        json.dump({tok: i for i, tok in enumerate(_vocab())}, fh)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as fh:
        fh.write("#version: 0.2\n")


# -- published layouts from our modules --------------------------------------------------------------------
def _ldm_vae_name(key: str, levels: int) -> str:
    m = re.match(r"(encoder|decoder)\.(down|up)_blocks\.(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.+)$", key)
    if m:
        side, kind, level, part, idx, rest = m.groups()
        level = int(level) if kind == "down" else levels - 1 - int(level)
        if part == "resnets":
            return f"{side}.{kind}.{level}.block.{idx}.{rest.replace('conv_shortcut', 'nin_shortcut')}"
        return f"{side}.{kind}.{level}.{kind}sample.{rest}"
    m = re.match(r"(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.+)$", key)
    if m:
        side, part, idx, rest = m.groups()
        if part == "resnets":
            return f"{side}.mid.block_{int(idx) + 1}.{rest.replace('conv_shortcut', 'nin_shortcut')}"
        names = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
        head, tail = rest.rsplit(".", 1)
        return f"{side}.mid.attn_1.{names[head]}.{tail}"
    return key.replace("conv_norm_out", "norm_out")


def ldm_vae_state(vae, levels: int) -> dict:
    out = {}
    for key, value in vae.state_dict().items():
        name = _ldm_vae_name(key, levels)
        out[name] = (
            value[:, :, None, None] if ".attn_1." in name and name.endswith("weight") and value.ndim == 2 else value
        )
    return out


def _openclip_blocks(layers, dst: str) -> dict:
    out = {}
    for i, layer in enumerate(layers):
        p = f"{dst}{i}."
        a = layer.self_attn
        out[p + "attn.in_proj_weight"] = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight])
        out[p + "attn.in_proj_bias"] = torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias])
        for src, name in (
            (a.out_proj, "attn.out_proj"),
            (layer.layer_norm1, "ln_1"),
            (layer.layer_norm2, "ln_2"),
            (layer.mlp.fc1, "mlp.c_fc"),
            (layer.mlp.fc2, "mlp.c_proj"),
        ):
            out[f"{p}{name}.weight"], out[f"{p}{name}.bias"] = src.weight, src.bias
    return out


def openclip_state(cfg, seed: int) -> dict:
    """cond_stage_model.model.* and embedder.model.* as OpenCLIP names them, from random CLIP towers."""
    from transformers import CLIPTextModel, CLIPVisionModel

    from ..generate.dynamicrafter.clip import text_config, vision_config

    torch.manual_seed(seed)
    text = getattr(CLIPTextModel(text_config(cfg)), "text_model", None) or CLIPTextModel(text_config(cfg))
    vision = CLIPVisionModel(vision_config(cfg))
    vision = getattr(vision, "vision_model", vision)
    out = {
        f"cond_stage_model.model.{k}": v
        for k, v in _openclip_blocks(text.encoder.layers, "transformer.resblocks.").items()
    }
    t = "cond_stage_model.model."
    out[t + "token_embedding.weight"] = text.embeddings.token_embedding.weight
    out[t + "positional_embedding"] = text.embeddings.position_embedding.weight
    out[t + "ln_final.weight"], out[t + "ln_final.bias"] = text.final_layer_norm.weight, text.final_layer_norm.bias
    out[t + "text_projection"] = torch.randn(cfg.text_width, cfg.embed_dim) * 0.02
    out[t + "logit_scale"] = torch.tensor(4.6052)
    v = "embedder.model.visual."
    out.update({v + k: x for k, x in _openclip_blocks(vision.encoder.layers, "transformer.resblocks.").items()})
    e = vision.embeddings
    out[v + "class_embedding"] = e.class_embedding
    out[v + "conv1.weight"] = e.patch_embedding.weight
    out[v + "positional_embedding"] = e.position_embedding.weight
    out[v + "ln_pre.weight"], out[v + "ln_pre.bias"] = vision.pre_layrnorm.weight, vision.pre_layrnorm.bias
    out[v + "ln_post.weight"], out[v + "ln_post.bias"] = vision.post_layernorm.weight, vision.post_layernorm.bias
    out[v + "proj"] = torch.randn(cfg.vision_width, cfg.embed_dim) * 0.02
    # The image embedder's OpenCLIP instance keeps the text parts it does not use (only its transformer is
    # deleted upstream), so they are in the published file too.
    m = "embedder.model."
    out[m + "token_embedding.weight"] = torch.randn(cfg.vocab_size, cfg.text_width) * 0.02
    out[m + "positional_embedding"] = torch.randn(cfg.context_length, cfg.text_width) * 0.01
    out[m + "ln_final.weight"], out[m + "ln_final.bias"] = torch.ones(cfg.text_width), torch.zeros(cfg.text_width)
    out[m + "text_projection"] = torch.randn(cfg.text_width, cfg.embed_dim) * 0.02
    out[m + "logit_scale"] = torch.tensor(4.6052)
    return {k: v.detach().clone() for k, v in out.items()}


def schedule_buffers(cfg) -> dict:
    """The DDPM buffers upstream's Lightning module saves with its weights (read and ignored by the loader)."""
    import numpy as np

    from ..generate.dynamicrafter.schedule import betas, latent_scales

    b = betas(cfg.sampling)
    a = np.cumprod(1.0 - b)
    out = {"betas": b, "alphas_cumprod": a, "alphas_cumprod_prev": np.append(1.0, a[:-1])}
    out["sqrt_alphas_cumprod"], out["sqrt_one_minus_alphas_cumprod"] = np.sqrt(a), np.sqrt(1.0 - a)
    if cfg.sampling.dynamic_rescale:
        out["scale_arr"] = np.concatenate([latent_scales(cfg.sampling), np.full(400, cfg.sampling.base_scale)])
    return {k: torch.tensor(v, dtype=torch.float32) for k, v in out.items()}


def base_state(cfg, seed: int = 0) -> dict:
    """The whole model.ckpt state dict, with upstream's names."""
    from ..generate.dynamicrafter.resampler import Resampler
    from ..generate.dynamicrafter.unet import UNet3D
    from ..generate.dynamicrafter.vae import build_vae

    torch.manual_seed(seed)
    state = {}
    unet = UNet3D(cfg.unet)
    with torch.no_grad():
        for p in unet.parameters():  # upstream zero-initialises some outputs; random weights show more
            p.add_(torch.randn_like(p) * 0.02)
    fs_name = "framestride_embed" if cfg.variant == "256" else "fps_embedding"  # as each release spells it
    for k, v in unet.state_dict().items():
        state["model.diffusion_model." + k.replace("fps_embedding", fs_name)] = v
    state.update(
        {"first_stage_model." + k: v for k, v in ldm_vae_state(build_vae(cfg.vae), len(cfg.vae.ch_mult)).items()}
    )
    state.update({"image_proj_model." + k: v for k, v in Resampler(cfg.resampler).state_dict().items()})
    state.update(openclip_state(cfg.clip, seed + 1))
    state.update(schedule_buffers(cfg))
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def write_lightning_checkpoint(path: str, state: dict) -> None:
    torch.save({"state_dict": state, "epoch": 0, "global_step": 0, "pytorch-lightning_version": "1.9.3"}, path)


def camera_delta(state: dict, extra: dict | None = None, seed: int = 0) -> dict:
    """A camera-checkpoint-like delta: new values for the temporal attention of the UNet (as a camera training
    run that unfreezes them writes) plus any extra weights."""
    gen = torch.Generator().manual_seed(seed)
    delta = {
        k: v + 0.01 * torch.randn(v.shape, generator=gen)
        for k, v in state.items()
        if k.startswith("model.diffusion_model.") and ".transformer_blocks.0.attn1." in k and "input_blocks.1.2" in k
    }
    return delta | (extra or {})


def build_dynamicrafter(folder: str, variant: str = "256", seed: int = 0) -> str:
    from ..generate.dynamicrafter.config import write_folder_config

    cfg = tiny_config(variant)
    os.makedirs(folder, exist_ok=True)
    write_lightning_checkpoint(os.path.join(folder, "model.ckpt"), base_state(cfg, seed))
    write_tokenizer(os.path.join(folder, "tokenizer"))
    write_folder_config(folder, cfg)
    return folder


# -- camera models ----------------------------------------------------------------------------------------
TINY_SIZE = {"256": (64, 64), "512": (128, 64)}  # (width, height) the tiny camera models are made for


def tiny_camera_config(model: str, variant: str):
    """The camera sizes of a tiny model: the published design (kind, flags, register tokens, frames), its widths
    the tiny UNet's levels, its epipolar masks at the tiny UNet's strides (none at the finest on the 512 model,
    as published)."""
    from ..generate.dynamicrafter.camera.config import (
        CameraConfig,
        EpipolarConfig,
        PoseEncoderConfig,
        kind_of,
        published_config,
    )

    published = published_config(model, variant)
    kind = kind_of(model)
    if published.pose_encoder is None:
        return CameraConfig(kind)
    mc, mult = TINY_UNET["model_channels"], TINY_UNET["channel_mult"]
    pose = PoseEncoderConfig(channels=tuple(mc * m for m in mult), nums_rb=1, heads=4)
    epi = None
    if published.epipolar is not None:
        w, h = TINY_SIZE[variant]
        levels = tuple(TINY_UNET["attention_resolutions"])
        res = levels if variant == "256" else tuple(r for r in levels if r != 1)
        epi = EpipolarConfig(origin_h=h, origin_w=w, attention_resolution=tuple(sorted(res, reverse=True)))
    return CameraConfig(kind, pose, epi)


def camera_state(model: str, variant: str, base: dict, seed: int = 0) -> dict:
    """A tiny camera checkpoint in the published layout: every camera part random (not upstream's zero start,
    so the camera visibly changes the video), MotionCtrl's retrained attn2 weights as new values over the base."""
    from ..generate.dynamicrafter.camera import MOTIONCTRL, CameraParts

    cfg = tiny_camera_config(model, variant)
    unet = tiny_config(variant).unet
    parts = CameraParts(cfg, unet)
    gen = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for name, p in parts.named_parameters():
            scale = 0.2 / max(1, p.shape[-1]) ** 0.5 if p.ndim > 1 else 0.02
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
            if cfg.kind == MOTIONCTRL and name.endswith("cc_projection.weight"):
                p[:, : p.shape[0]] += torch.eye(p.shape[0])  # near upstream's identity start: the features pass
    state = parts.state_dict_upstream()
    if cfg.kind == MOTIONCTRL:  # diffusion_model_trainable_param_list: ['TemporalTransformer.attn2']
        for block in parts.blocks_layout:
            for k, v in base.items():
                if k.startswith(block.key_prefix + "attn2."):
                    state[k] = v + 0.01 * torch.randn(v.shape, generator=gen)
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def build_camera_model(folder: str, model: str, variant: str = "256", seed: int = 0) -> str:
    """A tiny camera model folder: the tiny base, the camera file under its published name, the sizes."""
    from safetensors.torch import save_file

    from realcam_core.models import known_model

    from ..generate.dynamicrafter.camera.config import config_to_json
    from ..generate.dynamicrafter.config import CONFIG_FILE

    build_dynamicrafter(folder, variant, seed)
    base = base_state(tiny_config(variant), seed)
    filename = known_model(f"{model}-{variant}").files[0]  # e.g. 256_realcam-i2v_50k.safetensors
    save_file(camera_state(model, variant, base, seed), os.path.join(folder, filename))
    path = os.path.join(folder, CONFIG_FILE)
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    data["camera"] = model
    data["camera_config"] = config_to_json(tiny_camera_config(model, variant))
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    return folder
