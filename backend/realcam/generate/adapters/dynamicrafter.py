"""DynamiCrafter and the camera models on it (MotionCtrl, CameraCtrl, CamI2V, RealCam-I2V): 16 frames, DDIM.

Latents are (1, 4, 16, H/8, W/8), the SD VAE's means times 0.18215, one latent frame per frame. The
sampler is upstream's DDIM; its per-step `sigma` is the latents' noise std sqrt(1 - alpha_bar(t)) and
a clean latent is noised as sqrt(alpha_bar) z + sigma eps (upstream's q_sample).

Noise shaping as upstream runs it (CamI2V's realcam_i2v.py and samplers/ddim.py):
- the level of a step is t / 1000 on the model's own schedule, so the default threshold 0.9 is
  upstream's `noise_shaping_minimum_timesteps` 900: t = 999, 959, 919, 3 of 25 steps, on the 256 model
  and on the zero-SNR 512 model alike (there t = 999 has alpha_bar = 0: its shaping is pure noise);
- the mask is the eroded coverage resampled to the latent grid bilinearly with align_corners=True, a
  cell kept where that value is >= 0.9 (upstream's rule; realcam_core.masks' default is the area rule);
- latent frame 0 is the photo's clean latent (the engine pastes the photo into the scene video) and is
  shaped like the others: upstream's scene mask covers frame 0 too.

The camera (MotionCtrl, CameraCtrl, CamI2V, RealCam-I2V), per job in prepare_conditions: the engine's per-frame
K and c2w are made relative to frame 0 and their translations scaled into the units the model was trained on
(realcam_core.camera_scale: RealCam-I2V metric, the others RealEstate10K units by the photo's near depth, the
bundle's `camera_scale` over either); K is the bundle's, except for MotionCtrl, which is not told the lens. The
pipeline turns that into rays -> pose features and epipolar masks (or MotionCtrl's [R | t]) once, for every
step and both guidance passes. `camera_record` says what entered, for result.json.
"""

from __future__ import annotations

import os

import numpy as np

from realcam_core.models import (
    CAMERACTRL_256,
    CAMI2V_256,
    CAMI2V_512,
    DYNAMICRAFTER_256,
    DYNAMICRAFTER_512,
    MOTIONCTRL_256,
    OPENCLIP_TOKENIZER,
    REALCAM_I2V_256,
    REALCAM_I2V_512,
    known_model,
)

from ...errors import UserError
from .base import VideoAdapter

BASE_FILE = "model.ckpt"
TOKENIZER_DIR = "tokenizer"
SPECS = {
    (s.camera, s.variant): s
    for s in (
        DYNAMICRAFTER_256,
        DYNAMICRAFTER_512,
        MOTIONCTRL_256,
        CAMERACTRL_256,
        CAMI2V_256,
        CAMI2V_512,
        REALCAM_I2V_256,
        REALCAM_I2V_512,
    )
}


def folder_spec(folder: str):
    """The spec of a local folder holding DynamiCrafter's published files, or None if it holds none."""
    if not os.path.isfile(os.path.join(folder, BASE_FILE)):
        return None
    from dataclasses import replace

    from ..dynamicrafter.checkpoint import CheckpointError, detect_variant, read_state
    from ..dynamicrafter.config import read_folder_config

    try:
        cfg = read_folder_config(folder)
        variant = cfg.variant if cfg else detect_variant(read_state(os.path.join(folder, BASE_FILE)))
    except (CheckpointError, ValueError) as e:
        raise UserError(f"{folder}: not a usable DynamiCrafter model folder: {e}") from None
    camera = _folder_camera(folder)[0]
    spec = SPECS.get((camera, variant))
    if spec is None:
        raise UserError(f"{folder}: a {camera} camera on the {variant} model is not one of the published models")
    if camera:
        spec = replace(spec, name=f"{spec.name} (local)")
    if cfg is not None and cfg.frames != spec.max_frames:  # a smaller test model states its own frame count
        spec = replace(spec, min_frames=cfg.frames, max_frames=cfg.frames)
    return spec


def _folder_camera(folder: str) -> tuple[str, dict | None]:
    """(the camera model its dynamicrafter.json names, the camera sizes it states) of a local folder."""
    import json

    path = os.path.join(folder, "dynamicrafter.json")
    if not os.path.isfile(path):
        return "", None
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return str(data.get("camera", "")), data.get("camera_config")


