"""Freeze one forward of DynamiCrafter's UNet with each camera wired in, as upstream wires it (ZGCTroy/CamI2V).

For tests/test_camera_unet_parity.py. Runs upstream's own code in a test-only environment (the one
camera_fixtures.py uses: torch 2.13, einops, diffusers), never the project's:

    git -C <mirror> archive HEAD CameraControl lvdm utils | tar -x -C /tmp/cami2v
    /work/parity-cam-venv/bin/python scripts/parity/camera_unet_fixtures.py /tmp/cami2v [tests/fixtures/camera]

Upstream's wiring is its own: the `__init__` of CamI2V, CameraCtrl and MotionCtrl (compiled from their source
files by name, run on a stand-in `self` that holds a tiny UNetModel and pose encoder) adds the camera modules to
the temporal blocks and binds the modified forwards of *_modified_modules.py. Its camera condition is built as
get_batch_input_camera_condition_process does (relative pose, trace scale, Plücker rays, pose encoder,
fundamental matrices and epipolar masks, MotionCtrl's RT). Everything runs in float64 (upstream's GroupNorm
float32 round trip disabled, as in dynamicrafter_fixtures.py), except what upstream itself computes in float32
under `.float()`: the epipolar masks. Weights are not stored: every tensor comes from its upstream key name
(realcam.testing.parity_weights.value_for), the fixed positional tables excepted.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "backend"))
from upstream_configs import pose_encoder_config, unet_config  # noqa: E402

from realcam.testing.parity_weights import value_for  # noqa: E402

T, H, W = 4, 32, 32  # frames, pixel size: latents 4x4, UNet levels at 4x4 and 2x2
SCALE = 0.7  # the trace scale the track enters at
UNET = unet_config(temporal_length=T)  # init_attn: 8 heads x 16 = 128 wide, no other block is
POSE = pose_encoder_config(downscale_factor=8, channels=[32, 64], nums_rb=1, cin=384, heads=4)
EPIPOLAR = dict(
    origin_h=H, origin_w=W, num_register_tokens=4, attention_resolution=[2, 1], add_small_perturbation_on_zero_T=True
)


def _camera_fixtures():
    spec = importlib.util.spec_from_file_location("camera_fixtures", os.path.join(HERE, "camera_fixtures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class AttrDict(dict):
    """What upstream's OmegaConf config is to its code here: attributes and ** unpacking."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


def fill(module, prefix, torch):
    """Every parameter and buffer from its upstream name, except the sinusoidal tables (both sides compute)."""
    state = {k: v if k.endswith(".pe") else value_for(prefix + k, v.shape) for k, v in module.state_dict().items()}
    module.load_state_dict(state)


def wire(upstream, cls_name, path, unet, pose_encoder, ns, **kwargs):
    """Run upstream's class __init__ (after its super().__init__) on a stand-in holding the UNet."""
    fx = _camera_fixtures()
    init = fx._methods(f"{upstream}/{path}", cls_name, ["__init__"], ns).__init__

    class Base:
        def __init__(self, *a, **k):
            pass

    ns[cls_name] = type(cls_name, (Base,), {})
    me = ns[cls_name]()
    me.model = types.SimpleNamespace(diffusion_model=unet)
    me.pose_encoder = pose_encoder
    init(me, **kwargs)
    return me


