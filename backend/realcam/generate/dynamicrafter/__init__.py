"""DynamiCrafter (Xing et al.), the base of the RealCam-I2V paper's table, written from upstream's description.

Upstream: ZGCTroy/CamI2V (lvdm/, CameraControl/, configs/inference/00*_*.yaml). Modules:

config       the 256x256 (eps) and 512x320 (v, zero terminal SNR, dynamic rescale) variants' settings
unet_blocks  residual blocks with temporal convs, down/upsampling, the time and frame-rate embeddings
attention    spatial (text + per-frame image cross-attention) and temporal transformers; camera hooks
unet         the 3D UNet
resampler    OpenCLIP image features -> 16 tokens per frame
clip         OpenCLIP ViT-H-14 text/image towers as transformers CLIPTextModel / CLIPVisionModel
vae          the SD VAE as diffusers AutoencoderKL
schedule     betas, zero-SNR rescale, uniform-trailing DDIM (eta, v-prediction, dynamic rescale)
checkpoint   reading the published files (weights_only pickles, safetensors), base | camera merge
load         the pipeline from those files, strictly
pipeline     DynamiCrafterPipeline: a diffusers-style call the engine drives

Camera (camera/, wired by camera/wiring.py): `camera.attach(model, unet, state, config)` loads a camera
model's parts strictly from the checkpoint keys that are not the base UNet's and registers each per-block
module on its temporal block under upstream's names (`...transformer_blocks.0.pluker_projection`,
`.epipolar`, `.cc_projection`), so the UNet's own state dict is upstream's. Per job the pipeline's
`prepare_camera(K, rel_c2w, height, width, seed)` builds the condition once and hands the UNet a `CameraHook`
(attention.py); every temporal block asks it for its first attention's input and a residual beside it
(`hook.attn1`: CameraCtrl's input n + cc_projection(n + pose); CamI2V's and RealCam-I2V's residual
pluker_projection(n + pose) + epipolar(...), upstream's "add_to_main_branch") and lets it rewrite the
features between its two attentions (`hook.after_attn1`: MotionCtrl's cc_projection([x, RT]), init_attn's
block included). `UNet3D.temporal_blocks()` yields (part, index, ds, block); a block's `Site` carries its
feature size, which picks the pose-encoder level (log2 ds; the middle block the last) and the epipolar mask.
Both guidance passes get the same hook, as upstream copies the camera condition into `uc`.
"""
