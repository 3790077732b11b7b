"""The configurations the parity scripts give upstream's DynamiCrafter UNet and CamI2V pose encoder.

The flags are the published configs' (CamI2V's configs/*.yaml); the sizes are each fixture's own, the tiny
ones the fixtures run and the published 256 one whose key names are frozen. Key order is the published
configs', kept: camera_fixtures.py writes the pose encoder's config into its fixture as JSON.
"""

from __future__ import annotations


def unet_config(
    temporal_length: int,
    learnable: bool = True,
    model_channels: int = 32,
    num_res_blocks: int = 1,
    attention_resolutions: tuple = (1, 2),
    channel_mult: tuple = (1, 2),
    num_head_channels: int = 16,
    context_dim: int = 32,
) -> dict:
    """UNetModel's arguments: tiny by default (latents from 8x8, levels at 1x and 2x), the published flags."""
    return dict(
        in_channels=8,
        model_channels=model_channels,
        out_channels=4,
        num_res_blocks=num_res_blocks,
        attention_resolutions=list(attention_resolutions),
        channel_mult=list(channel_mult),
        dropout=0.1,
        num_head_channels=num_head_channels,
        transformer_depth=1,
        context_dim=context_dim,
        use_linear=True,
        use_checkpoint=False,
        temporal_conv=True,
        temporal_attention=True,
        temporal_selfatt_only=True,
        use_relative_position=False,
        use_causal_attention=False,
        temporal_length=temporal_length,
        addition_attention=True,
        image_cross_attention=True,
        image_cross_attention_scale_learnable=learnable,
        default_fs=3,
        fs_condition=True,
    )


# DynamiCrafter 256's published UNet (the camera models' base), for the published key names.
PUBLISHED_UNET_256 = dict(
    model_channels=320,
    num_res_blocks=2,
    attention_resolutions=(4, 2, 1),
    channel_mult=(1, 2, 4, 4),
    num_head_channels=64,
    context_dim=1024,
)


def pose_encoder_config(downscale_factor: int, channels: list, nums_rb: int, cin: int, heads: int) -> dict:
    """CameraPoseEncoder's arguments at the given sizes, the published flags."""
    return dict(
        downscale_factor=downscale_factor,
        channels=channels,
        nums_rb=nums_rb,
        cin=cin,
        ksize=1,
        sk=True,
        use_conv=False,
        compression_factor=1,
        temporal_attention_nhead=heads,
        attention_block_types=["Temporal_Self"],
        temporal_position_encoding=True,
        temporal_position_encoding_max_len=16,
    )
