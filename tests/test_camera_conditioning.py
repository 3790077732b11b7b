"""The DynamiCrafter camera parts end to end on tiny models: strict loading by the published names, the job's
condition (rays -> features per UNet level, epipolar masks, MotionCtrl's RT) and the block wiring."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from realcam.generate.dynamicrafter.camera import (
    CAMERACTRL,
    CAMI2V,
    MOTIONCTRL,
    CameraCheckpointError,
    CameraConfig,
    CameraParts,
    attach_to_block,
    build_condition,
    camera_blocks,
    split_camera_state,
)
from realcam.generate.dynamicrafter.camera.config import EpipolarConfig, PoseEncoderConfig
from realcam_core.camera_scale import camera_scale, model_track

# A tiny UNet (widths 32/64, one head of 16 per block) and camera parts sized to it.
UNET = dict(
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(2, 1),
    head_channels=16,
    init_attn_heads=1,
)
POSE = PoseEncoderConfig(downscale_factor=8, channels=(32, 64), nums_rb=1, cin=384, heads=4, max_len=16)
H, W, F = 64, 96, 5
TINY = {
    CAMI2V: CameraConfig(CAMI2V, POSE, EpipolarConfig(origin_h=H, origin_w=W, attention_resolution=(2, 1))),
    CAMERACTRL: CameraConfig(CAMERACTRL, POSE),
    MOTIONCTRL: CameraConfig(MOTIONCTRL),
}


def _track():
    c2w = np.tile(np.eye(4), (F, 1, 1))
    c2w[:, 2, 3] = np.linspace(0, 0.6, F)  # a dolly in, metres
    c2w[:, 0, 3] = np.linspace(0, 0.2, F)
    K = np.tile([0.5 * W, 0.5 * W, W / 2, H / 2], (F, 1))
    return K, c2w


def _randomised(parts, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in parts.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return parts.eval()


def test_tiny_layout_walks_the_unet_like_upstream():
    blocks = camera_blocks(CAMI2V, UNET)
    assert [(b.path, b.dim, b.heads, b.ds, b.feature) for b in blocks] == [
        ("input_blocks.1.2.transformer_blocks.0", 32, 2, 1, 0),
        ("input_blocks.3.2.transformer_blocks.0", 64, 4, 2, 1),
        ("middle_block.2.transformer_blocks.0", 64, 4, 2, 1),
        ("output_blocks.0.2.transformer_blocks.0", 64, 4, 2, 1),
        ("output_blocks.1.2.transformer_blocks.0", 64, 4, 2, 1),
        ("output_blocks.2.2.transformer_blocks.0", 32, 2, 1, 0),
        ("output_blocks.3.2.transformer_blocks.0", 32, 2, 1, 0),
    ]
    motion = camera_blocks(MOTIONCTRL, UNET)
    assert motion[0].path == "init_attn.0.transformer_blocks.0" and len(motion) == len(blocks) + 1


@pytest.mark.parametrize("kind", [CAMI2V, CAMERACTRL, MOTIONCTRL])
def test_a_saved_checkpoint_loads_back_strictly_among_base_keys(kind, tmp_path):
    src = _randomised(CameraParts(TINY[kind], UNET), seed=1)
    state = src.state_dict_upstream()
    base = {"model.diffusion_model.input_blocks.1.2.transformer_blocks.0.attn1.to_q.weight": torch.zeros(4, 4)}
    save_file({**state, **base, "first_stage_model.encoder.conv_in.weight": torch.zeros(2)}, tmp_path / "m.safetensors")
    loaded = load_file(tmp_path / "m.safetensors")
    cam, rest = split_camera_state(loaded)
    assert set(cam) == set(state) and set(rest) == set(loaded) - set(state)
    dst = CameraParts(TINY[kind], UNET)
    dst.load_upstream(loaded)  # base keys are not the camera's business
    for k, v in dst.state_dict_upstream().items():
        assert torch.equal(v, state[k]), k


def test_missing_unexpected_and_misshapen_camera_keys_are_named():
    parts = CameraParts(TINY[CAMI2V], UNET)
    state = parts.state_dict_upstream()
    gone = "model.diffusion_model.middle_block.2.transformer_blocks.0.pluker_projection.weight"
    extra = "model.diffusion_model.input_blocks.9.2.transformer_blocks.0.epipolar.epipolar_attn.to_q.weight"
    bad = "pose_encoder.encoder_conv_in.bias"
    broken = {k: v for k, v in state.items() if k != gone} | {extra: torch.zeros(2, 2), bad: torch.zeros(3)}
    with pytest.raises(CameraCheckpointError) as e:
        parts.load_upstream(broken)
    msg = str(e.value)
    assert "1 missing" in msg and gone in msg and "1 unexpected" in msg and extra in msg and bad in msg
    with pytest.raises(CameraCheckpointError, match="missing"):
        CameraParts(TINY[CAMERACTRL], UNET).load_upstream(state)  # a CamI2V file is no CameraCtrl


def test_positional_tables_may_be_absent_but_not_wrong():
    parts = CameraParts(TINY[CAMI2V], UNET)
    state = parts.state_dict_upstream()
    pe = [k for k in state if k.endswith(".pos_encoder.pe")]
    assert pe
    parts.load_upstream({k: v for k, v in state.items() if k not in pe})
    state[pe[0]] = state[pe[0]] + 1.0
    with pytest.raises(CameraCheckpointError, match="sinusoidal"):
        parts.load_upstream(state)


def test_cami2v_condition_has_a_feature_per_level_and_masks_per_stride():
    parts = _randomised(CameraParts(TINY[CAMI2V], UNET))
    K, c2w = _track()
    rel = model_track(c2w, camera_scale("cami2v", depth=np.full((H, W), 2.0)).units_per_metre)
    cond = build_condition(parts.cfg, parts.pose_encoder, K, rel, H, W, seed=3)
    assert [tuple(f.shape) for f in cond.pose_features] == [(1, 32, F, 8, 12), (1, 64, F, 4, 6)]
    assert sorted(cond.masks) == [8, 16] and cond.masks[8].shape == (1, F * 8 * 12, F * 8 * 12)
    assert cond.masks[8].dtype == torch.bool and 0.0 < cond.masks[8].float().mean() < 0.9
    for b in parts.blocks_layout:
        assert cond.for_block(b.feature).shape[1] == b.dim
    again = build_condition(parts.cfg, parts.pose_encoder, K, rel, H, W, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(cond.pose_features, again.pose_features, strict=True))
    assert torch.equal(cond.masks[8], again.masks[8])  # the zero-translation perturbation follows the seed


def test_the_camera_changes_the_features_and_a_static_camera_differs_from_a_move():
    parts = _randomised(CameraParts(TINY[CAMERACTRL], UNET))
    K, c2w = _track()
    moving = build_condition(parts.cfg, parts.pose_encoder, K, model_track(c2w, 1.0), H, W)
    still = build_condition(parts.cfg, parts.pose_encoder, K, np.tile(np.eye(4), (F, 1, 1)), H, W)
    assert moving.masks is None
    assert not torch.allclose(moving.pose_features[0][:, :, -1], still.pose_features[0][:, :, -1], atol=1e-4)


def test_motionctrl_condition_is_the_relative_w2c_per_frame():
    K, c2w = _track()
    rel = model_track(c2w, 0.5)
    cond = build_condition(TINY[MOTIONCTRL], None, K, rel, H, W)
    assert cond.rt.shape == (1, F, 12) and cond.pose_features is None and cond.masks is None
    assert torch.allclose(cond.rt[0, -1].view(3, 4).double(), torch.from_numpy(np.linalg.inv(rel[-1])[:3]))


def test_a_block_with_its_camera_attached_has_upstreams_keys_and_calls_it():
    from torch import nn

    parts = _randomised(CameraParts(TINY[CAMI2V], UNET))
    block = nn.Module()
    block.add_module("norm1", nn.LayerNorm(32))
    attach_to_block(block, parts.blocks[0])
    assert sorted(block.state_dict()) == sorted(
        ["norm1.weight", "norm1.bias"] + [k for k in parts.blocks[0].state_dict()]
    )
    assert block.pluker_projection is parts.blocks[0].pluker_projection
    K, c2w = _track()
    cond = build_condition(parts.cfg, parts.pose_encoder, K, model_track(c2w, 1.0), H, W)
    x = torch.randn(8 * 12, F, 32)
    with torch.no_grad():
        r = block.camera(block.norm1(x), cond.for_block(0), 8, 12, cond.masks)
    assert r.shape == x.shape and torch.count_nonzero(r) > 0
