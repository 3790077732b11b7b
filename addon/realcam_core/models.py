"""The image-to-video models the backend can run, and their limits (pure data, shared).

The add-on reads this to set resolution, frame rate and frame range for a model
without asking a backend; the backend's adapters run them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    """Limits of one model (a family's variant)."""

    name: str
    family: str
    native_sizes: tuple  # ((w, h), ...), first is the default
    size_multiple: int  # both sides must be multiples of this
    max_pixels: int
    max_frames: int
    temporal_factor: int  # pixel frames per latent frame (1 = per-frame VAE); counts are t*k+1
    native_fps: float
    default_steps: int
    default_guidance: float
    licence: str
    max_steps: int = 1000  # Wan's UniPC repeats integer timesteps past ~200 steps and fails
    fixed_guidance: float | None = None  # distilled to run at this guidance only: a bundle's guidance is not used

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["native_sizes"] = [list(x) for x in self.native_sizes]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        d = dict(d)
        d["native_sizes"] = tuple(tuple(x) for x in d["native_sizes"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def frame_count_for(self, n: int) -> int:
        """Smallest frame count the model can make that covers n frames."""
        t = self.temporal_factor
        if t <= 1:
            return max(n, 2)
        k = max(1, -(-(n - 1) // t))
        return t * k + 1

    def problems(self, width: int, height: int, frames: int, steps: int | None = None) -> list[str]:
        sizes = " or ".join(f"{w}x{h}" for w, h in self.native_sizes)
        allowed = (
            f"{self.name} makes videos of {sizes} (any size with sides multiple of {self.size_multiple} "
            f"and at most {self.max_pixels} pixels works, less well)"
        )
        out = []
        if width % self.size_multiple or height % self.size_multiple or width * height > self.max_pixels:
            out.append(f"{width}x{height} is not a size this model can make: {allowed}")
        if self.frame_count_for(frames) > self.max_frames:
            out.append(
                f"{frames} frames is longer than {self.name} can generate at once (at most {self.max_frames} "
                f"frames, {self.max_frames / self.native_fps:.1f} s at its native {self.native_fps:g} fps); "
                "shorten the frame range or split the shot"
            )
        if steps is not None and steps > self.max_steps:
            out.append(f"{steps} steps is more than {self.name} supports ({self.max_steps})")
        return out


WAN22_TI2V_5B = ModelSpec(
    name="Wan 2.2 TI2V-5B",
    family="wan",
    native_sizes=((1280, 704), (704, 1280)),
    size_multiple=32,
    max_pixels=1280 * 704,
    max_frames=121,
    temporal_factor=4,
    native_fps=24.0,
    default_steps=50,
    default_guidance=5.0,
    licence="Apache-2.0",
    max_steps=200,
)

# Wan 2.2 TI2V-5B with a camera adapter (VideoX-Fun): the same limits, and told the camera itself.
WAN22_FUN_5B_CAMERA = ModelSpec(
    name="Wan 2.2 Fun 5B Control-Camera",
    family="wan-fun-camera",
    native_sizes=((1280, 704), (704, 1280)),
    size_multiple=32,
    max_pixels=1280 * 704,
    max_frames=121,
    temporal_factor=4,
    native_fps=24.0,
    default_steps=50,
    default_guidance=6.0,  # VideoX-Fun's camera example
    licence="unverified: its model card could not be read here (Wan 2.2 and VideoX-Fun are Apache-2.0); check the card",
    max_steps=200,
)

# FastVideo's DMD-distilled TI2V-5B: the same limits, 3 steps (its sampler takes at most the 3 it was distilled
# for), no classifier-free guidance. The draft: about 1/30 of the default model's denoising work.
FASTWAN22_TI2V_5B = ModelSpec(
    name="FastWan 2.2 TI2V-5B (draft)",
    family="wan-dmd",
    native_sizes=((1280, 704), (704, 1280)),
    size_multiple=32,
    max_pixels=1280 * 704,
    max_frames=121,
    temporal_factor=4,
    native_fps=24.0,
    default_steps=3,
    default_guidance=1.0,
    licence="Apache-2.0",
    max_steps=3,
    fixed_guidance=1.0,
)

WAN21_I2V_480P = ModelSpec(
    name="Wan 2.1 I2V-14B 480p",
    family="wan",
    native_sizes=((832, 480), (480, 832)),
    size_multiple=16,
    max_pixels=832 * 480,
    max_frames=81,
    temporal_factor=4,
    native_fps=16.0,
    default_steps=50,
    default_guidance=5.0,
    licence="Apache-2.0",
    max_steps=200,
)

WAN21_I2V_720P = ModelSpec(
    name="Wan 2.1 I2V-14B 720p",
    family="wan",
    native_sizes=((1280, 720), (720, 1280)),
    size_multiple=16,
    max_pixels=1280 * 720,
    max_frames=81,
    temporal_factor=4,
    native_fps=16.0,
    default_steps=50,
    default_guidance=5.0,
    licence="Apache-2.0",
    max_steps=200,
)

SVD_XT = ModelSpec(
    name="Stable Video Diffusion img2vid-xt",
    family="svd",
    native_sizes=((1024, 576), (576, 1024)),
    size_multiple=64,
    max_pixels=1024 * 576,
    max_frames=25,
    temporal_factor=1,
    native_fps=7.0,
    default_steps=25,
    default_guidance=3.0,
    licence="Stability AI Community License (see the model card)",
)


@dataclass(frozen=True)
class KnownVideoModel:
    alias: str
    repo_id: str
    spec: ModelSpec
    index_file: str = "model_index.json"  # the file whose presence in the cache means "cached"


# Default: Wan 2.2 TI2V-5B. With model CPU offload it runs at its native
# 1280x704 on a 24 GB consumer GPU, makes up to 121 frames at 24 fps (so
# Blender frames map one to one at film rate), follows a text prompt, and is
# Apache-2.0, which studios can use. Wan 2.1 14B needs ~30 GB of weights in
# bf16 (offload on 24 GB cards is slow); SVD-xt fits easily but stops at 25
# frames, has no prompt and a restrictive licence.
WAN22_TI2V_5B_REPO = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
# Its transformer only; VAE, text encoder, tokenizer and scheduler come from WAN22_TI2V_5B_REPO.
WAN22_FUN_5B_CAMERA_REPO = "alibaba-pai/Wan2.2-Fun-5B-Control-Camera"
FASTWAN22_TI2V_5B_REPO = "FastVideo/FastWan2.2-TI2V-5B-FullAttn-Diffusers"
DRAFT_VIDEO_MODEL = "fastwan2.2-ti2v-draft"
KNOWN_VIDEO_MODELS = [
    KnownVideoModel("wan2.2-ti2v-5b", WAN22_TI2V_5B_REPO, WAN22_TI2V_5B),
    KnownVideoModel("wan2.2-fun-5b-camera", WAN22_FUN_5B_CAMERA_REPO, WAN22_FUN_5B_CAMERA, "config.json"),
    KnownVideoModel(DRAFT_VIDEO_MODEL, FASTWAN22_TI2V_5B_REPO, FASTWAN22_TI2V_5B),
    KnownVideoModel("wan2.1-i2v-14b-480p", "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", WAN21_I2V_480P),
    KnownVideoModel("wan2.1-i2v-14b-720p", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", WAN21_I2V_720P),
    KnownVideoModel("svd-xt", "stabilityai/stable-video-diffusion-img2vid-xt", SVD_XT),
]
DEFAULT_VIDEO_MODEL = "wan2.2-ti2v-5b"


def known_model(name: str) -> KnownVideoModel | None:
    for m in KNOWN_VIDEO_MODELS:
        if name in (m.alias, m.repo_id):
            return m
    return None


def native_size_for(spec: ModelSpec, aspect: float) -> tuple[int, int]:
    """The model's native size whose aspect is closest to the photo's (width / height)."""
    return min(spec.native_sizes, key=lambda s: abs(s[0] / s[1] - aspect))
