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
    min_frames: int = 2  # a model that always makes max_frames says so here (the extra frames are trimmed)
    variant: str = ""  # the family's variant (DynamiCrafter: "256" or "512"), picking its architecture
    camera: str = ""  # how the model itself is told the camera ("" = it is not; e.g. "cami2v", "motionctrl")
    fixed_guidance: float | None = None  # distilled to run at this guidance only: a bundle's guidance is not used
    # Long shots, loops and transitions (realcam_core.windows). max_frames is the window: a longer shot is made as
    # windows sharing window_overlap frames (the carried frames, 1 + whole latent frames); every family takes a
    # first image, so every family can chain. takes_last_frame: the model has a last-frame input (first + last).
    window_overlap: int = 1
    takes_last_frame: bool = False
    needs_last_frame: bool = False  # every run needs one (a first + last frame model only): ends only, one window

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
            return max(n, self.min_frames)
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
        from .windows import window_problem  # a longer shot is made in windows, where the model can chain them

        long_shot = window_problem(frames, self)
        if long_shot:
            out.append(long_shot)
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
    window_overlap=5,  # the first frame (the image) and one latent frame of 4
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
    window_overlap=5,  # the first frame (the image) and one latent frame of 4
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
    window_overlap=5,  # the first frame (the image) and one latent frame of 4
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
    window_overlap=5,  # the first frame (the image) and one latent frame of 4
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
    window_overlap=5,  # the first frame (the image) and one latent frame of 4
    native_fps=16.0,
    default_steps=50,
    default_guidance=5.0,
    licence="Apache-2.0",
    max_steps=200,
)

# Wan 2.1 FLF2V (first and last frame): the I2V-14B architecture whose image embedding takes two images (CLIP
# tokens of both, with a learned position embedding, pos_embed_seq_len) and whose condition video holds the last
# frame too; diffusers' WanImageToVideoPipeline runs it through `last_image`.
WAN21_FLF2V_720P = ModelSpec(
    name="Wan 2.1 FLF2V-14B 720p",
    family="wan",
    native_sizes=((1280, 720), (720, 1280)),
    size_multiple=16,
    max_pixels=1280 * 720,
    max_frames=81,
    temporal_factor=4,
    window_overlap=5,  # the first frame (the image) and one latent frame of 4
    native_fps=16.0,
    default_steps=50,
    default_guidance=5.0,
    licence="Apache-2.0",
    max_steps=200,
    takes_last_frame=True,
    needs_last_frame=True,  # its image embedding always reads two images
)

SVD_XT = ModelSpec(
    name="Stable Video Diffusion img2vid-xt",
    family="svd",
    native_sizes=((1024, 576), (576, 1024)),
    size_multiple=64,
    max_pixels=1024 * 576,
    max_frames=25,
    temporal_factor=1,
    window_overlap=4,  # the first frame (the image) and 3 more, each its own latent frame
    native_fps=7.0,
    default_steps=25,
    default_guidance=3.0,
    licence="Stability AI Community License (see the model card)",
)


# DynamiCrafter (Xing et al.) and the camera models of the RealCam-I2V paper's table, all built on it: 16
# frames, DDIM 25 steps, text + image guidance 7.5 (the paper's evaluation; upstream's RealCam-I2V demo uses
# 5.5). Their fps is the rate upstream saves its videos at; the model is told the frame stride instead.
DYNAMICRAFTER_LICENCE = (
    "unverified: the weights' card was not readable here; the code is Apache-2.0 plus a research-only, "
    "non-commercial clause"
)
CAMI2V_LICENCE = "MIT (camera weights); on DynamiCrafter's base weights (unverified, see dynamicrafter-256)"


def _dynamicrafter(name: str, variant: str, camera: str = "", licence: str = DYNAMICRAFTER_LICENCE) -> ModelSpec:
    size = ((256, 256),) if variant == "256" else ((512, 320),)
    return ModelSpec(
        name=name,
        family="dynamicrafter",
        native_sizes=size,
        size_multiple=64,
        max_pixels=size[0][0] * size[0][1],
        max_frames=16,
        temporal_factor=1,
        window_overlap=4,  # the first frame (the image) and 3 more, each its own latent frame
        native_fps=8.0,
        default_steps=25,
        default_guidance=7.5,
        licence=licence,
        min_frames=16,
        variant=variant,
        camera=camera,
    )


