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


def _tiny_wan22_vae():
    """Wan 2.2's 48-channel VAE with 16x spatial and 4x temporal compression, at toy width."""
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(
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


def build_wan22_ti2v(folder: str, seed: int = 0) -> str:
    """Wan 2.2 TI2V-5B layout: 48-channel 16x VAE, image in latent frame 0 (expand_timesteps)."""
    import torch

    torch.manual_seed(seed)
    return _save_wan(folder, _tiny_wan22_vae(), (48, 48), flow_shift=5.0, expand_timesteps=True)


def build_fastwan22_draft(folder: str, seed: int = 0) -> str:
    """FastVideo's FastWan2.2-TI2V-5B layout: the TI2V-5B parts as diffusers subfolders and a model_index.json that
    names FastVideo's WanDMDPipeline (not a diffusers class) beside the base model's UniPC scheduler, which the DMD
    sampler never uses. Written as the FastWan 2.1 repositories' index is (five components, no expand_timesteps;
    the 2.2 one could not be read here), so loading cannot rely on anything more."""
    import torch
    from diffusers import UniPCMultistepScheduler, WanPipeline

    torch.manual_seed(seed)
    text_encoder, tokenizer = _tiny_text_encoder()
    WanPipeline(
        transformer=_tiny_wan_transformer(48, 48),
        vae=_tiny_wan22_vae(),
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
    ).save_pretrained(folder)
    index = os.path.join(folder, "model_index.json")
    with open(index, encoding="utf-8") as fh:
        data = json.load(fh)
    keep = ("_diffusers_version", "scheduler", "text_encoder", "tokenizer", "transformer", "vae")
    data = {"_class_name": "WanDMDPipeline", **{k: data[k] for k in keep}}
    with open(index, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    return folder


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
    _tiny_wan22_vae().save_pretrained(os.path.join(folder, "vae"))
    text_encoder, tokenizer = _tiny_text_encoder()
    text_encoder.save_pretrained(os.path.join(folder, "text_encoder"))
    tokenizer.save_pretrained(os.path.join(folder, "tokenizer"))
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0)
    scheduler.save_pretrained(os.path.join(folder, "scheduler"))
    return folder


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


def build_dynamicrafter_256(folder: str, seed: int = 0) -> str:
    from .tiny_dynamicrafter import build_dynamicrafter

    return build_dynamicrafter(folder, "256", seed)


def build_dynamicrafter_512(folder: str, seed: int = 0) -> str:
    from .tiny_dynamicrafter import build_dynamicrafter

    return build_dynamicrafter(folder, "512", seed)


def _camera_builder(model: str, variant: str):
    def build(folder: str, seed: int = 0) -> str:
        from .tiny_dynamicrafter import build_camera_model

        return build_camera_model(folder, model, variant, seed)

    build.__name__ = f"build_{model}_{variant}".replace("-", "_")
    return build


BUILDERS = {
    "depth-anything": build_depth_anything,
    "depth-pro": build_depth_pro,
    "wan22-ti2v": build_wan22_ti2v,
    "wan22-fun-camera": build_wan22_fun_camera,
    "fastwan22-draft": build_fastwan22_draft,
    "wan21-i2v": build_wan21_i2v,
    "svd": build_svd,
    "dynamicrafter-256": build_dynamicrafter_256,
    "dynamicrafter-512": build_dynamicrafter_512,
    # The camera models of the RealCam-I2V paper's table, on the tiny DynamiCrafter (their published layouts).
    **{
        f"{m}-{v}": _camera_builder(m, v)
        for m, v in (
            ("motionctrl", "256"),
            ("cameractrl", "256"),
            ("cami2v", "256"),
            ("realcam-i2v", "256"),
            ("cami2v", "512"),
            ("realcam-i2v", "512"),
        )
    },
}


def build_all(root: str, only: list[str] | None = None) -> dict[str, str]:
    os.makedirs(root, exist_ok=True)
    out = {}
    for name, build in BUILDERS.items():
        if only and name not in only:
            continue
        out[name] = build(os.path.join(root, name))
    return out
