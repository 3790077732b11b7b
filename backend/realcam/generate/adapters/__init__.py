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
    WAN21_I2V_720P,
    WAN22_FUN_5B_CAMERA,
    WAN22_TI2V_5B,
    ModelSpec,
)

from ...errors import UserError
from ..wan_checkpoint import is_original_layout
from .base import VideoAdapter
from .svd import SvdAdapter
from .wan import WanAdapter
from .wan_dmd import WanDmdAdapter, is_ti2v_dmd_folder
from .wan_fun_camera import WanFunCameraAdapter

ADAPTERS = {"wan": WanAdapter, "svd": SvdAdapter, "wan-fun-camera": WanFunCameraAdapter}
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
    return WAN21_I2V_720P  # a local Wan 2.1-style folder: the larger limits


def resolve_video_model(name: str, allow_local: bool = True) -> tuple[str, ModelSpec, VideoAdapter]:
    """(model id or folder, its limits, its adapter) for an alias, hub id or local folder.

    allow_local=False (the server, for names a client sent) never reads a local path."""
    for m in KNOWN_VIDEO_MODELS:
        if name in (m.alias, m.repo_id):
            return m.repo_id, m.spec, ADAPTERS[m.spec.family](m.spec)
    if not allow_local and not HUB_ID.match(name):
        raise UserError(
            f"video model {name!r} is not a model this server knows: use an alias "
            f"({', '.join(m.alias for m in KNOWN_VIDEO_MODELS)}), a Hugging Face id, or a name the server "
            "was configured with (realcam serve --model-dir NAME=FOLDER)"
        )
    if allow_local and os.path.isdir(name):
        spec = _spec_from_folder(name)
        return name, spec, ADAPTERS[spec.family](spec)
    try:
        from huggingface_hub import hf_hub_download

        folder = os.path.dirname(hf_hub_download(name, "model_index.json"))
        try:  # a DMD model's kind (image-to-video or text-only) is in its transformer's config
            hf_hub_download(name, "transformer/config.json")
        except Exception:
            pass
    except Exception:
        known = ", ".join(m.alias for m in KNOWN_VIDEO_MODELS)
        raise UserError(
            f"video model {name!r} is neither a known model ({known}), a local diffusers folder, "
            "nor a Hugging Face id whose model_index.json can be read (offline?)"
        ) from None
    spec = _spec_from_folder(folder)
    return name, spec, ADAPTERS[spec.family](spec)


__all__ = ["DEFAULT_VIDEO_MODEL", "KNOWN_VIDEO_MODELS", "ModelSpec", "VideoAdapter", "resolve_video_model"]
