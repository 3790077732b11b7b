"""DynamiCrafterPipeline: photo + prompt -> 16 frames, with the call interface of diffusers' video pipelines.

One call, as upstream's log_images + DDIMSampler run it:
1. context = [77 text tokens | 16 image tokens per frame]; the unconditional one has the negative prompt
   and the image tokens of a black image (zeros in [-1, 1]), as upstream's `uc`;
2. the photo's latent (VAE mean, times 0.18215) is concatenated to the noisy latents on channels, every
   frame (both for the conditional and the unconditional pass);
3. per step: eps/v of both passes, guidance, guidance rescale (0.7) against the conditional output,
   one DDIM step (schedule.py); `callback_on_step_end(pipe, i, t, {"latents": ...})` may replace the latents;
4. VAE decode per frame to float frames in [0, 1].
The camera (prepare_camera) reaches the UNet as a CameraHook for both passes, as upstream gives the
unconditional branch the same camera condition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .clip import encode_image, encode_text, token_ids
from .config import ModelConfig
from .schedule import DDIMScheduler

GUIDANCE_RESCALE = 0.7  # upstream's inference configs and demos
REFERENCE_FPS = 29.97  # RealEstate10K's clips; the 512 model's fps condition is this over the frame stride


@dataclass
class PipelineOutput:
    frames: np.ndarray  # (batch, frames, H, W, 3) float in [0, 1]


def rescale_guidance(guided, cond, factor: float):
    """Upstream's rescale_noise_cfg: match the guided output's std to the conditional one's, mixed by factor."""
    dims = list(range(1, cond.ndim))
    rescaled = guided * (cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
    return factor * rescaled + (1.0 - factor) * guided


def frame_condition(cfg: ModelConfig, fps: float) -> int:
    """The fs value for a video played at fps: the RealEstate10K frame stride it corresponds to (1..10, the
    range the camera models were trained on), or for the 512 model upstream's fps = 29.97 // stride."""
    stride = int(min(max(round(REFERENCE_FPS / max(fps, 1e-3)), 1), 10))
    return stride if cfg.sampling.fps_condition == "fs" else int(REFERENCE_FPS // stride)


class DynamiCrafterPipeline:
    def __init__(self, unet, vae, text_encoder, image_encoder, resampler, tokenizer, config: ModelConfig, camera=None):
        self.unet, self.vae, self.text_encoder = unet, vae, text_encoder
        self.image_encoder, self.resampler, self.tokenizer = image_encoder, resampler, tokenizer
        self.config = config
        self.camera = camera  # a camera module (attached to the UNet) or None
        self.camera_hook = None  # the job's CameraHook, set by the adapter
        self.scheduler = DDIMScheduler(config.sampling)
        self.vae_scale_factor = 2 ** (len(config.vae.ch_mult) - 1)
        self._device = torch.device("cpu")
        self._offload = "none"
        self._progress = {}

    # -- diffusers-like plumbing ------------------------------------------------
    @property
    def modules(self) -> dict:
        out = {
            "text_encoder": self.text_encoder,
            "image_encoder": self.image_encoder,
            "resampler": self.resampler,
            "vae": self.vae,
            "unet": self.unet,
        }
        if self.camera is not None and self.camera.has_weights:  # a pose encoder, outside the UNet
            out["camera"] = self.camera
        return out

    @property
    def _execution_device(self) -> torch.device:
        return self._device

    def to(self, device=None, dtype=None):
        if device is not None:
            self._device = torch.device(device)
        for name, m in self.modules.items():
            m.to(device=device, dtype=None if name == "vae" else dtype)
        return self

    def enable_model_cpu_offload(self, device="cuda"):
        """Each part moves to the device while it runs, then back (like diffusers' model offload)."""
        self._device, self._offload = torch.device(device), "model"
        for m in self.modules.values():
            m.to("cpu")

    def enable_sequential_cpu_offload(self, device="cuda"):
        from accelerate import cpu_offload

        self._device, self._offload = torch.device(device), "sequential"
        for m in self.modules.values():
            cpu_offload(m, execution_device=self._device)

    def set_progress_bar_config(self, **kwargs):
        self._progress.update(kwargs)

    def maybe_free_model_hooks(self):
        if self._offload == "model":
            for m in self.modules.values():
                m.to("cpu")

    def _use(self, *names):
        if self._offload == "model":
            for name, m in self.modules.items():
                m.to(self._device if name in names else "cpu")
        return [self.modules[n] for n in names]

    # -- conditions ---------------------------------------------------------------
    @torch.no_grad()
    def prepare_camera(self, intrinsics, rel_c2w, height: int, width: int, seed: int = 0) -> bool:
        """The job's camera condition, computed once: per frame (F, 4) fx, fy, cx, cy in pixels of height x width
        and (F, 4, 4) camera-to-world relative to frame 0 (OpenCV axes), translations already in the model's
        units (the adapter applies realcam_core.camera_scale). seed fixes the epipolar perturbation of zero
        translations. Returns whether the model uses the camera."""
        if self.camera is None:
            self.camera_hook = None
            return False
        if "camera" in self.modules:
            self._use("camera")
        self.camera_hook = self.camera.hook(intrinsics, rel_c2w, height, width, device=self._device, seed=seed)
        return True

    def clear_camera(self) -> None:
        self.camera_hook = None

    def _image_tensor(self, image, height, width):
        from PIL import Image

        if isinstance(image, torch.Tensor):
            return image.float()
        if not isinstance(image, Image.Image):
            image = Image.fromarray(np.asarray(image))
        image = image.convert("RGB")
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BICUBIC)
        x = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 127.5 - 1.0
        return x[None]

    @torch.no_grad()
    def encode_prompts(self, prompt: str, negative_prompt: str):
        (text,) = self._use("text_encoder")
        ids = token_ids(self.tokenizer, [prompt, negative_prompt], self.config.clip.context_length)
        emb = encode_text(text, ids.to(self._device))
        return emb[:1], emb[1:]

    @torch.no_grad()
    def encode_image_tokens(self, image):
        """(1, 3, H, W) in [-1, 1] -> (image tokens of the photo, of a black image), each (1, 16 * frames, d)."""
        enc, res = self._use("image_encoder", "resampler")
        x = torch.cat([image, torch.zeros_like(image)]).to(self._device, enc.dtype)
        tokens = res(encode_image(enc, x).to(next(res.parameters()).dtype))
        return tokens[:1], tokens[1:]

    @torch.no_grad()
    def encode_latents(self, video):
        """(F, 3, H, W) in [-1, 1] -> (1, 4, F, h, w): VAE means times the latent scale, as the UNet sees them."""
        (vae,) = self._use("vae")
        out = []
        for i in range(0, video.shape[0], 8):
            x = video[i : i + 8].to(self._device, vae.dtype)
            out.append(vae.encode(x).latent_dist.mode() * self.config.vae.scale_factor)
        return torch.cat(out).float().transpose(0, 1)[None]

    @torch.no_grad()
    def decode_latents(self, latents):
        (vae,) = self._use("vae")
        z = latents[0].transpose(0, 1) / self.config.vae.scale_factor  # (F, 4, h, w)
        frames = [
            vae.decode(z[i : i + 4].to(self._device, vae.dtype)).sample.float().cpu() for i in range(0, len(z), 4)
        ]
        video = torch.cat(frames)
        return ((video + 1.0) / 2.0).clamp(0, 1).permute(0, 2, 3, 1).numpy()[None]

    def denoise(self, x, t, context, concat, fs):
        unet = self._use("unet", *(["camera"] if "camera" in self.modules else []))[0]
        inp = torch.cat([x, concat], dim=1).to(self._device, next(unet.parameters()).dtype)
        ts = torch.full((x.shape[0],), int(t), device=self._device, dtype=torch.long)
        out = unet(inp, ts, context.to(inp.dtype), fs.to(self._device), camera=self.camera_hook)
        return out.float()

    # -- the call -------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        image,
        prompt: str = "",
        negative_prompt: str = "",
        height: int = 256,
        width: int = 256,
        num_frames: int = 16,
        num_inference_steps: int = 25,
        guidance_scale: float = 7.5,
        guidance_rescale: float = GUIDANCE_RESCALE,
        fps: float = 8.0,
        generator=None,
        latents=None,
        output_type: str = "np",
        callback_on_step_end=None,
        callback_on_step_end_tensor_inputs=("latents",),
    ):
        cfg = self.config
        if num_frames != cfg.frames:
            raise ValueError(f"this model makes exactly {cfg.frames} frames, not {num_frames}")
        photo = self._image_tensor(image, height, width)
        text, neg_text = self.encode_prompts(prompt, negative_prompt or "")
        img_tokens, black_tokens = self.encode_image_tokens(photo)
        cond = torch.cat([text, img_tokens], dim=1)
        uncond = torch.cat([neg_text, black_tokens], dim=1)
        concat = self.encode_latents(photo).repeat(1, 1, num_frames, 1, 1).to(self._device)
        fs = torch.tensor([frame_condition(cfg, fps)], dtype=torch.long)
        h, w = height // self.vae_scale_factor, width // self.vae_scale_factor
        shape = (1, cfg.unet.out_channels, num_frames, h, w)
        if latents is None:
            latents = torch.randn(shape, generator=generator, dtype=torch.float32)
        x = latents.to(self._device, torch.float32)

        sched = self.scheduler
        sched.set_timesteps(num_inference_steps)
        for i, t in enumerate(sched.timesteps.tolist()):
            out = self.denoise(x, t, cond, concat, fs)
            if guidance_scale != 1.0:
                uncond_out = self.denoise(x, t, uncond, concat, fs)
                guided = uncond_out + guidance_scale * (out - uncond_out)
                out = rescale_guidance(guided, out, guidance_rescale) if guidance_rescale > 0 else guided
            x, _ = sched.step(out, i, x, generator=generator)
            if callback_on_step_end is not None:
                result = callback_on_step_end(self, i, t, {"latents": x}) or {}
                x = result.get("latents", x).to(self._device, torch.float32)
        if output_type == "latent":
            return PipelineOutput(frames=x)
        return PipelineOutput(frames=self.decode_latents(x))
