"""Building a DynamiCrafterPipeline from the published files: base model.ckpt, camera .safetensors, tokenizer.

Strict throughout: every weight of the model must come from the files and every key of the files must
be used, or be one of the few known unused ones (checkpoint.UNUSED); otherwise the error names the keys.
A camera checkpoint's own keys (pose encoder, projections and epipolar attention inside the temporal
blocks) go to the camera module of its kind, which must take all of them; with no camera kind they
are an error.
"""

from __future__ import annotations

import torch

from .checkpoint import CheckpointError, check_module_keys, detect_variant, merge, read_state, split
from .clip import load_text_tower, load_vision_tower
from .config import VARIANTS, ModelConfig
from .pipeline import DynamiCrafterPipeline
from .resampler import Resampler
from .unet import UNet3D
from .vae import load_vae

_BLOCK = (
    "ln_1.weight",
    "ln_1.bias",
    "attn.in_proj_weight",
    "attn.in_proj_bias",
    "attn.out_proj.weight",
    "attn.out_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
)


def openclip_keys(layers: int, extra: tuple) -> set:
    return {f"transformer.resblocks.{i}.{k}" for i in range(layers) for k in _BLOCK} | set(extra)


TEXT_EXTRA = ("token_embedding.weight", "positional_embedding", "ln_final.weight", "ln_final.bias")
VISION_EXTRA = ("class_embedding", "positional_embedding", "conv1.weight", "ln_pre.weight", "ln_pre.bias")
VISION_EXTRA += ("ln_post.weight", "ln_post.bias")


def _check_keys(state: dict, expected: set, prefix: str, what: str) -> None:
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        names = lambda ks: ", ".join(prefix + k for k in sorted(ks)[:12]) + (" ..." if len(ks) > 12 else "")  # noqa: E731
        raise CheckpointError(
            f"the {what} weights do not match this model's layout: "
            + "; ".join(
                p
                for p in (missing and f"missing {names(missing)}", unexpected and f"unexpected {names(unexpected)}")
                if p
            )
        )


def attach_camera(model: str, unet, state: dict, config: ModelConfig, camera_config=None):
    """The camera of `model` wired into the UNet, holding the camera weights (full key names)."""
    from .camera import CameraCheckpointError, attach

    try:
        return attach(model, unet, state, config, camera_config)
    except (CameraCheckpointError, ValueError) as e:
        raise CheckpointError(str(e)) from None


def build(
    config: ModelConfig,
    base: dict,
    camera_state: dict | None,
    camera_kind: str = "",
    dtype=torch.float32,
    camera_config=None,
):
    """(the model's parts with weights loaded, facts about the files) from state dicts as published.

    camera_kind: the camera model ("realcam-i2v", "cami2v", "cameractrl", "motionctrl") or "" for plain
    DynamiCrafter; its parts are wired into the UNet first, so the UNet's strict check covers their keys too."""
    merged, facts = merge(base, camera_state)
    parts, rest = split(merged)
    unet = UNet3D(config.unet)
    own = set(unet.state_dict())
    extra = {f"model.diffusion_model.{k}": v for k, v in parts["unet"].items() if k not in own}
    extra.update(rest)
    camera = None
    if camera_kind:
        camera = attach_camera(camera_kind, unet, extra, config, camera_config)
    elif extra:
        raise CheckpointError(
            f"unexpected weights {', '.join(sorted(extra)[:12])}{' ...' if len(extra) > 12 else ''}: camera "
            "weights for a model loaded without a camera module, or not a DynamiCrafter checkpoint"
        )
    check_module_keys(unet, parts["unet"], "model.diffusion_model.", "UNet")
    unet.load_state_dict(parts["unet"])
    resampler = Resampler(config.resampler)
    check_module_keys(resampler, parts["resampler"], "image_proj_model.", "image resampler")
    resampler.load_state_dict(parts["resampler"])
    c = config.clip
    _check_keys(parts["text"], openclip_keys(c.text_layers, TEXT_EXTRA), "cond_stage_model.model.", "OpenCLIP text")
    vision_keys = openclip_keys(c.vision_layers, VISION_EXTRA)
    _check_keys(parts["vision"], vision_keys, "embedder.model.visual.", "OpenCLIP image")
    try:
        vae = load_vae(parts["vae"], config.vae)
    except ValueError as e:
        raise CheckpointError(f"first_stage_model: {e}") from None
    try:
        text = load_text_tower(parts["text"], c)
        vision = load_vision_tower(parts["vision"], c)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    for m in (unet, resampler, text, vision):
        m.to(dtype).eval()
    if camera is not None:
        camera.to(dtype).eval()
    return (unet, vae.eval(), text, vision, resampler, camera), facts


def load_pipeline(
    base_path: str,
    tokenizer_path: str,
    camera_path: str | None = None,
    camera_kind: str = "",
    config: ModelConfig | None = None,
    dtype=torch.float32,
    camera_config=None,
) -> DynamiCrafterPipeline:
    from transformers import CLIPTokenizer

    base = read_state(base_path)
    config = config or VARIANTS[detect_variant(base)]
    camera_state = read_state(camera_path) if camera_path else None
    (unet, vae, text, vision, resampler, camera), facts = build(
        config, base, camera_state, camera_kind, dtype, camera_config
    )
    del base, camera_state
    try:
        tokenizer = CLIPTokenizer.from_pretrained(tokenizer_path)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{tokenizer_path}: no CLIP tokenizer there ({type(e).__name__}: {e})") from None
    pipe = DynamiCrafterPipeline(unet, vae, text, vision, resampler, tokenizer, config, camera)
    pipe.checkpoint_facts = facts
    return pipe
