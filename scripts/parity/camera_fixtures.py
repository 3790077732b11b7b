"""Freeze upstream's camera conditioning (ZGCTroy/CamI2V) as small .npz fixtures for tests/test_camera_parity.py.

Runs upstream's own module code, in a test-only environment (never the project's):

    python3.11 -m venv /tmp/parity-venv
    /tmp/parity-venv/bin/pip install torch==2.13.0 einops diffusers numpy packaging
    git -C <mirror> archive HEAD CameraControl lvdm utils | tar -x -C /tmp/cami2v
    /tmp/parity-venv/bin/python scripts/parity/camera_fixtures.py /tmp/cami2v [tests/fixtures/camera]

Upstream's LightningModule methods (ray_condition, get_relative_pose, the epipolar mask and
fundamental-matrix methods) are taken from its source files by name and run unbound: importing
their classes would pull in the whole training stack. Its nn.Modules (CameraPoseEncoder,
Epipolar, BasicTransformerBlock and the modified block forwards) are imported as they are.
Everything runs in float64. Weights are not stored: `seeded_state` derives every tensor from its
key name, so the tests fill the project's modules (same key names) with the same numbers.
"""

from __future__ import annotations

import ast
import json
import math
import os
import sys
import types
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its sibling, also when a test loads it by path
from upstream_configs import PUBLISHED_UNET_256, pose_encoder_config, unet_config  # noqa: E402

SEED = 20260427
T, H, W = 4, 32, 32  # frames and pixel size of the small track


