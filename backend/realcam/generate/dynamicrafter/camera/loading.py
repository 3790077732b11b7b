"""The camera parts of a published checkpoint: their key names, and strict loading.

Upstream's demo loads `ckpts/*_50k.safetensors` into the whole Lightning module (strictly, else
merged over the DynamiCrafter base checkpoint), so keys are that module's attribute paths:

    pose_encoder.<CameraPoseEncoder keys>                                 CamI2V, RealCam-I2V, CameraCtrl
    model.diffusion_model.<block>.pluker_projection.{weight,bias}         CamI2V, RealCam-I2V
    model.diffusion_model.<block>.epipolar.epipolar_attn.{to_q,to_k,to_v}.weight,
        .to_out.0.{weight,bias}, .register_tokens                         CamI2V, RealCam-I2V
    model.diffusion_model.<block>.cc_projection.{weight,bias}             CameraCtrl (dim -> dim),
                                                                          MotionCtrl (dim + 12 -> dim)

with <block> each temporal block (config.camera_blocks), e.g. input_blocks.1.2.transformer_blocks.0,
middle_block.2.transformer_blocks.0, output_blocks.11.2.transformer_blocks.0, and for MotionCtrl also
init_attn.0.transformer_blocks.0. MotionCtrl was also trained with the temporal blocks' attn2
unfrozen: those keys have the base model's names and belong to the UNet loader, not here.
Whether the files hold the whole model or only the trained parts is not known from here; either
way `split_camera_state` takes out exactly the camera keys.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import block_camera
from .config import POSE_ENCODER_PREFIX, CameraConfig, camera_blocks
from .pose_encoder import CameraPoseEncoder, positional_table

CAMERA_MARKERS = (".pluker_projection.", ".epipolar.", ".cc_projection.")


class CameraCheckpointError(ValueError):
    """A checkpoint whose camera parts do not match the model's layout."""


def is_camera_key(key: str) -> bool:
    return key.startswith(POSE_ENCODER_PREFIX) or any(m in key for m in CAMERA_MARKERS)


def split_camera_state(state: dict) -> tuple[dict, dict]:
    """(camera keys, everything else) of a state dict."""
    cam = {k: v for k, v in state.items() if is_camera_key(k)}
    return cam, {k: v for k, v in state.items() if k not in cam}


class CameraParts(nn.Module):
    """Every camera module of one model: the pose encoder (if any) and one module per temporal block.

    `state_dict_upstream()` gives them under the published key names."""

    def __init__(self, cfg: CameraConfig, unet):
        super().__init__()
        self.cfg = cfg
        self.blocks_layout = camera_blocks(cfg.kind, unet)
        self.pose_encoder = CameraPoseEncoder(cfg.pose_encoder) if cfg.pose_encoder is not None else None
        self.blocks = nn.ModuleList(block_camera(cfg, b) for b in self.blocks_layout)

    def named_upstream(self):
        """(published prefix, module) pairs."""
        if self.pose_encoder is not None:
            yield POSE_ENCODER_PREFIX, self.pose_encoder
        for layout, module in zip(self.blocks_layout, self.blocks, strict=True):
            yield layout.key_prefix, module

    def upstream_keys(self) -> list[str]:
        return [p + k for p, m in self.named_upstream() for k in m.state_dict()]

    def state_dict_upstream(self) -> dict:
        return {p + k: v for p, m in self.named_upstream() for k, v in m.state_dict().items()}

    def load_upstream(self, state: dict) -> None:
        """Fill every camera module from `state` strictly (camera keys only; others are not looked at).

        Missing or unexpected camera keys, or a shape that differs, raise CameraCheckpointError naming
        them. The positional tables (`...pos_encoder.pe`) are fixed sin/cos buffers: one that is absent
        keeps its computed value, one that is present must equal it."""
        cam, _ = split_camera_state(state)
        expected = set(self.upstream_keys())
        missing = sorted(k for k in expected - set(cam) if not k.endswith(".pos_encoder.pe"))
        unexpected = sorted(set(cam) - expected)
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing ({_sample(missing)})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected ({_sample(unexpected)})")
        own = self.state_dict_upstream()
        shapes = [
            f"{k}: {tuple(v.shape)} != {tuple(own[k].shape)}"
            for k, v in cam.items()
            if k in own and tuple(v.shape) != tuple(own[k].shape)
        ]
        if shapes:
            problems.append(f"{len(shapes)} of another shape ({_sample(shapes)})")
        for k in cam:
            if k.endswith(".pos_encoder.pe") and k in own and not shapes:
                table = positional_table(own[k].shape[-1], own[k].shape[-2])
                if not torch.allclose(cam[k].float().cpu(), table, atol=1e-4):
                    problems.append(f"{k} is not the sinusoidal table")
        if problems:
            raise CameraCheckpointError(
                f"the checkpoint's camera parts do not fit a {self.cfg.kind} model: " + "; ".join(problems)
            )
        for prefix, module in self.named_upstream():
            sub = {k[len(prefix) :]: v for k, v in cam.items() if k.startswith(prefix)}
            for name, buf in module.named_buffers():
                sub.setdefault(name, buf)
            module.load_state_dict(sub, strict=True)


def _sample(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (", ..." if len(keys) > n else "")
