"""The DynamiCrafter camera parts against upstream's own code (ZGCTroy/CamI2V), frozen in tests/fixtures/camera.

scripts/parity/camera_fixtures.py regenerates the fixtures from an upstream checkout; weights are derived from
key names (seeded_state), so the same numbers fill upstream's modules there and ours here. Tolerances: float64
computations agree to 1e-10 (same algorithms, different reshapes); the rays, which the project computes in
float32 (realcam_core.plucker), to 2e-6 of upstream's float64; masks are float32 thresholds, compared exactly.
"""

import importlib.util
import json
import os

import numpy as np
import pytest
import torch
from helpers import default_dtype, read_npz

from realcam.generate.dynamicrafter.camera import (
    VARIANTS,
    CameraCtrlBlockCamera,
    CameraParts,
    CameraPoseEncoder,
    CamI2VBlockCamera,
    MotionCtrlBlockCamera,
)
from realcam.generate.dynamicrafter.camera.config import EpipolarConfig, PoseEncoderConfig
from realcam.generate.dynamicrafter.camera.epipolar import Epipolar, epipolar_mask, fundamental_matrices
from realcam_core.camera_scale import model_track, motionctrl_rt
from realcam_core.plucker import plucker_rays

HERE = os.path.dirname(__file__)
FIX = os.path.join(HERE, "fixtures", "camera")
ROOT = os.path.dirname(HERE)
F64 = dict(rtol=1e-9, atol=1e-10)


def _script():
    path = os.path.join(ROOT, "scripts", "parity", "camera_fixtures.py")
    spec = importlib.util.spec_from_file_location("camera_fixtures", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FIXTURES = _script()


def load(name):
    return read_npz(os.path.join(FIX, name))


def fill(module, prefix=""):
    """Fill a module with the fixtures' seeded weights, by (upstream) key name, strictly (pe tables kept)."""
    shapes = {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}
    state = {k[len(prefix) :]: torch.from_numpy(v) for k, v in FIXTURES.seeded_state(shapes).items()}
    for k, v in module.state_dict().items():
        state.setdefault(k, v)
    module.load_state_dict(state, strict=True)
    return module.double().eval()


@pytest.fixture
def float64_default():
    with default_dtype(torch.float64):  # upstream built its modules (and positional tables) in float64
        yield


def test_relative_poses_scale_and_rays_match_upstream():
    f = load("rays_poses.npz")
    c2w = np.linalg.inv(f["w2c"])
    rel = model_track(c2w, float(f["scale"]))
    np.testing.assert_allclose(rel, f["rel_c2w"], rtol=0, atol=1e-12)
    K = f["K"]
    intr = np.stack([K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]], axis=1)
    rays = plucker_rays(intr, rel, 32, 32).transpose(1, 0, 2, 3)  # (6, F, H, W), upstream's layout
    assert np.abs(f["rays"]).max() > 0.3  # moments are not trivially zero
    np.testing.assert_allclose(rays, f["rays"], rtol=0, atol=2e-6)
    np.testing.assert_allclose(motionctrl_rt(rel), f["motionctrl_rt"], rtol=0, atol=1e-12)


