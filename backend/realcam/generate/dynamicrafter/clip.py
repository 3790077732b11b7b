"""OpenCLIP ViT-H-14's text and image towers as transformers CLIPTextModel / CLIPVisionModel.

The weights come from the DynamiCrafter checkpoint itself (`cond_stage_model.model.*` for text,
`embedder.model.visual.*` for images: upstream's configs set `version: null`, so OpenCLIP's own release
is never downloaded); only the tokenizer's vocabulary comes from the OpenCLIP repository.

- Text: upstream runs all but the last residual block ("penultimate"), then OpenCLIP's final LayerNorm:
  hidden_states[-2] of CLIPTextModel through final_layer_norm. Tokens are padded with 0, as
  open_clip.tokenize does (not with the end token).
- Image: the photo in [-1, 1] at generation size, resized to 224x224 as kornia.geometry.resize does
  (bicubic, align_corners=True, a Gaussian blur first when shrinking), mapped to [0, 1] and normalised
  with CLIP's mean and std; the tower's last hidden state (all 257 tokens, before ln_post) is the output.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from .config import CLIPConfig

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def text_config(cfg: CLIPConfig):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.text_width,
        intermediate_size=int(cfg.text_width * cfg.mlp_ratio),
        num_hidden_layers=cfg.text_layers,
        num_attention_heads=cfg.text_heads,
        max_position_embeddings=cfg.context_length,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        projection_dim=cfg.embed_dim,
        bos_token_id=min(49406, cfg.vocab_size - 2),  # only read by pooling, which is not used here
        eos_token_id=min(49407, cfg.vocab_size - 1),
    )


def vision_config(cfg: CLIPConfig):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=cfg.vision_width,
        intermediate_size=int(cfg.vision_width * cfg.mlp_ratio),
        num_hidden_layers=cfg.vision_layers,
        num_attention_heads=cfg.vision_heads,
        image_size=cfg.image_size,
        patch_size=cfg.patch_size,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        projection_dim=cfg.embed_dim,
    )


def _blocks(state: dict, src: str, dst: str) -> dict:
    """OpenCLIP residual blocks (fused in_proj) -> transformers encoder layers (q/k/v split)."""
    out = {}
    for key, value in state.items():
        m = re.match(rf"{re.escape(src)}(\d+)\.(.+)$", key)
        if not m:
            continue
        i, rest = m.groups()
        p = f"{dst}{i}."
        if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
            kind = rest.rsplit("_", 1)[1]
            for name, part in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0), strict=True):
                out[f"{p}self_attn.{name}.{kind}"] = part
            continue
        rename = {
            "attn.out_proj": "self_attn.out_proj",
            "ln_1": "layer_norm1",
            "ln_2": "layer_norm2",
            "mlp.c_fc": "mlp.fc1",
            "mlp.c_proj": "mlp.fc2",
        }
        head, tail = rest.rsplit(".", 1)
        if head not in rename:
            raise ValueError(f"unknown OpenCLIP block weight {key}")
        out[f"{p}{rename[head]}.{tail}"] = value
    return out


def convert_text_state(state: dict) -> dict:
    """OpenCLIP text state (keys as under `cond_stage_model.model.`) -> CLIPTextModel names (no text_model.)."""
    out = _blocks(state, "transformer.resblocks.", "encoder.layers.")
    out["embeddings.token_embedding.weight"] = state["token_embedding.weight"]
    out["embeddings.position_embedding.weight"] = state["positional_embedding"]
    out["final_layer_norm.weight"] = state["ln_final.weight"]
    out["final_layer_norm.bias"] = state["ln_final.bias"]
    return out


def convert_vision_state(state: dict) -> dict:
    """OpenCLIP visual state (keys as under `embedder.model.visual.`) -> CLIPVisionModel names."""
    out = _blocks(state, "transformer.resblocks.", "encoder.layers.")
    e = "embeddings."
    out[e + "class_embedding"] = state["class_embedding"]
    out[e + "patch_embedding.weight"] = state["conv1.weight"]
    out[e + "position_embedding.weight"] = state["positional_embedding"]
    out["pre_layrnorm.weight"] = state["ln_pre.weight"]
    out["pre_layrnorm.bias"] = state["ln_pre.bias"]
    out["post_layernorm.weight"] = state["ln_post.weight"]
    out["post_layernorm.bias"] = state["ln_post.bias"]
    return out


def _strict_load(model, state: dict, what: str):
    # transformers 5 puts the tower's parts at the top; older versions under text_model. / vision_model.
    first = next(iter(model.state_dict()))
    prefix = first[: first.index("embeddings.")]
    state = {prefix + k: v for k, v in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes that differ
        raise ValueError(f"the {what} weights do not fit: {str(e).splitlines()[-1].strip()}") from None
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"the {what} weights do not fit: missing {sorted(missing)[:8]}, unexpected {unexpected[:8]}")
    return model.eval()


def load_text_tower(state: dict, cfg: CLIPConfig):
    from transformers import CLIPTextModel

    return _strict_load(CLIPTextModel(text_config(cfg)), convert_text_state(state), "OpenCLIP text")


def load_vision_tower(state: dict, cfg: CLIPConfig):
    from transformers import CLIPVisionModel

    return _strict_load(CLIPVisionModel(vision_config(cfg)), convert_vision_state(state), "OpenCLIP image")


def token_ids(tokenizer, texts: list[str], length: int = 77) -> torch.Tensor:
    """open_clip.tokenize's layout: start, tokens, end (the end kept when truncating), then zeros."""
    out = torch.zeros(len(texts), length, dtype=torch.long)
    for row, text in enumerate(texts):
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        if len(ids) > length:
            ids = ids[: length - 1] + ids[-1:]
        out[row, : len(ids)] = torch.tensor(ids)
    return out


