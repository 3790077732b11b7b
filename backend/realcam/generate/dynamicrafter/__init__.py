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

Camera injection points (for the camera modules in `camera/`, loaded through `camera.attach(kind, unet,
state, config)`; `state` holds the checkpoint's camera weights under their full upstream names):

1. Pose features into the temporal attention of the UNet's input, middle and output blocks (CameraCtrl,
   CamI2V, RealCam-I2V; upstream's modified `BasicTransformerBlock._forward` of TemporalTransformers, not
   of `init_attn`). `UNet3D.temporal_blocks()` yields (part, index, ds, block) for every temporal block
   ("init" for init_attn); a camera module adds its weights there under upstream's names
   (`block.cc_projection` for CameraCtrl and MotionCtrl, `block.pluker_projection` and `block.epipolar`
   for CamI2V / RealCam-I2V), so `model.diffusion_model.input_blocks.1.2.transformer_blocks.0.*` keys
   load strictly. At run time the pipeline passes a `CameraHook` (attention.py) to the UNet; each
   temporal block calls `hook.attn1_additions(block, normed, site)` with norm1(x) as
   (batch*h*w, frames, channels) and a `Site` (part, index, ds = latent downsampling 1/2/4/8, feature
   height/width, frames, batch), and gets (add to attn1's input, add to its output):
   - CameraCtrl: (cc_projection(normed + plucker_feature[log2 ds]), None);
   - CamI2V, add_type "add_into_temporal_attn": (pluker_projection(normed + f) + epipolar(...), None);
   - RealCam-I2V (add_type "add_to_main_branch"): (None, the same sum), added beside attn1's output.
   Upstream picks the pose encoder's level by log2(ds) (the middle block takes the last level) and hands
   the epipolar attention the feature map size (site.height, site.width).
2. Epipolar attention augments (never replaces) the temporal self-attention attn1 of those blocks, as
   above; the spatial transformers are untouched. Its masks depend on the feature size: build them per
   `site.ds` when the hook is made (pipeline.prepare_camera).
3. MotionCtrl's camera MLP joins between the temporal block's two self-attentions:
   `hook.after_attn1(block, x, site)` returns cc_projection(cat([x, RT_12])) for every temporal block,
   init_attn's included (upstream adds cc_projection to all of them and passes the camera to init_attn).
4. `hook.input_features()` (upstream's `features_adapter`, after input blocks 2, 5, 8, 11) is unused by
   the published camera models but kept as upstream's UNet has it.
The unconditional (guidance) pass gets the same hook, as upstream copies the camera condition into `uc`.
`pipeline.prepare_camera(intrinsics, c2w, height, width)` calls `camera.hook(intrinsics, c2w, height,
width, device=...)` once per job; intrinsics are (F, 4) fx, fy, cx, cy in pixels, c2w (F, 4, 4) relative
to frame 0 in OpenCV axes, at the scale the engine gives (the camera module applies its trained scale).
"""