def seeded_state(shapes: dict, seed: int = SEED) -> dict:
    """{key: float64 array} from {key: shape}: each tensor from its own name, sized to keep activations O(1).

    Buffers named `pe` (the fixed positional tables) are left out: both sides compute them."""
    out = {}
    for key, shape in sorted(shapes.items()):
        if key.endswith(".pe"):
            continue
        rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
        shape = tuple(shape)
        parts = key.split(".")
        if parts[-1] == "weight" and any("norm" in p for p in parts[-3:-1]):
            out[key] = 1.0 + 0.1 * rng.standard_normal(shape)
        elif len(shape) <= 1:
            out[key] = 0.1 * rng.standard_normal(shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            out[key] = rng.standard_normal(shape) / math.sqrt(fan_in)
    return out


def track():
    """A small RealEstate10K-like track: w2c (T, 4, 4) with a pure rotation at frame 1 (zero translation)."""
    rng = np.random.default_rng(SEED)
    c2w = np.tile(np.eye(4), (T, 1, 1))
    c2w[0, :3, 3] = [0.3, -0.1, 0.2]
    for i in range(1, T):
        a = rng.normal(size=3) * 0.15
        k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
        th = np.linalg.norm(a)
        rot = np.eye(3) + np.sin(th) / th * k + (1 - np.cos(th)) / th**2 * k @ k
        c2w[i, :3, :3] = rot @ c2w[0, :3, :3]
        c2w[i, :3, 3] = c2w[0, :3, 3] if i == 1 else c2w[0, :3, 3] + rng.normal(size=3) * 0.4
    K = np.array([[0.5 * W * 1.1, 0, W / 2], [0, 0.5 * W * 1.1, H / 2], [0, 0, 1.0]])
    return np.linalg.inv(c2w), np.tile(K, (T, 1, 1))


def _methods(path: str, cls: str, names: list[str], namespace: dict) -> types.SimpleNamespace:
    """Functions `names` of class `cls` in upstream file `path`, compiled as they are, unbound."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    funcs = [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name in names]
    module = ast.Module(body=funcs, type_ignores=[])
    exec(compile(module, path, "exec"), namespace)
    return types.SimpleNamespace(**{n: namespace[n] for n in names})


def main(upstream: str, out_dir: str) -> None:
    sys.path.insert(0, upstream)
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # utils/utils.py imports it; nothing here uses it
    import torch
    from einops import rearrange

    torch.set_default_dtype(torch.float64)

    os.makedirs(out_dir, exist_ok=True)
    ns = {"torch": torch, "rearrange": rearrange, "Tensor": torch.Tensor, "sqrt": math.sqrt}
    exec("from CameraControl.CamI2V.epipolar import pix2coord", ns)
    ns["custom_meshgrid"] = lambda *a: torch.meshgrid(*a, indexing="ij")
    base = _methods(
        f"{upstream}/CameraControl/base/base.py", "CameraControlLVDM", ["ray_condition", "get_relative_pose"], ns
    )
    cam = _methods(
        f"{upstream}/CameraControl/CamI2V/cami2v.py",
        "CamI2V",
        ["get_relative_c2w_RT_pairs", "get_fundamental_matrix", "get_epipolar_mask", "add_small_perturbation"],
        ns,
    )
    me = types.SimpleNamespace(
        normalize_T0=False,
        epipolar_config=types.SimpleNamespace(
            apply_epipolar_soft_mask=False,
            epipolar_hybrid_attention=False,
            epipolar_hybrid_attention_v2=False,
            only_self_pixel_on_current_frame=False,
            current_frame_as_register_token=False,
        ),
    )

    # 1. relative poses, trace scale, Plücker rays (upstream's get_batch_input_camera_condition_process order)
    w2c, K = track()
    scale = 0.7
    c2w = torch.from_numpy(w2c)[None].inverse()
    rel = base.get_relative_pose(me, c2w, torch.zeros(1, dtype=torch.long), mode="left", normalize_T0=False)
    rel[:, :, :3, 3] = rel[:, :, :3, 3] * scale
    Kt = torch.from_numpy(K)[None]
    rays = base.ray_condition(me, Kt, rel, H, W, "cpu")  # (1, 6, T, H, W)
    rt = rearrange(rel.inverse()[:, :, :3, :4], "b t x y -> b t (x y)")  # MotionCtrl's RT
    np.savez_compressed(
        f"{out_dir}/rays_poses.npz",
        w2c=w2c,
        K=K,
        scale=scale,
        rel_c2w=rel[0].numpy(),
        rays=rays[0].numpy(),
        motionctrl_rt=rt[0].numpy(),
    )

    # 2. fundamental matrices and epipolar masks (strides 8 and 16), with the perturbation drawn
    pairs = cam.get_relative_c2w_RT_pairs(me, rel)
    R, t = pairs[..., :3, :3], pairs[..., :3, 3:4]
    torch.manual_seed(SEED)
    pert = torch.randn_like(t)
    torch.manual_seed(SEED)
    t = cam.add_small_perturbation(me, t, epsilon=1e-6)
    Fm = cam.get_fundamental_matrix(me, Kt.unsqueeze(1), R, t)
    # upstream's mask builds its pixel grid in float32: it is only ever given float32 matrices
    masks = {d: cam.get_epipolar_mask(me, Fm.float(), T, H // d, W // d, d) for d in (8, 16)}
    np.savez_compressed(
        f"{out_dir}/epipolar_masks.npz",
        perturbation=(pert * 1e-6).numpy(),
        fundamental=Fm[0].numpy(),
        mask_8=masks[8][0].numpy(),
        mask_16=masks[16][0].numpy(),
    )

    # 3. the pose encoder (tiny: downscale 4, widths 16/32/32/32, published flags), fed the rays above
    from CameraControl.CamI2V.camera_pose_encoder import CameraPoseEncoder

    pe_cfg = pose_encoder_config(downscale_factor=4, channels=[16, 32, 32, 32], nums_rb=2, cin=96, heads=8)
    enc = CameraPoseEncoder(**pe_cfg).eval()
    enc.load_state_dict({k: torch.from_numpy(v) for k, v in seeded_state(_shapes(enc)).items()}, strict=False)
    with torch.no_grad():
        feats = enc(rays)
    np.savez_compressed(
        f"{out_dir}/pose_encoder.npz",
        config=json.dumps(pe_cfg),
        **{f"feature_{i}": rearrange(f, "(b f) c h w -> b c f h w", b=1)[0].numpy() for i, f in enumerate(feats)},
    )

    # 4. one temporal block of each kind, upstream's modified forwards (dim 16, 2 heads, 4x4 latent, 4 frames)
    _blocks(upstream, out_dir, masks[8], rt, torch, rearrange)

    # 5. the published layouts: every camera key and shape, from upstream's modules built on the meta device
    _published_keys(out_dir, torch)
    print("fixtures written to", out_dir)


def _shapes(module) -> dict:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _blocks(upstream, out_dir, mask8, rt, torch, rearrange):
    from CameraControl.cameractrl import cameractrl_modified_modules as cameractrl_mm
    from CameraControl.CamI2V import cami2v_modified_modules as cami2v_mm
    from CameraControl.CamI2V.epipolar import Epipolar
    from CameraControl.motionctrl import motionctrl_modified_modules as motionctrl_mm
    from lvdm.modules.attention import BasicTransformerBlock

    dim, heads, h, w = 16, 2, H // 8, W // 8
    rng = np.random.default_rng(SEED + 1)
    x = torch.from_numpy(rng.standard_normal((h * w, T, dim)))
    pose = torch.from_numpy(rng.standard_normal((1, dim, T, h, w)))
    out = {"x": x.numpy(), "pose": pose.numpy()}

    def block(mm):
        b = BasicTransformerBlock(dim, heads, dim // heads, context_dim=None, checkpoint=False).eval()
        b.forward = mm.new_forward_for_BasicTransformerBlock_of_TemporalTransformer.__get__(b)
        b._forward = mm.new__forward_for_BasicTransformerBlock_of_TemporalTransformer.__get__(b)
        return b

    # CamI2V: attn1, attn2 and ff silenced, so the block returns x + the camera residual exactly
    b = block(cami2v_mm)
    b.add_module("pluker_projection", torch.nn.Linear(dim, dim))
    b.add_module("epipolar", Epipolar(dim, dim, heads, origin_h=H, origin_w=W, num_register_tokens=2))
    cam_keys = {k: s for k, s in _shapes(b).items() if k.startswith(("pluker_projection", "epipolar"))}
    b.load_state_dict({k: torch.from_numpy(v) for k, v in seeded_state(cam_keys).items()}, strict=False)
    for lin in (b.attn1.to_out[0], b.attn2.to_out[0], b.ff.net[2]):
        torch.nn.init.zeros_(lin.weight)
        torch.nn.init.zeros_(lin.bias)
    cond = {
        "pluker_embedding_features": pose,
        "sample_locs_dict": {8: mask8},
        "cond_frame_index": torch.zeros(1),
        "add_type": "add_to_main_branch",
        "h": h,
        "w": w,
    }
    with torch.no_grad():
        out["cami2v_residual"] = (b(x, camera_condition=cond) - x).numpy()
        feats = rearrange(
            b.norm1(x) + rearrange(pose, "b c f h w -> (b h w) f c"), "(b h w) f c -> b f c h w", h=h, w=w
        )
        out["epipolar_out"] = b.epipolar(feats, sample_locs_dict={8: mask8}).numpy()

    # CameraCtrl: the temporal self-attention's input, caught as it enters attn1
    b = block(cameractrl_mm)
    b.add_module("cc_projection", torch.nn.Linear(dim, dim))
    b.load_state_dict(
        {
            k: torch.from_numpy(v)
            for k, v in seeded_state({"cc_projection.weight": (dim, dim), "cc_projection.bias": (dim,)}).items()
        },
        strict=False,
    )
    seen = {}
    b.attn1.register_forward_pre_hook(lambda m, a, kw: seen.__setitem__("in", a[0].clone()), with_kwargs=True)
    with torch.no_grad():
        b(x, camera_condition={"pluker_embedding_features": pose})
    out["cameractrl_attn1_input"] = seen["in"].numpy()

    # MotionCtrl: cc_projection's input (attn1's output + x, then RT) and output
    b = block(motionctrl_mm)
    b.add_module("cc_projection", torch.nn.Linear(dim + 12, dim))
    b.load_state_dict(
        {
            k: torch.from_numpy(v)
            for k, v in seeded_state({"cc_projection.weight": (dim, dim + 12), "cc_projection.bias": (dim,)}).items()
        },
        strict=False,
    )
    b.cc_projection.register_forward_hook(lambda m, a, o: seen.update(cc_in=a[0].clone(), cc_out=o.clone()))
    with torch.no_grad():
        b(x, camera_condition={"RT": rt})
    out["motionctrl_hidden"] = seen["cc_in"][..., :dim].numpy()
    out["motionctrl_rt"] = rt[0].numpy()
    out["motionctrl_out"] = seen["cc_out"].numpy()
    np.savez_compressed(f"{out_dir}/blocks.npz", **out)


def _published_keys(out_dir, torch):
    """Camera keys and shapes of the published models, by upstream's own selection of temporal blocks."""
    from CameraControl.CamI2V.camera_pose_encoder import CameraPoseEncoder
    from CameraControl.CamI2V.epipolar import Epipolar
    from lvdm.modules.networks.openaimodel3d import UNetModel

    unet_cfg = unet_config(temporal_length=16, **PUBLISHED_UNET_256)
    pe_cfg = pose_encoder_config(downscale_factor=8, channels=[320, 640, 1280, 1280], nums_rb=2, cin=384, heads=8)
    result = {}
    with torch.device("meta"):
        pose = {"pose_encoder." + k: list(v.shape) for k, v in CameraPoseEncoder(**pe_cfg).state_dict().items()}
        for name, epi in (
            ("cami2v-256", dict(origin_h=256, origin_w=256)),
            ("cami2v-512", dict(origin_h=320, origin_w=512)),
            ("cameractrl-256", None),
            ("motionctrl-256", None),
        ):
            unet = UNetModel(**unet_cfg)
            init_width = unet.init_attn[0].proj_in.out_channels  # a Conv1d there
            keys = dict(pose) if not name.startswith("motionctrl") else {}
            for path, m in unet.named_modules():
                if type(m).__name__ != "BasicTransformerBlock" or m.context_dim is not None:
                    continue  # upstream's rule: temporal blocks have no cross-attention context
                width = m.attn1.to_k.in_features
                if name.startswith("motionctrl"):
                    m.add_module("cc_projection", torch.nn.Linear(m.attn2.to_k.in_features + 12, width))
                elif width == init_width:
                    continue  # CamI2V and CameraCtrl skip init_attn, by its width
                elif name.startswith("cameractrl"):
                    m.add_module("cc_projection", torch.nn.Linear(width, width))
                else:
                    m.add_module("pluker_projection", torch.nn.Linear(width, width))
                    m.add_module("epipolar", Epipolar(width, width, m.attn1.heads, num_register_tokens=4, **epi))
                for k, v in m.state_dict().items():
                    if k.startswith(("cc_projection", "pluker_projection", "epipolar")):
                        keys[f"model.diffusion_model.{path}.{k}"] = list(v.shape)
            result[name] = keys
    with open(f"{out_dir}/published_keys.json", "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=0, sort_keys=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    main(os.path.abspath(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else f"{here}/../../tests/fixtures/camera")
