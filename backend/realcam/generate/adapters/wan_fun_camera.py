"""Wan2.2-Fun-5B-Control-Camera (VideoX-Fun): Wan 2.2 TI2V-5B told the camera through Plücker rays.

The model is the TI2V-5B transformer taking 100 input channels (48 noisy
latents, a 4-channel first-frame mask, the 48 latents of the video
[photo, grey, grey, ...]) plus a camera adapter whose features are added after
patch embedding (camera_control.py). Everything else is Wan 2.2 TI2V-5B's
(VAE, UMT5 text encoder, tokenizer, flow scheduler), so those parts come from
the diffusers TI2V-5B repository and only the transformer is read from the
published files (wan_checkpoint.py). diffusers' own TI2V pipeline drives it:
it already keeps latent frame 0 as the photo's latent and gives its tokens
timestep 0, as VideoX-Fun's pipeline does. Noise shaping works on the same
48-channel latents as for TI2V-5B, so everything but loading and the job's
conditions is WanAdapter's.

Published layout (VideoX-Fun's format; read from upstream's code and config,
the model card could not be read from here), of which only the first two are
read:

    config.json                          original Wan config keys (dim, num_heads, in_dim, ...)
    *.safetensors                        original Wan names + control_adapter.*
    Wan2.2_VAE.pth, models_t5_umt5-xxl-enc-bf16.pth, google/umt5-xxl/
                                         not read: the diffusers TI2V-5B parts are used instead

A local folder in that layout may also hold those parts as diffusers
subfolders (vae/, text_encoder/, tokenizer/, scheduler/, e.g. links into a
downloaded Wan2.2-TI2V-5B-Diffusers); each one missing comes from the Hugging
Face cache. That the published .pth VAE and text encoder are the same weights
as the diffusers repository's is assumed (VideoX-Fun trains with both frozen),
not checked.

Camera scale. VideoX-Fun feeds translations as they are, in the units of its
training poses (its demo moves are 1.5-3 units, its ComfyUI nodes 1.5 x a
speed: RealEstate10K-like units, in which nearby geometry is about one unit
away). The bundle's metres are divided by the photo's near depth (5th
percentile of its metric depth) unless `settings.camera_scale` says otherwise
(realcam_core.camera_scale); without a depth map metres enter as units.
`camera_record` holds what was used, for result.json.

Sampler. Default: FlowMatchEuler with shift 5, upstream's own (VideoX-Fun's
5B camera example: 50 steps, guidance 6, both also this model's defaults), so a
default run samples as upstream's demo does; and Euler keeps no multistep state,
so noise shaping's replaced latents are used as they are, with none of UniPC's
traps (facts: its corrector and second-order predictor look back at the
latents before replacement). UniPC (the TI2V repository's scheduler, flow
shift 5) stays available as `settings.sampler = "unipc"`: a higher-order solver
for runs with fewer steps, with the corrector workarounds of WanAdapter.
"""

from __future__ import annotations

import os

from realcam_core.models import WAN22_TI2V_5B_REPO

from ...errors import UserError
from ..wan_checkpoint import build_transformer, read_folder, split_adapter
from .wan import WanAdapter

# Part -> (subfolder, the file that marks it present).
BASE_PARTS = {
    "vae": ("vae", "config.json"),
    "text_encoder": ("text_encoder", "config.json"),
    "tokenizer": ("tokenizer", "tokenizer_config.json"),
    "scheduler": ("scheduler", "scheduler_config.json"),
}
MASK_CHANNELS = 4  # the first-frame mask, one channel per pixel frame of a latent frame
FLOW_EULER, UNIPC = "flow-euler", "unipc"
DEFAULT_SAMPLER = FLOW_EULER
# VideoX-Fun's config/wan2.2/wan_civitai_5b.yaml scheduler_kwargs, as its 5B camera example builds the scheduler.
FLOW_EULER_CONFIG = dict(
    num_train_timesteps=1000,
    shift=5.0,
    use_dynamic_shifting=False,
    base_shift=0.5,
    max_shift=1.15,
    base_image_seq_len=256,
    max_image_seq_len=4096,
)


def select_sampler(pipe, name: str | None) -> str:
    """Make the named sampler (None: the default) the pipeline's scheduler; returns the name used."""
    name = name or DEFAULT_SAMPLER
    samplers = pipe.realcam_samplers
    if name not in samplers:
        raise UserError(f"sampler {name!r} is not one of this model's ({', '.join(samplers)})")
    pipe.scheduler = samplers[name]
    return name


def job_camera_scale(job):
    """The job's translation scale: settings.camera_scale, else from the photo's depth (job.depth_m, metres)."""
    from realcam_core.camera_scale import CameraScaleError, camera_scale

    try:
        return camera_scale("wan-fun-camera", getattr(job, "depth_m", None), getattr(job, "camera_scale", None))
    except CameraScaleError as e:
        raise UserError(str(e)) from None


def download_hint() -> str:
    return (
        "the backend never downloads by itself: run `realcam download wan2.2-fun-5b-camera` (the camera "
        "transformer, ~10 GB) and `realcam download wan2.2-ti2v-5b` (the VAE, text encoder and tokenizer it "
        f"shares, from {WAN22_TI2V_5B_REPO}), or download them on a machine with internet and copy the Hugging "
        "Face cache (or set HF_HOME)"
    )