def _camera_config(folder: str | None, spec):
    """The camera sizes: a folder's own (the tiny models), else the published ones of spec's camera."""
    from ..dynamicrafter.camera.config import config_from_json, published_config

    if not spec.camera:
        return None
    sizes = _folder_camera(folder)[1] if folder else None
    try:
        return config_from_json(sizes) if sizes else published_config(spec.camera, spec.variant)
    except (TypeError, ValueError) as e:
        raise UserError(f"{folder or spec.name}: its camera configuration is not usable: {e}") from None


def _download_hint(model_id: str) -> str:
    m = known_model(model_id)
    alias = m.alias if m else model_id
    return f"on a machine with internet run `realcam download {alias}` and copy the Hugging Face cache (or set HF_HOME)"


def _hub_file(repo_id: str, filename: str, model_id: str) -> str:
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo_id, filename)
    except Exception as e:
        raise UserError(
            f"{repo_id}/{filename}, needed by {model_id}, is not available ({type(e).__name__}): not in the Hugging "
            f"Face cache and it could not be downloaded (offline?); {_download_hint(model_id)}"
        ) from None


def _tokenizer_folder(model_id: str) -> str:
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(OPENCLIP_TOKENIZER.repo_id, allow_patterns=list(OPENCLIP_TOKENIZER.files))
    except Exception as e:
        raise UserError(
            f"the OpenCLIP tokenizer ({OPENCLIP_TOKENIZER.repo_id}) needed by {model_id} is not available "
            f"({type(e).__name__}); {_download_hint(model_id)}"
        ) from None


def model_files(model_id: str, spec) -> dict:
    """base, camera (or None), tokenizer paths and the architecture, for a local folder or a known model."""
    from ..dynamicrafter.config import VARIANTS, read_folder_config

    if os.path.isdir(model_id):
        cams = sorted(f for f in os.listdir(model_id) if f.endswith(".safetensors"))
        if spec.camera and len(cams) != 1:
            raise UserError(
                f"{model_id}: a {spec.camera} model folder needs exactly one .safetensors camera checkpoint"
            )
        tok = os.path.join(model_id, TOKENIZER_DIR)
        return {
            "base": os.path.join(model_id, BASE_FILE),
            "camera": os.path.join(model_id, cams[0]) if spec.camera else None,
            "tokenizer": tok if os.path.isdir(tok) else _tokenizer_folder(model_id),
            "config": read_folder_config(model_id) or VARIANTS[spec.variant],
            "camera_config": _camera_config(model_id, spec),
        }
    m = known_model(model_id)
    if m is None:
        raise UserError(f"{model_id}: not a known DynamiCrafter model nor a local folder")
    bases = [r for r in m.requires if r.files == (BASE_FILE,)]
    base = _hub_file(bases[0].repo_id, BASE_FILE, model_id) if bases else _hub_file(m.repo_id, BASE_FILE, model_id)
    return {
        "base": base,
        "camera": _hub_file(m.repo_id, m.files[0], model_id) if bases else None,
        "tokenizer": _tokenizer_folder(model_id),
        "config": VARIANTS[spec.variant],
        "camera_config": _camera_config(None, spec),
    }


