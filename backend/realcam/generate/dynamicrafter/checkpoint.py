"""Reading DynamiCrafter checkpoints exactly as published, and splitting them into the model's parts.

Published files:
- base weights `model.ckpt` (Doubiiu/DynamiCrafter, Doubiiu/DynamiCrafter_512): a Lightning pickle whose
  `state_dict` holds the whole model: `model.diffusion_model.*` (UNet), `first_stage_model.*` (VAE),
  `cond_stage_model.model.*` (OpenCLIP text), `embedder.model.*` (OpenCLIP image), `image_proj_model.*`
  (resampler) and the schedule buffers (`betas`, `alphas_cumprod`, ..., `scale_arr` on the 512 model).
  The 256 model names its frame-rate embedding `framestride_embed`; upstream renames it to `fps_embedding`.
  Read with torch.load(weights_only=True) only: a file holding other objects is refused.
- camera checkpoints `*_50k.safetensors` (MuteApo/CamI2V): upstream's loader (main/utils_train.py
  load_checkpoints, demo/realcami2v_test.py) reads them as `base["state_dict"] | camera`, then loads
  strictly: they hold the trained camera modules (and whatever base weights training changed) over the
  base. A file that happened to hold everything would load the same way. Kept here as that merge.
"""

from __future__ import annotations

import os
import pickle

import torch

PARTS = {
    "unet": "model.diffusion_model.",
    "vae": "first_stage_model.",
    "text": "cond_stage_model.model.",
    "vision": "embedder.model.visual.",
    "resampler": "image_proj_model.",
}
# Saved with the model, not used by inference: the schedule is recomputed from the variant (upstream's demo
# re-registers it after loading, too), and each OpenCLIP instance carries the other tower's leftovers.
UNUSED = (
    "betas",
    "alphas_cumprod",
    "alphas_cumprod_prev",
    "sqrt_alphas_cumprod",
    "sqrt_one_minus_alphas_cumprod",
    "log_one_minus_alphas_cumprod",
    "sqrt_recip_alphas_cumprod",
    "sqrt_recipm1_alphas_cumprod",
    "posterior_variance",
    "posterior_log_variance_clipped",
    "posterior_mean_coef1",
    "posterior_mean_coef2",
    "scale_arr",
    "logvar",
    "cond_stage_model.model.text_projection",
    "cond_stage_model.model.logit_scale",
    "embedder.model.token_embedding.weight",
    "embedder.model.positional_embedding",
    "embedder.model.ln_final.weight",
    "embedder.model.ln_final.bias",
    "embedder.model.text_projection",
    "embedder.model.logit_scale",
    "embedder.model.visual.proj",
)


class CheckpointError(ValueError):
    """A checkpoint that is not in the layout this model needs, or cannot be read safely."""


def read_pickle(path: str) -> dict:
    """The state dict of a Lightning/DeepSpeed pickle, read without running any code in it."""
    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # no copy of 10 GB in RAM
        except RuntimeError as e:
            if "mmap" not in str(e):
                raise
            data = torch.load(path, map_location="cpu", weights_only=True)  # a legacy (non-zip) file
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: this checkpoint holds objects other than tensors ({str(e).splitlines()[0]}); it is not "
            "read, because unpickling them could run arbitrary code. Use the file exactly as published, or "
            "convert its state_dict to safetensors with a tool you trust"
        ) from None
    except (RuntimeError, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(data, dict) and isinstance(data.get("module"), dict):  # DeepSpeed
        data = data["module"]
    elif isinstance(data, dict) and isinstance(data.get("state_dict"), dict):  # Lightning
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors")
    return data


def read_safetensors(path: str) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None


def upstream_names(state: dict) -> dict:
    """The 256 release's `framestride_embed` under the name upstream's code uses, `fps_embedding`."""
    return {k.replace("framestride_embed", "fps_embedding"): v for k, v in state.items()}


def read_state(path: str) -> dict:
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    return read_safetensors(path) if path.endswith(".safetensors") else read_pickle(path)


def merge(base: dict, camera: dict | None) -> tuple[dict, dict]:
    """(base | camera, facts about the camera file: keys, how many base weights it replaces)."""
    base = upstream_names(base)
    if not camera:
        return base, {}
    camera = upstream_names(camera)
    replaced = sorted(k for k in camera if k in base)
    facts = {
        "keys": len(camera),
        "replaces_base_weights": len(replaced),
        "new_weights": len(camera) - len(replaced),
        "layout": "full" if set(base) <= set(camera) else "delta over the base",
    }
    return base | camera, facts


def split(state: dict) -> tuple[dict, dict]:
    """({part: state without its prefix}, the rest) for the parts in PARTS; unused keys are dropped."""
    parts: dict[str, dict] = {name: {} for name in PARTS}
    rest = {}
    for key, value in state.items():
        if key in UNUSED:
            continue
        for name, prefix in PARTS.items():
            if key.startswith(prefix):
                parts[name][key[len(prefix) :]] = value
                break
        else:
            rest[key] = value
    return parts, rest


def _names(keys, prefix="", limit=12) -> str:
    keys = sorted(keys)
    shown = ", ".join(prefix + k for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def check_module_keys(module, state: dict, prefix: str, what: str) -> None:
    """Fail, naming the keys, unless state holds exactly module's parameters and buffers (shapes included)."""
    own = module.state_dict()
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    wrong = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
    problems = []
    if missing:
        problems.append(f"missing {_names(missing, prefix)}")
    if unexpected:
        problems.append(f"unexpected {_names(unexpected, prefix)}")
    if wrong:
        problems.append(
            "wrong shape " + ", ".join(f"{prefix}{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in wrong)
        )
    if problems:
        raise CheckpointError(f"the {what} weights do not match this model's layout: " + "; ".join(problems))


def detect_variant(state: dict) -> str:
    """256 or 512 for a checkpoint with no config beside it: only the 512 model was trained with the dynamic
    latent rescale (its `scale_arr` buffer), only the 256 model has learned image-attention gates."""
    if "scale_arr" in state:
        return "512"
    if any(k.endswith("attn2.alpha") for k in state):
        return "256"
    raise CheckpointError("cannot tell whether this is the 256 or the 512 model (no scale_arr, no attn2.alpha)")
