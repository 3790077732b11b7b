"""Image-to-video model families. Adding a family is one file here plus a line below."""

from __future__ import annotations

import json
import os
import re

from realcam_core.models import (
    DEFAULT_VIDEO_MODEL,
    FASTWAN22_TI2V_5B,
    KNOWN_VIDEO_MODELS,
    SVD_XT,
    WAN21_FLF2V_720P,
    WAN21_I2V_720P,
    WAN22_FUN_5B_CAMERA,
    WAN22_TI2V_5B,
    ModelSpec,
    known_model,
)

from ...errors import UserError
from ...runtime import hub_cache, weights_from_cache_only
from ..wan_checkpoint import is_original_layout
from .base import VideoAdapter
from .dynamicrafter import DynamiCrafterAdapter, folder_spec
from .svd import SvdAdapter
from .wan import WanAdapter
from .wan_dmd import WanDmdAdapter, is_ti2v_dmd_folder
from .wan_fun_camera import WanFunCameraAdapter

ADAPTERS = {"wan": WanAdapter, "svd": SvdAdapter, "wan-fun-camera": WanFunCameraAdapter}
ADAPTERS["dynamicrafter"] = DynamiCrafterAdapter
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
PIPELINE_FAMILIES = {"WanImageToVideoPipeline": "wan", "StableVideoDiffusionPipeline": "svd"}
# FastVideo's DMD models name their own pipeline class; the TI2V-5B one runs here (the draft model).
DMD_PIPELINE = "WanDMDPipeline"
ADAPTERS[FASTWAN22_TI2V_5B.family] = WanDmdAdapter


def _read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _spec_from_folder(folder: str) -> ModelSpec:
    index = os.path.join(folder, "model_index.json")
    if not os.path.isfile(index) and is_original_layout(folder):
        return WAN22_FUN_5B_CAMERA  # VideoX-Fun's published layout: config.json + safetensors at the root
    if not os.path.isfile(index) and (spec := folder_spec(folder)):
        return spec  # DynamiCrafter's published model.ckpt (+ a camera .safetensors)
    if not os.path.isfile(index):
        raise UserError(
            f"{folder}: not a diffusers model folder (no model_index.json) nor a Wan transformer in the "
            "original layout (config.json and .safetensors weights)"
        )
    data = _read_json(index)
    if data.get("_class_name") == DMD_PIPELINE:
        if not is_ti2v_dmd_folder(folder):
            raise UserError(
                f"{folder}: a FastVideo DMD model other than FastWan2.2-TI2V-5B (a text-to-video one?): only the "
                "TI2V-5B one (48-channel transformer) makes video from a photo"
            )
        return FASTWAN22_TI2V_5B
    family = PIPELINE_FAMILIES.get(data.get("_class_name"))
    if family is None:
        raise UserError(
            f"{folder}: a {data.get('_class_name')} is not a supported image-to-video pipeline "
            f"(supported: {', '.join([*PIPELINE_FAMILIES, DMD_PIPELINE])})"
        )
    if family == "svd":
        return SVD_XT
    if data.get("expand_timesteps"):
        return WAN22_TI2V_5B
    if _transformer_config(folder).get("pos_embed_seq_len"):
        return WAN21_FLF2V_720P  # the image embedding takes two images: first and last frame
    return WAN21_I2V_720P  # a local Wan 2.1-style folder: the larger limits


def _transformer_config(folder: str) -> dict:
    try:
        data = _read_json(os.path.join(folder, "transformer", "config.json"))
    except (OSError, ValueError):
        data = {}
    return data if isinstance(data, dict) else {}


def _cached(repo_id: str, filename: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo_id, filename)
    return path if isinstance(path, str) else None


def resolve_video_model(name: str, allow_local: bool = True) -> tuple[str, ModelSpec, VideoAdapter]:
    """(model id or folder, its limits, its adapter) for an alias, hub id or local folder.

    Weights come from the Hugging Face cache or a local folder, never the network (weights_from_cache_only).
    allow_local=False (the server, for names a client sent) never reads a local path, and refuses a known
    model that is not downloaded at once, saying how to get it."""
    weights_from_cache_only()
    m = known_model(name)
    if m is not None:
        missing = [(r, f) for r, f in m.needed_files() if _cached(r, f) is None]
        if not allow_local and missing:
            raise UserError(
                f"video model {m.alias} ({m.model_id}) is not downloaded on this machine (not in the Hugging "
                f"Face cache at {hub_cache()}), and the backend never downloads weights by itself: run "
                f"`realcam download {m.alias}` there (in Blender: Preferences > Download model)"
            )
        return m.model_id, m.spec, ADAPTERS[m.spec.family](m.spec)
    if not allow_local and not HUB_ID.match(name):
        raise UserError(
            f"video model {name!r} is not a model this server knows: use an alias "
            f"({', '.join(m.alias for m in KNOWN_VIDEO_MODELS)}), a Hugging Face id, or a name the server "
            "was configured with (realcam serve --model-dir NAME=FOLDER)"
        )
    if allow_local and os.path.isdir(name):
        spec = _spec_from_folder(name)
        return name, spec, ADAPTERS[spec.family](spec)
    index = _cached(name, "model_index.json") if HUB_ID.match(name) else None
    if index is None:
        known = ", ".join(m.alias for m in KNOWN_VIDEO_MODELS)
        folder = "" if not allow_local else ", a local diffusers folder"
        raise UserError(
            f"video model {name!r} is neither a known model ({known}; `realcam download NAME` fetches one){folder} "
            f"nor a Hugging Face id in this machine's cache ({hub_cache()}): the backend never downloads weights "
            f"by itself; `hf download {name}` puts one there"
        )
    spec = _spec_from_folder(os.path.dirname(index))
    return name, spec, ADAPTERS[spec.family](spec)


__all__ = ["DEFAULT_VIDEO_MODEL", "KNOWN_VIDEO_MODELS", "ModelSpec", "VideoAdapter", "resolve_video_model"]
