"""The camera parts wired into DynamiCrafter's UNet, and the hook that feeds them a job's condition.

`attach(model, unet, state, config)` builds the camera parts of a model ("realcam-i2v", "cami2v",
"cameractrl", "motionctrl"), fills them strictly from the checkpoint's camera keys and registers each
per-block module on its temporal block (so the UNet's own state dict carries upstream's key names). It
returns a `DynamiCrafterCamera`: the pose encoder (a module of its own, as upstream's `pose_encoder`)
and `hook(...)`, which computes a job's condition once and returns the `CameraHook` the UNet calls in
every temporal block (attention.TemporalBlock), for both guidance passes and every step:

    CamI2V, RealCam-I2V   attn1 input n, residual camera(n, pose, h, w, masks)   (add_to_main_branch)
    CameraCtrl            attn1 input camera(n, pose) = n + cc_projection(n + pose)
    MotionCtrl            after attn1: x = camera(x, RT) = cc_projection([x, RT]), init_attn's block too

Blocks without a camera module (init_attn for CamI2V and CameraCtrl) run as DynamiCrafter's own.
"""

from __future__ import annotations

import torch
from torch import nn

from ..attention import CameraHook, Site
from .blocks import attach_to_block
from .condition import CameraCondition, build_condition
from .config import CAMERACTRL, MOTIONCTRL, CameraConfig, kind_of, published_config
from .loading import CameraCheckpointError, CameraParts, split_camera_state


class DynamiCrafterCamera(nn.Module):
    """A model's camera once attached: its pose encoder (if any) and where its block modules sit."""

    def __init__(self, model: str, cfg: CameraConfig, parts: CameraParts, unet):
        super().__init__()
        self.model, self.cfg = model, cfg
        self.pose_encoder = parts.pose_encoder  # the only part outside the UNet
        self.layouts = list(parts.blocks_layout)
        for layout, module in zip(parts.blocks_layout, parts.blocks, strict=True):
            attach_to_block(unet.get_submodule(layout.path), module)  # the UNet's state dict now carries them
        # Which pose feature each block takes, by identity (the hook is handed the block itself).
        self._feature = {id(unet.get_submodule(b.path)): b.feature for b in self.layouts}

    @property
    def has_weights(self) -> bool:
        return self.pose_encoder is not None

    @torch.no_grad()
    def hook(self, intrinsics, rel_c2w, height: int, width: int, device="cpu", seed: int = 0, perturbation=None):
        """The job's hook: intrinsics (F, 4) fx, fy, cx, cy in pixels of height x width; rel_c2w (F, 4, 4)
        relative to frame 0, OpenCV axes, translations already in the model's units (camera_scale). seed (or
        a given perturbation, for parity tests) fixes the epipolar nudge of zero translations."""
        dtype = next(self.pose_encoder.parameters()).dtype if self.pose_encoder is not None else torch.float32
        cond = build_condition(
            self.cfg,
            self.pose_encoder,
            intrinsics,
            rel_c2w,
            height,
            width,
            seed=seed,
            device=device,
            dtype=dtype,
            perturbation=perturbation,
        )
        return self.hook_from(cond, height)

    def hook_from(self, condition: CameraCondition, height: int) -> DynamiCrafterCameraHook:
        """The hook for a condition already computed for a job of the given pixel height."""
        return DynamiCrafterCameraHook(self.cfg.kind, condition, self._feature, height)


class DynamiCrafterCameraHook(CameraHook):
    def __init__(self, kind: str, condition: CameraCondition, features: dict, height: int):
        self.kind, self.condition, self._feature, self.height = kind, condition, features, height

    def attn1(self, block, normed, site: Site):
        camera = getattr(block, "camera", None)
        if camera is None or self.kind == MOTIONCTRL:
            return normed, None
        pose = self.condition.for_block(self._feature.get(id(block)))
        if self.kind == CAMERACTRL:
            return camera(normed, pose), None
        return normed, camera(normed, pose, site.height, site.width, self._masks(camera, site))

    def _masks(self, camera, site: Site):
        """The block's epipolar mask, keyed as upstream's Epipolar looks it up (origin height // feature height).

        Masks are built per pixel stride of the job's size; at the model's own size this is upstream's lookup
        exactly, at another size the block still gets the mask of its own stride (or full attention where the
        model has none, as the 512 models at their finest level)."""
        masks = self.condition.masks
        epipolar = getattr(camera, "epipolar", None)
        if masks is None or epipolar is None:
            return None
        mask = masks.get(self.height // site.height)
        return None if mask is None else {epipolar.origin_h // site.height: mask}

    def after_attn1(self, block, x, site: Site):
        camera = getattr(block, "camera", None)
        if camera is None or self.kind != MOTIONCTRL:
            return x
        return camera(x, self.condition.rt)


def attach(model: str, unet, state: dict, config=None, camera_config: CameraConfig | None = None):
    """Build, load and wire the camera of `model` into `unet`.

    state: the checkpoint's weights that are not the base UNet's (full upstream names: pose_encoder.*,
    model.diffusion_model.<block>.pluker_projection.* ...). Keys that are no camera part are an error;
    the camera parts load strictly (missing, unexpected and misshapen keys named). camera_config: the
    sizes, when not the published ones (the tiny test models)."""
    kind = kind_of(model)
    cfg = camera_config or published_config(model, getattr(config, "variant", "256"))
    if cfg.kind != kind:
        raise CameraCheckpointError(f"a {model} model needs a {kind} camera configuration, not {cfg.kind}")
    cam, other = split_camera_state(state)
    if other:
        names = sorted(other)
        raise CameraCheckpointError(
            f"unexpected weights {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}: neither DynamiCrafter's "
            f"nor a {model} camera's"
        )
    parts = CameraParts(cfg, unet.cfg)
    _check_upstream_selection(parts, unet.cfg)
    parts.load_upstream(cam)
    return DynamiCrafterCamera(model, cfg, parts, unet)


def _check_upstream_selection(parts: CameraParts, unet_cfg) -> None:
    """Upstream picks CamI2V's and CameraCtrl's blocks as the temporal ones not as wide as init_attn: a UNet
    where another block has that width would lose its camera upstream, so such a layout is refused."""
    if parts.cfg.kind == MOTIONCTRL:
        return
    init_width = unet_cfg.init_attn_heads * unet_cfg.head_channels
    clash = [b.path for b in parts.blocks_layout if b.dim == init_width]
    if clash:
        raise CameraCheckpointError(
            f"temporal blocks {', '.join(clash)} are as wide as init_attn ({init_width}): upstream would give them "
            "no camera module; this UNet layout cannot carry a published camera"
        )