DYNAMICRAFTER_256 = _dynamicrafter("DynamiCrafter 256", "256")
DYNAMICRAFTER_512 = _dynamicrafter("DynamiCrafter 512", "512")
MOTIONCTRL_256 = _dynamicrafter("MotionCtrl 256 (on DynamiCrafter)", "256", "motionctrl", CAMI2V_LICENCE)
CAMERACTRL_256 = _dynamicrafter("CameraCtrl 256 (on DynamiCrafter)", "256", "cameractrl", CAMI2V_LICENCE)
CAMI2V_256 = _dynamicrafter("CamI2V 256", "256", "cami2v", CAMI2V_LICENCE)
CAMI2V_512 = _dynamicrafter("CamI2V 512", "512", "cami2v", CAMI2V_LICENCE)
REALCAM_I2V_256 = _dynamicrafter("RealCam-I2V 256", "256", "realcam-i2v", CAMI2V_LICENCE)
REALCAM_I2V_512 = _dynamicrafter("RealCam-I2V 512", "512", "realcam-i2v", CAMI2V_LICENCE)


@dataclass(frozen=True)
class HubFiles:
    """Files of one Hugging Face repository that a model needs besides its own."""

    repo_id: str
    files: tuple  # exact paths in the repository
    what: str
    approx_bytes: int = 0
    licence: str = ""


@dataclass(frozen=True)
class KnownVideoModel:
    alias: str
    repo_id: str
    spec: ModelSpec
    index_file: str = "model_index.json"  # the file whose presence in the cache means "cached"
    files: tuple = ()  # only these files of repo_id (a repository holding several models' checkpoints)
    requires: tuple = ()  # HubFiles of other repositories it needs (base weights, tokenizer)
    approx_bytes: int = 0  # its own files' size, where known before listing the repository

    @property
    def model_id(self) -> str:
        """What names the model in results and the engine: the repository, or repository/file."""
        return f"{self.repo_id}/{self.files[0]}" if self.files else self.repo_id

    @property
    def total_bytes(self) -> int:
        return self.approx_bytes + sum(r.approx_bytes for r in self.requires)

    def needed_files(self) -> list[tuple[str, str]]:
        """(repository, file) pairs whose presence in the Hugging Face cache means the model is downloaded."""
        own = [(self.repo_id, f) for f in self.files] or [(self.repo_id, self.index_file)]
        return own + [(r.repo_id, f) for r in self.requires for f in r.files]


# Default: Wan 2.2 TI2V-5B. With model CPU offload it runs at its native
# 1280x704 on a 24 GB consumer GPU, makes up to 121 frames at 24 fps (so
# Blender frames map one to one at film rate), follows a text prompt, and is
# Apache-2.0, which studios can use. Wan 2.1 14B needs ~30 GB of weights in
# bf16 (offload on 24 GB cards is slow); SVD-xt fits easily but stops at 25
# frames, has no prompt and a restrictive licence.
WAN22_TI2V_5B_REPO = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
# Its transformer only; VAE, text encoder, tokenizer and scheduler come from WAN22_TI2V_5B_REPO.
WAN22_FUN_5B_CAMERA_REPO = "alibaba-pai/Wan2.2-Fun-5B-Control-Camera"
CAMI2V_REPO = "MuteApo/CamI2V"
# OpenCLIP ViT-H-14 (laion2b_s32b_b79k): its weights are inside DynamiCrafter's model.ckpt (upstream's configs
# set version: null); only the tokenizer's vocabulary is fetched from its repository.
OPENCLIP_TOKENIZER = HubFiles(
    "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"),
    "OpenCLIP ViT-H-14 tokenizer (the towers' weights are in the base checkpoint)",
    2_300_000,
    "MIT (OpenCLIP's model card; unverified here)",
)
# fp32 Lightning checkpoints: UNet 1.44 B, OpenCLIP towers 0.98 B (+ 0.05 B unused), VAE 84 M, resampler 49 M.
_BASE_BYTES = 10_400_000_000
DYNAMICRAFTER_256_BASE = HubFiles(
    "Doubiiu/DynamiCrafter", ("model.ckpt",), "DynamiCrafter 256x256 base weights", _BASE_BYTES, DYNAMICRAFTER_LICENCE
)
DYNAMICRAFTER_512_BASE = HubFiles(
    "Doubiiu/DynamiCrafter_512",
    ("model.ckpt",),
    "DynamiCrafter 512x320 base weights",
    _BASE_BYTES,
    DYNAMICRAFTER_LICENCE,
)