def main(upstream: str, out_dir: str) -> None:
    sys.path.insert(0, upstream)
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))
    import lvdm.basics
    import torch
    from einops import rearrange

    torch.set_default_dtype(torch.float64)
    lvdm.basics.GroupNormSpecific.forward = torch.nn.GroupNorm.forward  # float64: no float32 round trip
    from CameraControl.cameractrl import cameractrl_modified_modules as cameractrl_mm
    from CameraControl.CamI2V import cami2v_modified_modules as cami2v_mm
    from CameraControl.CamI2V.camera_pose_encoder import CameraPoseEncoder
    from CameraControl.CamI2V.epipolar import Epipolar
    from CameraControl.motionctrl import motionctrl_modified_modules as motionctrl_mm
    from lvdm.modules.networks.openaimodel3d import UNetModel

    fx = _camera_fixtures()
    ns = {"torch": torch, "rearrange": rearrange, "Tensor": torch.Tensor, "sqrt": __import__("math").sqrt}
    exec("from CameraControl.CamI2V.epipolar import pix2coord", ns)
    ns["custom_meshgrid"] = lambda *a: torch.meshgrid(*a, indexing="ij")
    base = fx._methods(
        f"{upstream}/CameraControl/base/base.py", "CameraControlLVDM", ["ray_condition", "get_relative_pose"], ns
    )
    cam = fx._methods(
        f"{upstream}/CameraControl/CamI2V/cami2v.py",
        "CamI2V",
        ["get_relative_c2w_RT_pairs", "get_fundamental_matrix", "get_epipolar_mask", "add_small_perturbation"],
        ns,
    )
    me = types.SimpleNamespace(normalize_T0=False, epipolar_config=AttrDict(apply_epipolar_soft_mask=False,
        epipolar_hybrid_attention=False, epipolar_hybrid_attention_v2=False,
        only_self_pixel_on_current_frame=False, current_frame_as_register_token=False))  # fmt: skip

    # The track, as get_batch_input_camera_condition_process takes it: w2c -> c2w, relative, trace scale.
    w2c, K = fx.track()
    w2c, K = w2c[:T], K[:T]
    index = torch.zeros(1, dtype=torch.long)
    rel = base.get_relative_pose(me, torch.from_numpy(w2c)[None].inverse(), index, mode="left")
    rel[:, :, :3, 3] = rel[:, :, :3, 3] * SCALE
    Kt = torch.from_numpy(K)[None]
    rays = base.ray_condition(me, Kt, rel, H, W, "cpu")  # float64 here; upstream's .float() inputs give float32
    # Epipolar masks exactly as upstream computes them: from float32 intrinsics and poses.
    rel32 = base.get_relative_pose(me, torch.from_numpy(w2c)[None].float().inverse(), index, mode="left")
    rel32[:, :, :3, 3] = rel32[:, :, :3, 3] * SCALE
    pairs = cam.get_relative_c2w_RT_pairs(me, rel32)
    R, t = pairs[..., :3, :3], pairs[..., :3, 3:4]
    torch.manual_seed(11)
    pert = torch.randn_like(t) * 1e-6
    torch.manual_seed(11)
    t = cam.add_small_perturbation(me, t, epsilon=1e-6)
    Fm = cam.get_fundamental_matrix(me, Kt.float().unsqueeze(1), R, t)
    masks = {d: cam.get_epipolar_mask(me, Fm, T, H // d, W // d, d) for d in (16, 8)}
    rt = rearrange(rel.inverse()[:, :, :3, :4], "b t x y -> b t (x y)")

    g = torch.Generator().manual_seed(5)
    x = torch.randn(1, 8, T, H // 8, W // 8, generator=g)
    context = torch.randn(1, 77 + T * 16, 32, generator=g)
    ts, fs = torch.tensor([517]), torch.tensor([4])
    out = dict(w2c=w2c, K=K, scale=SCALE, rel_c2w=rel[0].numpy(), rays=rays[0].numpy(), perturbation=pert.numpy())
    out.update(mask_8=masks[8][0].numpy(), mask_16=masks[16][0].numpy(), motionctrl_rt=rt[0].numpy())
    out.update(x=x.numpy(), t=ts.numpy(), fs=fs.numpy(), context=context.numpy())

    def build(cls_name, path, with_pose, **kwargs):
        torch.manual_seed(0)
        unet = UNetModel(**UNET).eval()
        enc = CameraPoseEncoder(**POSE).eval() if with_pose else None
        mods = dict(cami2v=cami2v_mm, cameractrl=cameractrl_mm, motionctrl=motionctrl_mm)
        mm = mods[path.split("/")[1].lower()]
        for name in dir(mm):
            if name.startswith("new_"):
                ns[name] = getattr(mm, name)
        ns.update(nn=torch.nn, Epipolar=Epipolar, mainlogger=types.SimpleNamespace(info=print))
        wire(upstream, cls_name, path, unet, enc, ns, **kwargs)
        unet.dtype = torch.float64
        fill(unet, "model.diffusion_model.", torch)
        if enc is not None:
            fill(enc, "pose_encoder.", torch)
        keys = [f"model.diffusion_model.{k}|{','.join(map(str, v.shape))}" for k, v in unet.state_dict().items()]
        if enc is not None:
            keys += [f"pose_encoder.{k}|{','.join(map(str, v.shape))}" for k, v in enc.state_dict().items()]
        return unet, enc, np.array(keys)

    def features(enc):
        return [rearrange(f, "(b f) c h w -> b c f h w", b=1) for f in enc(rays)]

    runs = {
        "cami2v": (
            "CamI2V",
            "CameraControl/CamI2V/cami2v.py",
            True,
            dict(add_type="add_to_main_branch", epipolar_config=AttrDict(EPIPOLAR)),
        ),  # fmt: skip
        "cameractrl": ("CameraCtrl", "CameraControl/cameractrl/cameractrl.py", True, {}),
        "motionctrl": ("MotionCtrl", "CameraControl/motionctrl/motionctrl.py", False, dict(pose_dim=12)),
    }
    with torch.no_grad():
        for kind, (cls_name, path, with_pose, kwargs) in runs.items():
            unet, enc, keys = build(cls_name, path, with_pose, **kwargs)
            if kind == "cami2v":
                cond = {"pluker_embedding_features": features(enc), "sample_locs_dict": masks,
                        "cond_frame_index": index, "add_type": "add_to_main_branch"}  # fmt: skip
            elif kind == "cameractrl":
                cond = {"pluker_embedding_features": features(enc)}
            else:
                cond = {"RT": rt}
            y = unet(x, ts, context=context, fs=fs, camera_condition=cond)
            plain = unet(x, ts, context=context, fs=fs, camera_condition=None)
            out[f"{kind}_y"], out[f"{kind}_plain"], out[f"{kind}_keys"] = y.numpy(), plain.numpy(), keys
    os.makedirs(out_dir, exist_ok=True)
    np.savez_compressed(os.path.join(out_dir, "unet_camera.npz"), **out)
    print("written", os.path.join(out_dir, "unet_camera.npz"))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(os.path.abspath(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else f"{HERE}/../../tests/fixtures/camera")