class DynamiCrafterAdapter(VideoAdapter):
    family = "dynamicrafter"

    def __init__(self, spec):
        super().__init__(spec)
        from ..dynamicrafter.config import VARIANTS
        from ..dynamicrafter.schedule import DDIMScheduler

        self.has_camera_condition = bool(spec.camera)
        self._schedule = DDIMScheduler(VARIANTS[spec.variant or "256"].sampling)

    def load(self, model_id, device, dtype, offload, vae_tiling):
        from ..dynamicrafter.checkpoint import CheckpointError
        from ..dynamicrafter.load import load_pipeline

        files = model_files(model_id, self.spec)
        try:
            pipe = load_pipeline(
                files["base"],
                files["tokenizer"],
                files["camera"],
                self.spec.camera,
                files["config"],
                dtype,
                files["camera_config"],
            )
        except CheckpointError as e:
            raise UserError(f"{model_id}: {e}") from None
        if vae_tiling:
            pipe.vae.enable_tiling()
        return pipe

    def latent_shape(self, pipe, frames, height, width):
        s = pipe.vae_scale_factor
        return (1, pipe.config.unet.out_channels, frames, height // s, width // s)

    def encode_preview(self, pipe, video, generator):
        return pipe.encode_latents(video)

    def reference_latent_frames(self) -> list[int]:
        """None: the photo enters through the concatenated latent and cross-attention; latent frame 0 is
        denoised like the others. The engine's scene video puts the photo's latent there and upstream shapes
        it toward that."""
        return []

    def latent_mask(self, pipe, mask, threshold):
        """Upstream's rule: bilinear resampling with align_corners=True, cells at or above the threshold.
        Frame 0 stays in: upstream shapes it (with the photo's latent)."""
        import torch
        import torch.nn.functional as F

        s = pipe.vae_scale_factor
        m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None]  # (1, F, H, W)
        grid = F.interpolate(m, (m.shape[-2] // s, m.shape[-1] // s), mode="bilinear", align_corners=True)
        return (grid >= threshold)[:, None]  # (1, 1, F, h, w)

    def noise(self, clean, eps, sigma):
        return self._schedule.noise_to(clean, eps, sigma)

    def noise_level(self, sigma):
        return self._schedule.level(sigma)

    def call_arguments(self, image, job):
        return {
            "image": image,
            "prompt": job.prompt,
            "negative_prompt": job.negative_prompt,
            "height": job.height,
            "width": job.width,
            "num_frames": job.model_frames,
            "num_inference_steps": job.steps,
            "guidance_scale": job.guidance,
            "fps": job.fps,
        }

    def prepare_conditions(self, pipe, image, job, cameras) -> bool:
        """The camera condition in the model's own convention; returns whether the model is told the camera."""
        self.camera_record = {}
        if not (self.spec.camera and job.camera_condition):
            pipe.clear_camera()
            return False
        intrinsics, rel, record = model_camera(self.spec.camera, job, cameras)
        used = pipe.prepare_camera(intrinsics, rel, job.height, job.width, seed=job.seed)
        if used and pipe.camera_hook is not None:
            record.update(pipe.camera_hook.condition.record)
        self.camera_record = record if used else {}
        return used

    def clear_conditions(self, pipe) -> None:
        pipe.clear_camera()


def model_camera(model: str, job, cameras):
    """(per-frame intrinsics, relative c2w in the model's units, what was used) for a camera model.

    Translation: settings.camera_scale (units per metre) if set, else the model's convention: RealCam-I2V was
    trained on metric moves (1 unit per metre); the RealEstate10K-trained models by the photo's near depth
    (job.depth_m, the bundle's depth.npy), or metres as units without one. Intrinsics: the bundle's, or for
    MotionCtrl (not told the lens) upstream's assumed 90 degrees across the long side of the photo as it
    was fitted (job.photo_size, the bundle's source.photo_size), recorded beside the bundle's."""
    from realcam_core.camera_scale import (
        CameraScaleError,
        camera_scale,
        convention,
        model_track,
        reach,
        upstream_inference_intrinsics,
    )

    conv = convention(model)
    try:
        scale = camera_scale(model, getattr(job, "depth_m", None), getattr(job, "camera_scale", None))
        rel = model_track(cameras[1], scale.units_per_metre)
    except CameraScaleError as e:
        raise UserError(str(e)) from None
    bundle_k = np.asarray(cameras[0], dtype=np.float64)
    k = bundle_k
    if conv.intrinsics != "bundle":
        a = upstream_inference_intrinsics(job.width, job.height, getattr(job, "photo_size", None))
        k = np.tile([a.fx, a.fy, a.cx, a.cy], (len(bundle_k), 1))
    record = {
        "model": model,
        "scale": scale.to_dict(),
        "reach_units": round(reach(rel), 6),
        "intrinsics": conv.intrinsics,
        "intrinsics_used": [round(float(v), 4) for v in k[0]],
    }
    if conv.intrinsics != "bundle":
        record["bundle_intrinsics"] = [round(float(v), 4) for v in bundle_k[0]]
        record["bundle_matches_assumed_lens"] = bool(np.allclose(bundle_k[:, :2], k[:, :2], rtol=1e-3))
    return k, rel, record