def _camera_model(alias: str, spec: ModelSpec, file: str, params: float) -> KnownVideoModel:
    """A camera checkpoint of MuteApo/CamI2V, merged over DynamiCrafter's base weights as upstream loads it.
    Sizes assume fp32 and the added parameters upstream's README states (CamI2V +261 M, CameraCtrl +211 M,
    MotionCtrl +63.4 M)."""
    base = DYNAMICRAFTER_256_BASE if spec.variant == "256" else DYNAMICRAFTER_512_BASE
    return KnownVideoModel(alias, CAMI2V_REPO, spec, file, (file,), (base, OPENCLIP_TOKENIZER), int(params * 4))


FASTWAN22_TI2V_5B_REPO = "FastVideo/FastWan2.2-TI2V-5B-FullAttn-Diffusers"
DRAFT_VIDEO_MODEL = "fastwan2.2-ti2v-draft"
KNOWN_VIDEO_MODELS = [
    KnownVideoModel("wan2.2-ti2v-5b", WAN22_TI2V_5B_REPO, WAN22_TI2V_5B),
    KnownVideoModel("wan2.2-fun-5b-camera", WAN22_FUN_5B_CAMERA_REPO, WAN22_FUN_5B_CAMERA, "config.json"),
    KnownVideoModel(DRAFT_VIDEO_MODEL, FASTWAN22_TI2V_5B_REPO, FASTWAN22_TI2V_5B),
    KnownVideoModel("wan2.1-i2v-14b-480p", "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", WAN21_I2V_480P),
    KnownVideoModel("wan2.1-i2v-14b-720p", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", WAN21_I2V_720P),
    KnownVideoModel("wan2.1-flf2v-14b-720p", "Wan-AI/Wan2.1-FLF2V-14B-720P-Diffusers", WAN21_FLF2V_720P),
    KnownVideoModel("svd-xt", "stabilityai/stable-video-diffusion-img2vid-xt", SVD_XT),
    KnownVideoModel(
        "dynamicrafter-256",
        DYNAMICRAFTER_256_BASE.repo_id,
        DYNAMICRAFTER_256,
        "model.ckpt",
        ("model.ckpt",),
        (OPENCLIP_TOKENIZER,),
        _BASE_BYTES,
    ),
    KnownVideoModel(
        "dynamicrafter-512",
        DYNAMICRAFTER_512_BASE.repo_id,
        DYNAMICRAFTER_512,
        "model.ckpt",
        ("model.ckpt",),
        (OPENCLIP_TOKENIZER,),
        _BASE_BYTES,
    ),
    _camera_model("motionctrl-256", MOTIONCTRL_256, "256_motionctrl_50k.safetensors", 63.4e6),
    _camera_model("cameractrl-256", CAMERACTRL_256, "256_cameractrl_50k.safetensors", 211e6),
    _camera_model("cami2v-256", CAMI2V_256, "256_cami2v_50k.safetensors", 261e6),
    _camera_model("cami2v-512", CAMI2V_512, "512_cami2v_50k.safetensors", 261e6),
    _camera_model("realcam-i2v-256", REALCAM_I2V_256, "256_realcam-i2v_50k.safetensors", 261e6),
    _camera_model("realcam-i2v-512", REALCAM_I2V_512, "512_realcam-i2v_50k.safetensors", 261e6),
]
DEFAULT_VIDEO_MODEL = "wan2.2-ti2v-5b"


def known_model(name: str) -> KnownVideoModel | None:
    for m in KNOWN_VIDEO_MODELS:
        if name in (m.alias, m.model_id):
            return m
    shared = [m for m in KNOWN_VIDEO_MODELS if m.repo_id == name]
    if len(shared) == 1:  # a repository id names a model only where it holds one
        return shared[0]
    return None


def native_size_for(spec: ModelSpec, aspect: float) -> tuple[int, int]:
    """The model's native size whose aspect is closest to the photo's (width / height)."""
    return min(spec.native_sizes, key=lambda s: abs(s[0] / s[1] - aspect))
