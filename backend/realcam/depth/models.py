"""Metric depth models through transformers: Depth Anything V2 metric and Depth Pro.

Pre- and post-processing are done here rather than by transformers' image
processors, which need torchvision for these models. The numbers follow those
processors: Depth Anything resizes so the short side reaches the model size
(a multiple of the patch), ImageNet normalisation, bicubic back to the image;
Depth Pro squashes to its square input, normalises to [-1, 1] and turns its
canonical inverse depth into metres with the focal length.

Weights come from the Hugging Face cache (model id) or a local folder, never the
network: `realcam download` fetches them. Code in a model repository is never
run (no trust_remote_code).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..runtime import hub_cache, pick_device, weights_from_cache_only


@dataclass(frozen=True)
class KnownDepthModel:
    alias: str
    repo_id: str
    licence: str
    note: str


# The authors of RealCam-I2V use the indoor (Hypersim, 20 m) Large model; it is
# the default. The Large and Base checkpoints are CC-BY-NC-4.0: for commercial
# work choose a Small one (Apache-2.0) or supply depth yourself.
KNOWN_MODELS = [
    KnownDepthModel(
        "da2-indoor-large",
        "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf",
        "CC-BY-NC-4.0",
        "authors' choice; rooms and near scenes up to 20 m",
    ),
    KnownDepthModel("da2-indoor-base", "depth-anything/Depth-Anything-V2-Metric-Indoor-Base-hf", "CC-BY-NC-4.0", ""),
    KnownDepthModel("da2-indoor-small", "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf", "Apache-2.0", ""),
    KnownDepthModel(
        "da2-outdoor-large",
        "depth-anything/Depth-Anything-V2-Metric-Outdoor-Large-hf",
        "CC-BY-NC-4.0",
        "streets and landscapes up to 80 m",
    ),
    KnownDepthModel("da2-outdoor-base", "depth-anything/Depth-Anything-V2-Metric-Outdoor-Base-hf", "CC-BY-NC-4.0", ""),
    KnownDepthModel("da2-outdoor-small", "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf", "Apache-2.0", ""),
    KnownDepthModel(
        "depth-pro", "apple/DepthPro-hf", "apple-amlr (see the model card)", "also estimates the field of view"
    ),
]
DEFAULT_DEPTH_MODEL = "da2-indoor-large"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resolve_model_id(name: str) -> str:
    for m in KNOWN_MODELS:
        if name == m.alias:
            return m.repo_id
    return name


def licence_of(model_id: str) -> str | None:
    for m in KNOWN_MODELS:
        if model_id in (m.alias, m.repo_id):
            return m.licence
    return None


@dataclass
class DepthPrediction:
    depth: np.ndarray  # (H, W) float32 metres, z-depth
    fov_x_degrees: float | None  # horizontal field of view, when the model predicts it


def _missing_weights_message(model_id: str, err: Exception) -> str:
    if os.path.isdir(model_id):
        return (
            f"depth model folder {model_id} could not be loaded ({type(err).__name__}: {err}); "
            "it must hold a transformers config.json and weights"
        )
    alias = next((m.alias for m in KNOWN_MODELS if m.repo_id == model_id), None)
    how = f"run `realcam download {alias}` (in Blender: Preferences > Download model), or on" if alias else "on"
    return (
        f"depth model {model_id!r} is not downloaded: it is not in the Hugging Face cache ({hub_cache()}), "
        f"and the backend never downloads weights by itself: {how} a machine with internet run "
        f"`hf download {model_id}` and copy the cache over (or set HF_HOME); or pass --model with a local "
        "folder, or supply your own depth with --depth-map"
    )


class DepthModel:
    """A loaded metric depth model; `predict` runs it on one RGB image."""

    def __init__(self, model_id: str, device: str | None = None):
        import torch
        from transformers import AutoConfig, AutoModelForDepthEstimation

        weights_from_cache_only()
        self.model_id = resolve_model_id(model_id)
        try:
            config = AutoConfig.from_pretrained(self.model_id, trust_remote_code=False, local_files_only=True)
        except (OSError, ValueError) as e:
            raise UserError(_missing_weights_message(self.model_id, e)) from None
        self.kind = config.model_type
        if self.kind == "depth_anything":
            if getattr(config, "depth_estimation_type", "relative") != "metric":
                raise UserError(
                    f"depth model {self.model_id!r} predicts relative depth, not metres; "
                    "use a Depth Anything V2 *Metric* checkpoint"
                )
        elif self.kind != "depth_pro":
            raise UserError(
                f"depth model {self.model_id!r} is a {self.kind!r} model; "
                "supported: Depth Anything V2 metric, Depth Pro"
            )
        self.device = pick_device(device)
        self.dtype = torch.float16 if self.device == "cuda" else torch.float32
        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(
                self.model_id, trust_remote_code=False, dtype=self.dtype, local_files_only=True
            )
        except (OSError, ValueError) as e:
            raise UserError(_missing_weights_message(self.model_id, e)) from None
        self.model.eval().to(self.device)
        self.pre = self._preprocessor_config()

    def _preprocessor_config(self) -> dict:
        # The processor's JSON (resize target, normalisation) travels with the
        # weights; read it without instantiating the torchvision processor.
        try:
            from transformers.utils import cached_file

            path = cached_file(
                self.model_id,
                "preprocessor_config.json",
                local_files_only=True,
                _raise_exceptions_for_missing_entries=False,
            )
        except (OSError, ValueError):
            path = None
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        return {}

    def predict(self, image_rgb: np.ndarray, focal_px: float | None = None) -> DepthPrediction:
        """Depth for an (H, W, 3) uint8 image. focal_px (pixels of that image), when
        known, sets Depth Pro's metric scale instead of its own field-of-view guess."""
        import torch

        with torch.inference_mode():
            if self.kind == "depth_anything":
                return self._predict_depth_anything(image_rgb)
            return self._predict_depth_pro(image_rgb, focal_px)

    def _to_tensor(self, image_rgb: np.ndarray, mean, std):
        import torch

        x = torch.from_numpy(np.array(image_rgb, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None].float() / 255.0
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        return (x - mean_t) / std_t

    def _predict_depth_anything(self, image_rgb: np.ndarray) -> DepthPrediction:
        import torch
        import torch.nn.functional as F

        h, w = image_rgb.shape[:2]
        size = self.pre.get("size", {"height": 518, "width": 518})
        target = min(size.get("height", 518), size.get("width", 518))
        multiple = int(self.pre.get("ensure_multiple_of", 14))
        scale = max(target / h, target / w)  # short side reaches the target
        nh = max(multiple, int(round(h * scale / multiple)) * multiple)
        nw = max(multiple, int(round(w * scale / multiple)) * multiple)
        x = self._to_tensor(
            image_rgb, self.pre.get("image_mean", IMAGENET_MEAN), self.pre.get("image_std", IMAGENET_STD)
        )
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False)
        out = self.model(pixel_values=x.to(self.device, self.dtype)).predicted_depth.float()
        depth = F.interpolate(out[:, None], size=(h, w), mode="bicubic", align_corners=False)[0, 0]
        depth = torch.clamp(depth, min=1e-3)
        return DepthPrediction(depth.cpu().numpy().astype(np.float32), None)

    def _predict_depth_pro(self, image_rgb: np.ndarray, focal_px: float | None) -> DepthPrediction:
        import torch
        import torch.nn.functional as F

        h, w = image_rgb.shape[:2]
        cfg = self.model.config
        side = int(round(cfg.patch_size / min(cfg.scaled_images_ratios)))  # 1536 for the released model
        x = self._to_tensor(image_rgb, self.pre.get("image_mean", (0.5,) * 3), self.pre.get("image_std", (0.5,) * 3))
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
        out = self.model(pixel_values=x.to(self.device, self.dtype))
        fov = getattr(out, "field_of_view", None)
        fov_deg = float(fov.reshape(-1)[0]) if fov is not None else None
        if fov_deg is not None and not (1.0 < fov_deg < 179.0 and math.isfinite(fov_deg)):
            fov_deg = None  # an untrained or confused head: do not use it
        if focal_px is None:
            f = 0.5 * w / math.tan(math.radians(fov_deg) / 2.0) if fov_deg else 0.5 * max(w, h)
        else:
            f = focal_px
        inv = out.predicted_depth.float()[:, None] * (w / f)
        inv = F.interpolate(inv, size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        depth = 1.0 / torch.clamp(inv, min=1e-4, max=1e4)
        return DepthPrediction(depth.cpu().numpy().astype(np.float32), fov_deg)
