"""The Wan 2.2 Fun Control-Camera model at toy width: its transformer in the published (original Wan) layout
beside the TI2V-5B parts."""

from __future__ import annotations

import json
import os

from .tiny_wan import tiny_text_encoder, tiny_wan22_vae

# The Wan 2.2 Fun 5B Control-Camera transformer at toy width, in its published (original Wan) layout.
# Published 5B, read off upstream's code: dim 3072, ffn 14336, 24 heads, 30 layers, in 100, out 48, text 4096.
TINY_FUN_CAMERA = {
    "dim": 24,
    "ffn_dim": 32,
    "num_heads": 2,
    "num_layers": 2,
    "in_dim": 100,  # 48 noisy latents + 4 mask + 48 masked-video latents
    "out_dim": 48,
    "text_dim": 32,  # the tiny UMT5's width
    "freq_dim": 256,
    "text_len": 512,
    "eps": 1e-6,
    "downscale": 16,  # the VAE's spatial factor: the real adapter path, pixel-unshuffle by 16
}


def fun_camera_config(cfg: dict) -> dict:
    """config.json as VideoX-Fun's Wan2_2Transformer3DModel reads it (original Wan keys)."""
    return {
        "_class_name": "Wan2_2Transformer3DModel",
        "model_type": "ti2v",
        "patch_size": [1, 2, 2],
        "text_len": cfg["text_len"],
        "in_dim": cfg["in_dim"],
        "dim": cfg["dim"],
        "ffn_dim": cfg["ffn_dim"],
        "freq_dim": cfg["freq_dim"],
        "text_dim": cfg["text_dim"],
        "out_dim": cfg["out_dim"],
        "num_heads": cfg["num_heads"],
        "num_layers": cfg["num_layers"],
        "eps": cfg["eps"],
        "add_control_adapter": True,
        "in_dim_control_adapter": 24,
        "downscale_factor_control_adapter": cfg["downscale"],
    }


def fun_camera_shapes(cfg: dict) -> dict[str, tuple]:
    """Every tensor of the published transformer file, original names, for a config like TINY_FUN_CAMERA.

    Written from the original layout itself, not from the loader's rename table, so a test
    loading it checks that table rather than mirroring it."""
    d, f, s = cfg["dim"], cfg["ffn_dim"], cfg["downscale"]
    shapes = {
        "patch_embedding.weight": (d, cfg["in_dim"], 1, 2, 2),
        "patch_embedding.bias": (d,),
        "text_embedding.0.weight": (d, cfg["text_dim"]),
        "text_embedding.0.bias": (d,),
        "text_embedding.2.weight": (d, d),
        "text_embedding.2.bias": (d,),
        "time_embedding.0.weight": (d, cfg["freq_dim"]),
        "time_embedding.0.bias": (d,),
        "time_embedding.2.weight": (d, d),
        "time_embedding.2.bias": (d,),
        "time_projection.1.weight": (6 * d, d),
        "time_projection.1.bias": (6 * d,),
    }
    for i in range(cfg["num_layers"]):
        b = f"blocks.{i}."
        shapes[b + "modulation"] = (1, 6, d)
        for attn in ("self_attn", "cross_attn"):
            for proj in "qkvo":
                shapes[f"{b}{attn}.{proj}.weight"] = (d, d)
                shapes[f"{b}{attn}.{proj}.bias"] = (d,)
            shapes[f"{b}{attn}.norm_q.weight"] = (d,)
            shapes[f"{b}{attn}.norm_k.weight"] = (d,)
        shapes[b + "norm3.weight"] = (d,)
        shapes[b + "norm3.bias"] = (d,)
        shapes[b + "ffn.0.weight"] = (f, d)
        shapes[b + "ffn.0.bias"] = (f,)
        shapes[b + "ffn.2.weight"] = (d, f)
        shapes[b + "ffn.2.bias"] = (d,)
    shapes["head.modulation"] = (1, 2, d)
    shapes["head.head.weight"] = (cfg["out_dim"] * 4, d)
    shapes["head.head.bias"] = (cfg["out_dim"] * 4,)
    shapes["control_adapter.conv.weight"] = (d, 24 * s * s, 2, 2)
    shapes["control_adapter.conv.bias"] = (d,)
    for conv in ("conv1", "conv2"):
        shapes[f"control_adapter.residual_blocks.0.{conv}.weight"] = (d, d, 3, 3)
        shapes[f"control_adapter.residual_blocks.0.{conv}.bias"] = (d,)
    return shapes


def fun_camera_state(cfg: dict, seed: int = 0) -> dict:
    """Random tensors for fun_camera_shapes, scaled so activations stay O(1)."""
    import math

    import torch

    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in fun_camera_shapes(cfg).items():
        t = torch.randn(shape, generator=g)
        if ".norm" in key:
            out[key] = 1.0 + 0.1 * t
        else:
            out[key] = t / math.sqrt(math.prod(shape[1:]) if len(shape) > 1 else shape[0])
    return out


def write_fun_camera_transformer(folder: str, cfg: dict | None = None, state: dict | None = None, seed=0) -> str:
    """FOLDER/config.json + FOLDER/diffusion_pytorch_model.safetensors, as published."""
    from safetensors.torch import save_file

    cfg = dict(TINY_FUN_CAMERA if cfg is None else cfg)
    state = fun_camera_state(cfg, seed) if state is None else state
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as fh:
        json.dump(fun_camera_config(cfg), fh, indent=1)
    save_file(
        {k: v.contiguous() for k, v in state.items()}, os.path.join(folder, "diffusion_pytorch_model.safetensors")
    )
    return folder


def build_wan22_fun_camera(folder: str, seed: int = 0) -> str:
    """Wan 2.2 Fun 5B Control-Camera: the transformer in the published layout, beside the TI2V-5B parts
    (VAE, text encoder, tokenizer, scheduler) as diffusers subfolders, which is where the loader looks for
    them before the Hugging Face cache. The published .pth VAE and text encoder are not written: never read."""
    import torch
    from diffusers import UniPCMultistepScheduler

    torch.manual_seed(seed)
    write_fun_camera_transformer(folder, seed=seed)
    tiny_wan22_vae().save_pretrained(os.path.join(folder, "vae"))
    text_encoder, tokenizer = tiny_text_encoder()
    text_encoder.save_pretrained(os.path.join(folder, "text_encoder"))
    tokenizer.save_pretrained(os.path.join(folder, "tokenizer"))
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    scheduler.save_pretrained(os.path.join(folder, "scheduler"))
    return folder
