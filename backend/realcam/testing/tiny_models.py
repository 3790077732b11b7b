"""Small random-weight models built from configs, for offline smoke tests.

`realcam tiny-models DIR` writes them as ordinary model folders, which load
through exactly the code users run (`--model DIR/depth-anything`). Their
outputs are meaningless; their shapes, files and loading path are real.
"""

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


def _tiny_text_encoder():
    from transformers import T5Tokenizer, UMT5Config, UMT5EncoderModel

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(c, -1.0) for c in "abcdefghijklmnopqrstuvwxyz\u2581"]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    config = UMT5Config(
        vocab_size=len(vocab),
        d_model=32,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
    )
    return UMT5EncoderModel(config).eval(), tokenizer


def _tiny_wan_transformer(in_channels, out_channels):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=in_channels,
        out_channels=out_channels,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    ).eval()


def _save_wan(folder: str, vae, channels: tuple[int, int], flow_shift: float, **extra) -> str:
    """A Wan image-to-video pipeline around a tiny VAE, saved like a downloaded one."""
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline

    text_encoder, tokenizer = _tiny_text_encoder()  # before the transformer: the seed's draws stay as they were
    pipe = WanImageToVideoPipeline(
        transformer=_tiny_wan_transformer(*channels),
        vae=vae,
        scheduler=UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=flow_shift
        ),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer_2=None,
        image_encoder=None,
        image_processor=None,
        boundary_ratio=None,
        **extra,
    )
    pipe.save_pretrained(folder)
    return folder


def build_wan22_ti2v(folder: str, seed: int = 0) -> str:
    """Wan 2.2 TI2V-5B layout: 48-channel 16x VAE, image in latent frame 0 (expand_timesteps)."""
    import torch
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    ).eval()
    return _save_wan(folder, vae, (48, 48), flow_shift=5.0, expand_timesteps=True)


def build_wan21_i2v(folder: str, seed: int = 0) -> str:
    """Wan 2.1 I2V layout: 16-channel 8x VAE, image condition concatenated on channels."""
    import torch
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()
    return _save_wan(folder, vae, (36, 16), flow_shift=3.0)


def build_svd(folder: str, seed: int = 0) -> str:
    """Stable Video Diffusion layout: per-frame VAE (4x here), CLIP image embedding at 224 px."""
    import torch
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=8,
        projection_class_embeddings_input_dim=96,
        addition_time_embed_dim=32,
    ).eval()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 32, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3,
        latent_channels=4,
    ).eval()
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=224,
            intermediate_size=37,
            patch_size=32,
        )
    ).eval()
    pipe = StableVideoDiffusionPipeline(
        unet=unet,
        image_encoder=encoder,
        scheduler=scheduler,
        vae=vae,
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
    )
    pipe.save_pretrained(folder)
    return folder


BUILDERS = {
    "depth-anything": build_depth_anything,
    "depth-pro": build_depth_pro,
    "wan22-ti2v": build_wan22_ti2v,
    "wan21-i2v": build_wan21_i2v,
    "svd": build_svd,
}


def build_all(root: str, only: list[str] | None = None) -> dict[str, str]:
    os.makedirs(root, exist_ok=True)
    out = {}
    for name, build in BUILDERS.items():
        if only and name not in only:
            continue
        out[name] = build(os.path.join(root, name))
    return out