def encode_text(model, ids: torch.Tensor) -> torch.Tensor:
    """(B, 77) token ids -> (B, 77, width): the penultimate block's output through the final LayerNorm."""
    out = model(input_ids=ids.to(model.device), output_hidden_states=True)
    return getattr(model, "text_model", model).final_layer_norm(out.hidden_states[-2])


def _gaussian(size: int, sigma: float, dtype, device):
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def resize_like_kornia(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """kornia.geometry.resize(x, size, 'bicubic', align_corners=True, antialias=True) on (B, C, H, W)."""
    h, w = x.shape[-2:]
    factors = (h / size[0], w / size[1])
    if max(factors) > 1:
        sig = [max((f - 1.0) / 2.0, 0.001) for f in factors]
        ks = [int(max(4.0 * s, 3)) for s in sig]
        ks = [k if k % 2 else k + 1 for k in ks]
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        ky = _gaussian(ks[0], sig[0], xf.dtype, x.device)
        kx = _gaussian(ks[1], sig[1], xf.dtype, x.device)
        c = xf.shape[1]
        xf = F.pad(xf, (ks[1] // 2, ks[1] // 2, ks[0] // 2, ks[0] // 2), mode="reflect")
        xf = F.conv2d(xf, kx.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        xf = F.conv2d(xf, ky.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
        x = xf.to(x.dtype)
    return F.interpolate(x, size=size, mode="bicubic", align_corners=True)


def preprocess_image(x: torch.Tensor, size: int = 224) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> CLIP's normalised (B, 3, size, size), as upstream's FrozenOpenCLIPImageEmbedderV2."""
    x = resize_like_kornia(x, (size, size))
    x = (x + 1.0) / 2.0
    mean = torch.tensor(MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def encode_image(model, x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 257, width): every token of the last block, before ln_post."""
    pixels = preprocess_image(x, model.config.image_size).to(model.dtype)
    return model(pixel_values=pixels).last_hidden_state
