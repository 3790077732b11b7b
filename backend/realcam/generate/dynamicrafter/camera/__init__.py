"""Camera conditioning of the DynamiCrafter family: CamI2V, RealCam-I2V, CameraCtrl, MotionCtrl.

Read from ZGCTroy/CamI2V at c5d7b2f (CameraControl/*), written anew; parity with upstream's own
modules is frozen in tests/fixtures/camera (scripts/parity/camera_fixtures.py regenerates it).

config       published sizes per checkpoint; the UNet's temporal blocks and their key paths
pose_encoder CameraPoseEncoder (CamI2V's and CameraCtrl's: one design)
epipolar     fundamental matrices, epipolar masks, epipolar attention with register tokens
blocks       the per-block camera modules, and how a block calls them
condition    a job's condition: rays -> pose features, masks, or MotionCtrl's [R | t]
loading      the published key names; strict loading of the camera parts
wiring       attach(): the parts loaded and registered on the UNet's blocks; the per-job hook

What enters (realcam_core.camera_scale has the numbers and the reasons):

    model          translation (metres x)            intrinsics            rays / masks / RT
    RealCam-I2V    1 (trained metric; app slider 0.5) the bundle's K          rays + epipolar masks
    CamI2V         1 / near depth (RE10K units)       the bundle's K          rays + epipolar masks
    CameraCtrl     1 / near depth (RE10K units)       the bundle's K          rays
    MotionCtrl     1 / near depth (RE10K units)       none: assumes 90 deg    12-number [R | t] (w2c)
                                                      (preview rendered so)

Rays: realcam_core.plucker is CameraCtrl's `ray_condition` convention exactly (pixel centres at
+0.5, unit directions rotated by c2w, channels (o x d, d), poses relative to frame 0), so it is reused;
it computes in float32 planes where upstream uses the pose tensor's dtype (float32 in practice;
1.6e-7 from upstream's float64 in the parity test), and upstream makes poses relative to the
condition frame, which is frame 0 at inference.

Injection points in the base UNet (upstream's *_modified_modules.py), as wiring.py implements them:

1. UNet.forward takes `camera` (the job's wiring.DynamiCrafterCameraHook around a
   condition.CameraCondition, or None for plain DynamiCrafter) and hands it through each stage to
   every TemporalTransformer, which passes it to its block together with a Site holding the block's
   spatial size h, w (the latent size at that level). Both guidance branches get the same condition
   (upstream deep-copies it into the unconditional one; camera_cfg stays 1, so no third pass).
2. Which blocks: config.camera_blocks(kind, unet) lists them with their paths, widths, heads and
   pose feature: every temporal block of input_blocks (levels with attention), middle_block and
   output_blocks; MotionCtrl also init_attn.0 (the extra temporal attention after the first conv,
   width 8 heads x 64 = 512). The modules: loading.CameraParts(cfg, unet_config) builds them all,
   `.load_upstream(state_dict)` fills them strictly; blocks.attach_to_block(block, module) registers
   each on its block under upstream's names and keeps it as `block.camera`.
3. Pose feature of a block: condition.for_block(layout.feature), (B, C, F, h, w) with C = the
   block's width: feature int(log2(ds)) for input/output blocks at downsampling ds (0 at latent
   resolution, 320 wide; 1 at /2, 640; 2 at /4, 1280) and the last (3, /8, 1280) for middle_block.
4. Inside the temporal BasicTransformerBlock, hidden states x are (B*h*w, F, C), (b h w) ordered:
   * CamI2V / RealCam-I2V (add_to_main_branch):
         n = norm1(x)
         x = block.camera(n, pose, h, w, condition.masks) + attn1(n) + x
         x = attn2(norm2(x)) + x; x = ff(norm3(x)) + x
     The epipolar mask a block uses is upstream's masks[origin_h // h] (None: full attention); the hook
     hands it the mask of the block's own pixel stride, the same at the model's size, right at others.
   * CameraCtrl:
         n = norm1(x); x = attn1(block.camera(n, pose)) + x; attn2, ff as usual
   * MotionCtrl:
         x = attn1(norm1(x)) + x; x = block.camera(x, condition.rt); attn2, ff as usual
   With camera None the block is DynamiCrafter's own.
5. MotionCtrl's checkpoint also replaces the temporal blocks' attn2 weights (trained, base names).
6. Sizes and memory: the 256 models' finest epipolar mask is (F*32*32)^2 = 16384^2 booleans per
   batch item (256 MiB); the 512 models have no mask at the finest level (full attention there).
"""

from .blocks import CameraCtrlBlockCamera, CamI2VBlockCamera, MotionCtrlBlockCamera, attach_to_block
from .condition import CameraCondition, build_condition
from .config import CAMERACTRL, CAMI2V, MOTIONCTRL, VARIANTS, CameraConfig, camera_blocks, temporal_blocks
from .loading import CameraCheckpointError, CameraParts, split_camera_state
from .pose_encoder import CameraPoseEncoder
from .wiring import DynamiCrafterCamera, DynamiCrafterCameraHook, attach

__all__ = [
    "CAMERACTRL",
    "CAMI2V",
    "MOTIONCTRL",
    "VARIANTS",
    "CamI2VBlockCamera",
    "CameraCheckpointError",
    "CameraCondition",
    "CameraConfig",
    "CameraCtrlBlockCamera",
    "CameraParts",
    "CameraPoseEncoder",
    "DynamiCrafterCamera",
    "DynamiCrafterCameraHook",
    "MotionCtrlBlockCamera",
    "attach",
    "attach_to_block",
    "build_condition",
    "camera_blocks",
    "split_camera_state",
    "temporal_blocks",
]