def transformer_folder(model_id: str) -> str:
    """A local folder, or the cached (else downloaded) config and weights of a hub repository; never .pth files."""
    if os.path.isdir(model_id):
        return model_id
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(model_id, allow_patterns=["config.json", "*.safetensors"], ignore_patterns=["*/*"])
    except Exception as e:
        raise UserError(
            f"video model {model_id!r} is not downloaded ({type(e).__name__}): it is not in the Hugging Face "
            f"cache; {download_hint()}"
        ) from None


class WanFunCameraAdapter(WanAdapter):
    family = "wan-fun-camera"
    has_camera_condition = True

    def load(self, model_id, device, dtype, offload, vae_tiling):
        import torch
        from diffusers import (
            AutoencoderKLWan,
            FlowMatchEulerDiscreteScheduler,
            UniPCMultistepScheduler,
            WanImageToVideoPipeline,
        )
        from transformers import AutoTokenizer, UMT5EncoderModel

        from ..camera_control import attach, load_adapter

        folder = transformer_folder(model_id)
        try:
            state, config = read_folder(folder)
            wan, adapter_state = split_adapter(state)
            if not adapter_state:
                raise ValueError("it has no control_adapter weights: not a Control-Camera model")
            transformer = build_transformer(wan, config, dtype)
            attach(transformer, load_adapter(adapter_state, dtype))
        except (OSError, ValueError, RuntimeError) as e:
            raise UserError(f"{model_id}: the camera model's transformer could not be loaded: {e}") from None

        def part(name, cls, **kw):
            sub, marker = BASE_PARTS[name]
            local = os.path.isfile(os.path.join(folder, sub, marker))
            source = os.path.join(folder, sub) if local else WAN22_TI2V_5B_REPO
            try:
                # A local part by its own path: diffusers prefers a weights file at the root over the subfolder.
                return cls.from_pretrained(source, **kw) if local else cls.from_pretrained(source, subfolder=sub, **kw)
            except (OSError, ValueError) as e:
                raise UserError(
                    f"the {name} for {model_id} (from {source}) is not downloaded ({type(e).__name__}); "
                    f"{download_hint()}"
                ) from None

        # The Wan VAE is meant to run in float32 (bf16 shows banding); the rest in dtype.
        pipe = WanImageToVideoPipeline(
            transformer=transformer,
            vae=part("vae", AutoencoderKLWan, dtype=torch.float32),
            text_encoder=part("text_encoder", UMT5EncoderModel, dtype=dtype),
            tokenizer=part("tokenizer", AutoTokenizer),
            scheduler=FlowMatchEulerDiscreteScheduler(**FLOW_EULER_CONFIG),
            image_encoder=None,
            image_processor=None,
            transformer_2=None,
            boundary_ratio=None,
            expand_timesteps=True,  # TI2V: the photo is latent frame 0, its tokens at timestep 0
        )
        if vae_tiling:
            pipe.vae.enable_tiling()
        pipe.realcam_samplers = {FLOW_EULER: pipe.scheduler, UNIPC: part("scheduler", UniPCMultistepScheduler)}
        return pipe

    def prepare_job(self, pipe, job) -> None:
        """Per job, before the engine reads the schedule: the sampler the job asks for (settings.sampler)."""
        self.sampler = select_sampler(pipe, getattr(job, "sampler", None))

    def prepare_conditions(self, pipe, image, job, cameras) -> bool:
        """The 52 condition channels, and the camera track when the job asks for it; returns whether it is used."""
        import torch

        from ..camera_control import CameraTrack, control_of

        h, w, frames = job.height, job.width, job.model_frames
        img = pipe.video_processor.preprocess(image, height=h, width=w)[0].float()  # (3, H, W) in [-1, 1]
        video = torch.zeros(frames, 3, h, w)  # 0 is mid-grey: the frames still to make, as VideoX-Fun encodes them
        video[0] = img
        with torch.inference_mode():
            masked = self.encode_preview(pipe, video, None).float().cpu()  # (1, 48, F', h, w), normalised
        mask = torch.zeros(1, MASK_CHANNELS, *masked.shape[2:])
        mask[:, :, 0] = 1.0  # latent frame 0 is given (the photo), the rest is to be made
        use_camera = bool(job.camera_condition)
        track = None
        if use_camera:
            from realcam_core.camera_scale import convention, model_track, reach

            scale = job_camera_scale(job)
            rel = model_track(cameras[1], scale.units_per_metre)
            track = CameraTrack(cameras[0], rel, h, w)
            self.camera_record = {
                "scale": scale.to_dict(),
                "reach_units": round(reach(rel), 6),
                "intrinsics": convention("wan-fun-camera").intrinsics,
                "sampler": getattr(self, "sampler", None) or type(pipe.scheduler).__name__,
            }
        else:
            self.camera_record = {}
        control_of(pipe.transformer).set_job(torch.cat([mask, masked], dim=1), track)
        return use_camera

    def clear_conditions(self, pipe) -> None:
        from ..camera_control import control_of

        control_of(pipe.transformer).clear()
