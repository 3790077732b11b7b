"""Small random-weight Wan models (2.2 TI2V, the FastWan draft, 2.1 I2V and FLF2V) in their published layouts,
and the parts the benches build larger ones from."""

from __future__ import annotations

import json
import os


def tiny_text_encoder():
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


def wan_transformer(
    in_channels: int,
    out_channels: int,
    *,
    heads: int = 2,
    head_dim: int = 12,
    text_dim: int = 32,
    ffn_dim: int = 32,
    layers: int = 2,
    rope_max_seq_len: int = 32,
    **extra,
):
    """Wan's transformer as the published models configure it (2x2 patches, cross-attention norm, RMS q/k norm),
    at toy width by default; the benches pass their own sizes, up to the real 5B one."""
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        in_channels=in_channels,
        out_channels=out_channels,
        text_dim=text_dim,
        freq_dim=256,
        ffn_dim=ffn_dim,
        num_layers=layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=rope_max_seq_len,
        **extra,
    )


def _save_wan(folder: str, vae, channels: tuple[int, int], flow_shift: float, **extra) -> str:
    """A Wan image-to-video pipeline around a tiny VAE, saved like a downloaded one."""
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline

    text_encoder, tokenizer = tiny_text_encoder()  # before the transformer: the seed's draws stay as they were
    pipe = WanImageToVideoPipeline(
        transformer=wan_transformer(*channels).eval(),
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


def tiny_wan22_vae():
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
    return _save_wan(folder, tiny_wan22_vae(), (48, 48), flow_shift=5.0, expand_timesteps=True)


def build_fastwan22_draft(folder: str, seed: int = 0) -> str:
    """FastVideo's FastWan2.2-TI2V-5B layout: the TI2V-5B parts as diffusers subfolders and a model_index.json that
    names FastVideo's WanDMDPipeline (not a diffusers class) beside the base model's UniPC scheduler, which the DMD
    sampler never uses. Written as the FastWan 2.1 repositories' index is (five components, no expand_timesteps;
    the 2.2 one could not be read here), so loading cannot rely on anything more."""
    import torch
    from diffusers import UniPCMultistepScheduler, WanPipeline

    torch.manual_seed(seed)
    text_encoder, tokenizer = tiny_text_encoder()
    WanPipeline(
        transformer=wan_transformer(48, 48).eval(),
        vae=tiny_wan22_vae(),
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


def build_wan21_i2v(folder: str, seed: int = 0) -> str:
    """Wan 2.1 I2V layout: 16-channel 8x VAE, image condition concatenated on channels."""
    import torch
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()
    return _save_wan(folder, vae, (36, 16), flow_shift=3.0)


def build_wan21_flf2v(folder: str, seed: int = 0) -> str:
    """Wan 2.1 FLF2V (first and last frame) layout: Wan 2.1 I2V with a CLIP image encoder whose tokens of both
    images enter the transformer with a learned position embedding (pos_embed_seq_len, 2 x the tokens of one
    image), and the flow shift the published FLF2V scheduler uses (16)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    ).eval()
    text_encoder, tokenizer = tiny_text_encoder()
    image_size, patch = 32, 16
    tokens = (image_size // patch) ** 2 + 1  # patches and the class token: the hidden states the pipeline reads
    encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=image_size,
            intermediate_size=24,
            patch_size=patch,
        )
    ).eval()
    transformer = wan_transformer(36, 16, image_dim=16, added_kv_proj_dim=24, pos_embed_seq_len=2 * tokens).eval()
    pipe = WanImageToVideoPipeline(
        transformer=transformer,
        vae=vae,
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=16.0),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        image_encoder=encoder,
        image_processor=CLIPImageProcessor(crop_size=image_size, size=image_size),
        transformer_2=None,
        boundary_ratio=None,
    )
    pipe.save_pretrained(folder)
    return folder
