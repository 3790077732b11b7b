"""Small random-weight depth models (Depth Anything, Depth Pro) in their published layouts."""

from __future__ import annotations

import json
import os


def _save_preprocessor(folder: str, data: dict) -> None:
    with open(os.path.join(folder, "preprocessor_config.json"), "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)


def build_depth_anything(folder: str, seed: int = 0) -> str:
    import torch
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(seed)
    backbone = Dinov2Config(
        image_size=28,
        patch_size=14,
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
        out_indices=[1, 2],
        reshape_hidden_states=False,
        apply_layernorm=True,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=8,
        patch_size=14,
        neck_hidden_sizes=[4, 8],
        reassemble_factors=[2, 1],
        fusion_hidden_size=8,
        head_hidden_size=4,
        depth_estimation_type="metric",
        max_depth=20,
    )
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():
        # Random but not constant depth, so shapes and orientation show in tests.
        for p in model.head.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    model.save_pretrained(folder)
    _save_preprocessor(
        folder,
        {
            "image_processor_type": "DPTImageProcessor",
            "size": {"height": 28, "width": 28},
            "keep_aspect_ratio": True,
            "ensure_multiple_of": 14,
            "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225],
        },
    )
    return folder


def build_depth_pro(folder: str, seed: int = 0) -> str:
    import torch
    from transformers import DepthProConfig, DepthProForDepthEstimation

    torch.manual_seed(seed)
    vit = {"model_type": "dinov2", "num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 1, "patch_size": 4}
    config = DepthProConfig(
        patch_size=16,
        fusion_hidden_size=16,
        intermediate_hook_ids=[1, 0],
        intermediate_feature_dims=[10, 8],
        scaled_images_ratios=[0.5, 1.0],
        scaled_images_overlap_ratios=[0.0, 0.2],
        scaled_images_feature_dims=[12, 12],
        use_fov_model=True,
        image_model_config=dict(vit),
        patch_model_config=dict(vit),
        fov_model_config=dict(vit),
    )
    model = DepthProForDepthEstimation(config, use_fov_model=True).eval()
    model.save_pretrained(folder)
    _save_preprocessor(
        folder,
        {
            "image_processor_type": "DepthProImageProcessor",
            "size": {"height": 32, "width": 32},
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
        },
    )
    return folder
