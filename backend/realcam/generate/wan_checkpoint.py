"""Wan transformers in the original checkpoint layout (Wan-AI's own, kept by VideoX-Fun) on diffusers.

A published VideoX-Fun model keeps its transformer as FOLDER/config.json
(original Wan keys: dim, num_heads, in_dim, ...) and FOLDER/*.safetensors with
the original tensor names, a camera model adding six `control_adapter.*`
tensors. Here the Wan tensors are renamed to diffusers' WanTransformer3DModel,
its configuration is read off the tensor shapes (config.json only adds the
head count and eps), and everything loads strictly: a name that is not a Wan
weight, or a weight the model lacks, is an error, never a silently random
weight (VideoX-Fun's own loader skips mismatches and initialises what is
missing). Only safetensors files are read; nothing from the repository runs.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re

CONFIG_FILE = "config.json"
HEAD_DIM = 128  # every released Wan model: 1536 / 12, 3072 / 24, 5120 / 40
ADAPTER_PREFIX = "control_adapter."
_REPACKED_PREFIX = "model.diffusion_model."  # ComfyUI's repackaged files

# Original Wan name -> diffusers WanTransformer3DModel name. First match wins.
_RENAMES = [
    (re.compile(a), b)
    for a, b in [
        (r"^patch_embedding\.(weight|bias)$", r"patch_embedding.\1"),
        (r"^text_embedding\.0\.", "condition_embedder.text_embedder.linear_1."),
        (r"^text_embedding\.2\.", "condition_embedder.text_embedder.linear_2."),
        (r"^time_embedding\.0\.", "condition_embedder.time_embedder.linear_1."),
        (r"^time_embedding\.2\.", "condition_embedder.time_embedder.linear_2."),
        (r"^time_projection\.1\.", "condition_embedder.time_proj."),
        (r"^head\.head\.", "proj_out."),
        (r"^head\.modulation$", "scale_shift_table"),
        (r"^blocks\.(\d+)\.modulation$", r"blocks.\1.scale_shift_table"),
        (r"^blocks\.(\d+)\.self_attn\.([qkv])\.", r"blocks.\1.attn1.to_\2."),
        (r"^blocks\.(\d+)\.self_attn\.o\.", r"blocks.\1.attn1.to_out.0."),
        (r"^blocks\.(\d+)\.self_attn\.norm_([qk])\.", r"blocks.\1.attn1.norm_\2."),
        (r"^blocks\.(\d+)\.cross_attn\.([qkv])\.", r"blocks.\1.attn2.to_\2."),
        (r"^blocks\.(\d+)\.cross_attn\.o\.", r"blocks.\1.attn2.to_out.0."),
        (r"^blocks\.(\d+)\.cross_attn\.norm_([qk])\.", r"blocks.\1.attn2.norm_\2."),
        # The original's norm3 is the affine norm before cross-attention (diffusers' norm2);
        # its norm1 and norm2 have no weights.
        (r"^blocks\.(\d+)\.norm3\.", r"blocks.\1.norm2."),
        (r"^blocks\.(\d+)\.ffn\.0\.", r"blocks.\1.ffn.net.0.proj."),
        (r"^blocks\.(\d+)\.ffn\.2\.", r"blocks.\1.ffn.net.2."),
    ]
]


def diffusers_key(key: str) -> str:
    for pattern, repl in _RENAMES:
        if pattern.match(key):
            return pattern.sub(repl, key)
    raise ValueError(f"{key!r} is not a weight of a Wan 2.2 transformer in the original layout")


def weight_files(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(glob.escape(folder), "*.safetensors")))


def is_original_layout(folder: str) -> bool:
    """FOLDER/config.json with original Wan keys beside safetensors weights (not a diffusers folder)."""
    path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(path) or not weight_files(folder):
        return False
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and {"dim", "num_heads", "num_layers"} <= set(config)


def read_folder(folder: str) -> tuple[dict, dict]:
    """(tensors by original name, config.json) of an original-layout transformer folder."""
    from safetensors.torch import load_file

    files = weight_files(folder)
    if not files:
        raise ValueError(f"{folder}: no .safetensors transformer weights")
    config = {}
    if os.path.isfile(os.path.join(folder, CONFIG_FILE)):
        with open(os.path.join(folder, CONFIG_FILE), encoding="utf-8") as fh:
            config = json.load(fh)
    state = {}
    for path in files:  # one file or shards, like VideoX-Fun's own loader
        for key, tensor in load_file(path).items():
            key = key.removeprefix(_REPACKED_PREFIX)
            if key in state:
                raise ValueError(f"{folder}: weight {key!r} is in more than one .safetensors file")
            state[key] = tensor
    return state, config


def split_adapter(state: dict) -> tuple[dict, dict]:
    """(Wan tensors, camera adapter tensors without their prefix)."""
    wan = {k: v for k, v in state.items() if not k.startswith(ADAPTER_PREFIX)}
    adapter = {k[len(ADAPTER_PREFIX) :]: v for k, v in state.items() if k.startswith(ADAPTER_PREFIX)}
    return wan, adapter


def diffusers_config(state: dict, original_config: dict | None = None) -> dict:
    """WanTransformer3DModel arguments for original-layout Wan tensors (the shapes decide)."""
    if any(k.startswith("img_emb.") or ".k_img." in k for k in state):
        raise ValueError("a Wan 2.1-style image cross-attention is not part of the Wan 2.2 5B family")
    required = ("patch_embedding.weight", "head.head.weight", "text_embedding.0.weight", "blocks.0.ffn.0.weight")
    missing = [k for k in required if k not in state]
    if missing:
        raise ValueError(f"not a Wan transformer in the original layout: no {', '.join(missing)}")
    pe = state["patch_embedding.weight"]
    dim, in_channels, patch = int(pe.shape[0]), int(pe.shape[1]), tuple(int(p) for p in pe.shape[2:])
    heads = int((original_config or {}).get("num_heads") or dim // HEAD_DIM)
    return {
        "patch_size": patch,
        "num_attention_heads": heads,
        "attention_head_dim": dim // heads,
        "in_channels": in_channels,
        "out_channels": int(state["head.head.weight"].shape[0]) // math.prod(patch),
        "text_dim": int(state["text_embedding.0.weight"].shape[1]),
        "freq_dim": int(state["time_embedding.0.weight"].shape[1]),
        "ffn_dim": int(state["blocks.0.ffn.0.weight"].shape[0]),
        "num_layers": len({k.split(".")[1] for k in state if k.startswith("blocks.")}),
        "cross_attn_norm": "blocks.0.norm3.weight" in state,
        "qk_norm": "rms_norm_across_heads" if "blocks.0.self_attn.norm_q.weight" in state else None,
        "eps": float((original_config or {}).get("eps", 1e-6)),
    }


def build_transformer(state: dict, original_config: dict | None = None, dtype=None):
    """WanTransformer3DModel holding `state` (original names, no adapter tensors), loaded strictly."""
    import torch
    from accelerate import init_empty_weights
    from diffusers import WanTransformer3DModel

    config = diffusers_config(state, original_config)
    with init_empty_weights():  # parameters on the meta device; the RoPE buffers are computed for real
        model = WanTransformer3DModel(**config)
    renamed = {diffusers_key(k): v for k, v in state.items()}
    missing = sorted(set(model.state_dict()) - set(renamed))
    if missing:
        raise ValueError(f"weights missing from the checkpoint (diffusers names): {', '.join(missing[:5])}")
    model.load_state_dict(renamed, strict=True, assign=True)
    cast_like_diffusers(model, dtype or torch.float32)
    return model.eval()


def cast_like_diffusers(model, dtype) -> None:
    """Cast to dtype but keep the model's float32 modules in float32, as diffusers' from_pretrained does."""
    import torch

    keep = set(getattr(model, "_keep_in_fp32_modules", None) or [])
    for module_name, module in model.named_modules():
        in_kept = any(part in keep for part in module_name.split("."))
        for name, p in module.named_parameters(recurse=False):
            p.data = p.data.to(torch.float32 if in_kept or name in keep else dtype)
        for name, b in module.named_buffers(recurse=False):
            if b.is_floating_point():
                module._buffers[name] = b.to(torch.float32 if in_kept or name in keep else dtype)
