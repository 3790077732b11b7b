"""One UNet forward with the camera wired in, against upstream's own wiring (ZGCTroy/CamI2V), float64.

tests/fixtures/camera/unet_camera.npz is frozen by scripts/parity/camera_unet_fixtures.py: upstream's CamI2V,
CameraCtrl and MotionCtrl `__init__` wire their modules into a tiny UNetModel and its modified forwards run with
the camera condition upstream builds. Here the same weights (from their key names) load through the project's
strict path (camera.attach + the UNet's own state dict) and the hook feeds the condition. Tolerances, relative
to the output's largest value: 1e-12 with upstream's own rays (measured 4e-15: only the order of operations
differs); 1e-6 through the project's whole condition path (measured 7e-8), whose rays are float32 where the
fixture's are float64 (upstream's own runs compute them in float32 too).
The epipolar masks are float32 thresholds in both, compared exactly.
"""

import os

import numpy as np
import pytest
import torch

from realcam.generate.dynamicrafter.camera import CameraCondition, attach
from realcam.generate.dynamicrafter.camera.config import CameraConfig, EpipolarConfig, PoseEncoderConfig
from realcam.generate.dynamicrafter.camera.epipolar import epipolar_masks
from realcam.generate.dynamicrafter.config import UNetConfig
from realcam.generate.dynamicrafter.unet import UNet3D
from realcam.testing.parity_weights import value_for
from realcam_core.camera_scale import model_track, motionctrl_rt

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "camera", "unet_camera.npz")
T, H, W = 4, 32, 32
UNET = UNetConfig(
    model_channels=32,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_resolutions=(1, 2),
    head_channels=16,
    context_dim=32,
    init_attn_heads=8,
)
POSE = PoseEncoderConfig(channels=(32, 64), nums_rb=1, heads=4)
CONFIGS = {
    "cami2v": CameraConfig("cami2v", POSE, EpipolarConfig(origin_h=H, origin_w=W, attention_resolution=(2, 1))),
    "cameractrl": CameraConfig("cameractrl", POSE),
    "motionctrl": CameraConfig("motionctrl"),
}


@pytest.fixture(scope="module")
def fix():
    with np.load(FIX) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture
def float64_default():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def assert_close(actual, expected, rel):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    err = np.abs(actual - expected).max() / np.abs(expected).max()
    assert err < rel, f"max error {err:.3g} of the output's scale (tolerance {rel:g})"


def wired(kind, fix):
    """Our UNet with the camera attached and loaded strictly from upstream's names and shapes."""
    names = dict(k.split("|") for k in fix[f"{kind}_keys"])
    shapes = {k: tuple(int(n) for n in v.split(",") if n) for k, v in names.items()}
    state = {k: value_for(k, s) for k, s in shapes.items() if not k.endswith(".pe")}
    unet = UNet3D(UNET).eval()
    own = set(unet.state_dict())
    prefix = "model.diffusion_model."
    extra = {k: v for k, v in state.items() if not (k.startswith(prefix) and k[len(prefix) :] in own)}
    model = "realcam-i2v" if kind == "cami2v" else kind
    camera = attach(model, unet, extra, camera_config=CONFIGS[kind]).eval()
    unet_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    unet.load_state_dict(unet_state, strict=True)  # base and camera keys: the UNet's state dict is upstream's
    assert {f"{prefix}{k}" for k in unet.state_dict()} | {
        f"pose_encoder.{k}" for k in (camera.pose_encoder.state_dict() if camera.pose_encoder else {})
    } == set(shapes)
    return unet, camera


def forward(unet, fix, hook):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    with torch.no_grad():
        return unet(t(fix["x"]), t(fix["t"]), t(fix["context"]), t(fix["fs"]), camera=hook).numpy()


def our_rel(fix):
    c2w = np.linalg.inv(fix["w2c"])
    return model_track(c2w, float(fix["scale"]))


@pytest.mark.parametrize("kind", ["cami2v", "cameractrl", "motionctrl"])
def test_wired_unet_forward_matches_upstream(kind, fix, float64_default):
    unet, camera = wired(kind, fix)
    rel = our_rel(fix)
    assert np.allclose(rel, fix["rel_c2w"], atol=1e-12)
    cond = CameraCondition()
    if kind == "motionctrl":
        cond.rt = torch.from_numpy(motionctrl_rt(rel))[None]
        assert np.allclose(cond.rt[0].numpy(), fix["motionctrl_rt"], atol=1e-12)
    else:
        cond.pose_features = camera.pose_encoder(torch.from_numpy(fix["rays"])[None])
    if kind == "cami2v":
        K = torch.from_numpy(fix["K"]).float()[None]
        pert = torch.from_numpy(fix["perturbation"]).float()
        cond.masks = epipolar_masks(K, torch.from_numpy(rel).float()[None], H, W, CONFIGS[kind].epipolar, pert)
        for d in (8, 16):
            assert torch.equal(cond.masks[d][0], torch.from_numpy(fix[f"mask_{d}"])), d
    y = forward(unet, fix, camera.hook_from(cond, H))
    assert_close(y, fix[f"{kind}_y"], 1e-12)
    assert_close(forward(unet, fix, None), fix[f"{kind}_plain"], 1e-12)  # camera off: DynamiCrafter's own
    assert np.abs(fix[f"{kind}_y"] - fix[f"{kind}_plain"]).max() > 0.1  # and the camera matters


@pytest.mark.parametrize("kind", ["cami2v", "cameractrl"])
def test_the_whole_condition_path_matches_upstream(kind, fix, float64_default):
    """Rays (float32, realcam_core.plucker), pose features and masks as a job computes them."""
    unet, camera = wired(kind, fix)
    K = fix["K"]
    k4 = np.stack([K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]], axis=1)
    pert = torch.from_numpy(fix["perturbation"]).float()
    hook = camera.hook(k4, our_rel(fix), H, W, perturbation=pert)
    assert_close(forward(unet, fix, hook), fix[f"{kind}_y"], 1e-6)
