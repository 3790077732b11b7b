"""A camera adapter inside a diffusers Wan transformer (the Wan2.2-Fun Control-Camera models).

`CameraAdapter` maps one latent frame's grouped Plücker rays (24 channels at
pixel resolution, realcam_core.plucker) to one feature per transformer token:
space-to-depth by the VAE's spatial factor s, a p x p stride-p convolution to
the model width (p = the patch, 2), then residual blocks of two 3x3
convolutions with a ReLU between them. Its parameter names are the published
checkpoints' (`control_adapter.conv.*`, `control_adapter.residual_blocks.N.conv1/conv2.*`),
so they load key for key.

`attach` makes the adapter the transformer's `control_adapter` submodule (so
.to(), CPU offload and state_dict() carry it) and hooks `patch_embedding`:

* before it, the job's condition channels (mask 4 + masked-video latents 48)
  are appended to the 48 noisy-latent channels diffusers' TI2V pipeline passes,
  giving the 100 channels the Fun model was trained on, in its order;
* after it, the camera features are added to the patch-embedded tensor
  (B, dim, F', h, w), before it is flattened into tokens, with no scale:
  where VideoX-Fun adds them.

The features depend only on the camera, so they are computed once per job at
the first forward (on whatever device the transformer runs then), one latent
frame at a time, and reused for every step and both guidance branches (the
negative branch sees the camera too, as upstream).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from realcam_core.plucker import latent_camera_input, latent_frame_sources

CAMERA_CHANNELS = 24  # 6 ray channels x 4 pixel frames per latent frame


class _ResidualBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class CameraAdapter(nn.Module):
    """(B, 24, F', H, W) grouped ray maps -> (B, dim, F', H / (s p), W / (s p)) token features."""

    def __init__(
        self, dim: int, downscale: int = 16, patch=(2, 2), in_channels: int = CAMERA_CHANNELS, blocks: int = 1
    ):
        super().__init__()
        self.downscale = downscale
        self.conv = nn.Conv2d(in_channels * downscale * downscale, dim, kernel_size=tuple(patch), stride=tuple(patch))
        self.residual_blocks = nn.Sequential(*(_ResidualBlock(dim) for _ in range(blocks)))

    @classmethod
    def shaped_like(cls, state: dict) -> CameraAdapter:
        """An (uninitialised) adapter with the shapes of `state` (keys without the control_adapter. prefix)."""
        w = state["conv.weight"]
        dim, packed = int(w.shape[0]), int(w.shape[1])
        downscale = math.isqrt(packed // CAMERA_CHANNELS)
        if CAMERA_CHANNELS * downscale * downscale != packed:
            raise ValueError(f"the camera adapter's first convolution takes {packed} channels, not 24 x s^2")
        blocks = len({k.split(".")[1] for k in state if k.startswith("residual_blocks.")})
        return cls(dim, downscale, tuple(w.shape[2:]), blocks=blocks)

    def forward(self, x):
        b, c, f, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * f, c, h, w)  # every latent frame alone
        y = self.residual_blocks(self.conv(F.pixel_unshuffle(frames, self.downscale)))
        return y.reshape(b, f, *y.shape[1:]).transpose(1, 2)


def load_adapter(state: dict, dtype=None) -> CameraAdapter:
    """The adapter holding `state` (names without the control_adapter. prefix), loaded strictly."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        adapter = CameraAdapter.shaped_like(state)
    adapter.load_state_dict(state, strict=True, assign=True)
    if dtype is not None:
        adapter.to(dtype)
    return adapter.eval()


@dataclass
class CameraTrack:
    """The cameras of every generated frame: (F, 4) fx, fy, cx, cy in pixels and (F, 4, 4) c2w."""

    intrinsics: np.ndarray
    c2w: np.ndarray
    height: int
    width: int


class CameraControl:
    """The per-job state the patch-embedding hooks read; one per transformer."""

    def __init__(self, transformer):
        self.transformer = transformer
        self.condition = None  # (1, C, F', h, w) channels appended to the noisy latents
        self.track: CameraTrack | None = None
        self._features = None

    def set_job(self, condition, track: CameraTrack | None) -> None:
        self.condition, self.track, self._features = condition, track, None

    def clear(self) -> None:
        self.set_job(None, None)

    def features(self, device):
        """(1, dim, F', h, w) camera features, computed on first use, one latent frame at a time."""
        if self._features is None or self._features.device != device:
            adapter, track = self.transformer.control_adapter, self.track
            dtype = next(adapter.parameters()).dtype
            out = []
            for k in range(len(latent_frame_sources(len(track.c2w)))):
                rays = latent_camera_input(track.intrinsics, track.c2w, track.height, track.width, k)
                x = torch.from_numpy(rays).to(device=device, dtype=dtype)[None, :, None]
                out.append(adapter(x))
            self._features = torch.cat(out, dim=2)
        return self._features

    # -- hooks on transformer.patch_embedding ----------------------------------
    def _append_condition(self, module, args):
        (x,) = args
        expected = module.in_channels
        if x.shape[1] == expected:
            return None
        if self.condition is None or x.shape[1] + self.condition.shape[1] != expected:
            raise RuntimeError(
                f"this transformer takes {expected} input channels and was given {x.shape[1]}: the job's "
                "condition channels (mask and masked-video latents) were not set"
            )
        cond = self.condition.to(device=x.device, dtype=x.dtype).expand(x.shape[0], -1, -1, -1, -1)
        return (torch.cat([x, cond], dim=1),)

    def _add_camera(self, module, args, out):
        if self.track is None:
            return None
        feats = self.features(out.device)
        if feats.shape[1:] != out.shape[1:]:
            raise RuntimeError(
                f"camera features {tuple(feats.shape)} do not fit the patch-embedded latents {tuple(out.shape)}"
            )
        return out + feats.to(out.dtype)


def attach(transformer, adapter: CameraAdapter) -> CameraControl:
    """Make `adapter` the transformer's control_adapter and hook patch_embedding for the job's conditions."""
    control = CameraControl(transformer)
    transformer.add_module("control_adapter", adapter)
    transformer.patch_embedding.register_forward_pre_hook(control._append_condition)
    transformer.patch_embedding.register_forward_hook(control._add_camera)
    transformer.realcam_camera_control = control
    return control


def control_of(transformer) -> CameraControl:
    return transformer.realcam_camera_control