def test_fundamental_matrices_and_epipolar_masks_match_upstream():
    rp, ep = load("rays_poses.npz"), load("epipolar_masks.npz")
    rel = torch.from_numpy(rp["rel_c2w"])[None]
    K = torch.from_numpy(rp["K"])[None]
    pert = torch.from_numpy(ep["perturbation"])
    Fm = fundamental_matrices(K, rel, perturbation=pert)
    np.testing.assert_allclose(Fm[0].numpy(), ep["fundamental"], **F64)
    for d in (8, 16):
        mask = epipolar_mask(Fm.float(), 32 // d, 32 // d, d)[0].numpy()
        want = ep[f"mask_{d}"]
        assert 0.05 < want.mean() < 0.95  # a real mask: neither empty nor full
        assert np.array_equal(mask, want), f"stride {d}: {np.count_nonzero(mask != want)} cells differ"


def test_zero_translations_are_perturbed_only_where_upstream_does():
    """Frame 1 is a pure rotation of frame 0 and every frame pairs with itself: those pairs get the perturbation."""
    rp = load("rays_poses.npz")
    rel = torch.from_numpy(rp["rel_c2w"])[None]
    K = torch.from_numpy(rp["K"])[None]
    Fa = fundamental_matrices(K, rel, perturbation=torch.ones(1, 4, 4, 3, 1) * 1e-6)
    Fb = fundamental_matrices(K, rel, perturbation=-torch.ones(1, 4, 4, 3, 1) * 1e-6)
    changed = ~torch.isclose(Fa, Fb).all(-1).all(-1)[0]
    expected = torch.eye(4, dtype=torch.bool)
    expected[0, 1] = expected[1, 0] = True
    assert torch.equal(changed, expected)


def test_pose_encoder_features_match_upstream(float64_default):
    f = load("pose_encoder.npz")
    cfg = json.loads(str(f["config"]))
    mine = PoseEncoderConfig(
        downscale_factor=cfg["downscale_factor"],
        channels=tuple(cfg["channels"]),
        nums_rb=cfg["nums_rb"],
        cin=cfg["cin"],
        ksize=cfg["ksize"],
        sk=cfg["sk"],
        use_conv=cfg["use_conv"],
        heads=cfg["temporal_attention_nhead"],
        max_len=cfg["temporal_position_encoding_max_len"],
    )
    enc = fill(CameraPoseEncoder(mine))
    rays = torch.from_numpy(load("rays_poses.npz")["rays"])[None]
    with torch.no_grad():
        feats = enc(rays)
    assert len(feats) == 4
    for i, got in enumerate(feats):
        want = f[f"feature_{i}"]
        assert got.shape[1:] == want.shape and np.abs(want).max() > 0.1
        np.testing.assert_allclose(got[0].numpy(), want, **F64)


def _block_inputs():
    b = load("blocks.npz")
    return b, torch.from_numpy(b["x"]), torch.from_numpy(b["pose"])


def _mask8():
    return torch.from_numpy(load("epipolar_masks.npz")["mask_8"])[None]


def test_cami2v_block_residual_and_epipolar_attention_match_upstream(float64_default):
    b, x, pose = _block_inputs()
    dim, heads = x.shape[-1], 2
    cam = fill(CamI2VBlockCamera(dim, heads, EpipolarConfig(origin_h=32, origin_w=32, num_register_tokens=2)))
    normed = torch.nn.functional.layer_norm(x, (dim,))  # the block's norm1 at its initial (identity) affine
    masks = {8: _mask8()}
    with torch.no_grad():
        residual = cam(normed, pose, 4, 4, masks)
        tokens = normed + pose.permute(0, 3, 4, 2, 1).reshape(16, 4, dim)
        epi = cam.epipolar(tokens.view(1, 4, 4, 4, dim).permute(0, 3, 4, 1, 2), masks)
    np.testing.assert_allclose(epi.numpy(), b["epipolar_out"], **F64)
    np.testing.assert_allclose(residual.numpy(), b["cami2v_residual"], **F64)
    # The mask matters: attending everything gives another answer.
    with torch.no_grad():
        assert not torch.allclose(cam(normed, pose, 4, 4, None), residual, atol=1e-3)


def test_cameractrl_block_input_matches_upstream(float64_default):
    b, x, pose = _block_inputs()
    cam = fill(CameraCtrlBlockCamera(x.shape[-1]))
    with torch.no_grad():
        got = cam(torch.nn.functional.layer_norm(x, (x.shape[-1],)), pose)
    np.testing.assert_allclose(got.numpy(), b["cameractrl_attn1_input"], **F64)


def test_motionctrl_conditioning_mlp_matches_upstream(float64_default):
    b, x, _ = _block_inputs()
    cam = fill(MotionCtrlBlockCamera(x.shape[-1]))
    hidden, rt = torch.from_numpy(b["motionctrl_hidden"]), torch.from_numpy(b["motionctrl_rt"])[None]
    with torch.no_grad():
        got = cam(hidden, rt)
    np.testing.assert_allclose(got.numpy(), b["motionctrl_out"], **F64)


@pytest.mark.parametrize("name", ["cami2v-256", "cami2v-512", "cameractrl-256", "motionctrl-256"])
def test_published_camera_keys_and_shapes_are_upstreams(name):
    """Every camera key of the published layouts, as upstream's modules name and shape them (meta device)."""
    with open(os.path.join(FIX, "published_keys.json"), encoding="utf-8") as fh:
        want = json.load(fh)[name]
    unet = dict(
        model_channels=320,
        channel_mult=(1, 2, 4, 4),
        num_res_blocks=2,
        attention_resolutions=(4, 2, 1),
        head_channels=64,
        init_attn_heads=8,
    )
    with torch.device("meta"):
        parts = CameraParts(VARIANTS[name], unet)
    assert {k: list(v.shape) for k, v in parts.state_dict_upstream().items()} == want


def test_epipolar_module_output_projection_starts_at_zero():
    epi = Epipolar(16, 2, EpipolarConfig(num_register_tokens=2))
    out = epi(torch.randn(1, 4, 16, 4, 4), None)
    assert out.shape == (16, 4, 16) and torch.count_nonzero(out) == 0
