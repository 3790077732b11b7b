"""The job bundle's types: the manifest as dataclasses, its limits, and how a refusal is reported.

The format itself is documented once, in the package docstring (bundle/__init__.py); parsing and checking a
decoded manifest is manifest.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..api import MAX_PROMPT_BYTES  # noqa: F401  (prompts, UTF-8: text encoders read at most 226 tokens)
from ..camera import K_CONVENTION, Intrinsics

SCHEMA_NAME = "realcam.job-bundle"
SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
MANIFEST_NAME = "manifest.json"

IDENTITY_TOLERANCE = 1e-5

# Bounds on what a manifest may ask for: past them a model computes nothing but overflow (a black take) or a
# player shows something other than what result.json says. Checked where the bundle is (manifest.py).
MIN_FPS, MAX_FPS = 1.0, 240.0  # frames per second: every player and H.264 level holds these
FOCAL_RANGE = (1e-3, 1e3)  # fx, fy as a multiple of the long side: fields of view of 179.9 to 0.06 degrees
MAX_TRANSLATION_M = 1e4  # a camera at most 10 km from the photo's (the scene's depth is metres to tens of them)
MANIFEST_VALUES_PER_FRAME = 64  # JSON values a frame may add (it holds about 30), past a fixed allowance
MANIFEST_VALUES_BASE = 16384  # settings and a free-form "source"


@dataclass(frozen=True)
class Limits:
    """What a bundle may hold. The server tightens these from its configuration.

    The archive limits follow from the others unless given: no valid bundle
    has more entries than its frames plus a few, nor a file larger than an
    uncompressed PNG, depth map or manifest of the allowed size, so an upload
    that claims more is refused before anything is unpacked. The manifest's
    size and the number of values in it follow from max_frames too.
    """

    max_frames: int = 1024
    max_side: int = 4096
    max_pixels: int = 4096 * 2304
    max_manifest_bytes: int | None = None  # None: from max_frames (1 MiB, and 2 KiB a frame; a frame takes ~700 bytes)
    max_archive_entries: int | None = None  # None: from max_frames
    max_unpacked_bytes: int | None = None  # None: from max_frames and max_pixels

    def __post_init__(self):
        if self.max_manifest_bytes is None:
            object.__setattr__(self, "max_manifest_bytes", 2**20 + 2048 * self.max_frames)
        if self.max_archive_entries is None:
            # manifest, reference, depth, one preview per frame, and folder entries some zip tools add
            object.__setattr__(self, "max_archive_entries", self.max_frames + 16)
        if self.max_unpacked_bytes is None:
            # previews, the reference and a transition's last image
            total = self.max_manifest_bytes + (self.max_frames + 2) * self.max_png_bytes + self.max_npy_bytes
            object.__setattr__(self, "max_unpacked_bytes", total)

    @property
    def max_png_bytes(self) -> int:
        """An 8-bit RGBA PNG of max_pixels stored without compression, with room for its chunks."""
        return 4 * self.max_pixels + self.max_side + 2**20

    @property
    def max_npy_bytes(self) -> int:
        """A float64 depth map of max_pixels with its header."""
        return 8 * self.max_pixels + 2**16

    @property
    def max_manifest_values(self) -> int:
        """How many JSON values (numbers, strings, lists, objects...) a manifest may hold: counted before it is
        parsed, so that 8 MiB of empty lists cannot cost hundreds of megabytes."""
        return MANIFEST_VALUES_BASE + MANIFEST_VALUES_PER_FRAME * self.max_frames

    @property
    def max_entry_bytes(self) -> int:
        """The largest file a bundle can hold (names do not say what a file is, so one bound for all)."""
        return max(self.max_png_bytes, self.max_npy_bytes, self.max_manifest_bytes)


@dataclass(frozen=True)
class Problem:
    where: str  # file, or manifest path like "manifest.json: frames[3].c2w"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class BundleError(ValueError):
    """A bundle that failed validation; .problems lists every reason.

    .kind says what sort of refusal it is: "invalid" (the content), "too-large"
    (a size limit), "not-zip" or "damaged" (the archive itself)."""

    def __init__(self, problems: list[Problem], kind: str = "invalid"):
        self.problems = list(problems)
        self.kind = kind
        super().__init__("; ".join(str(p) for p in self.problems[:5]) + ("" if len(problems) <= 5 else " ..."))


# The noise-level scale (backend realcam.generate.noise_level): 0.9 is upstream's t >= 900 on every model; levels
# above 1 go on in log-NSR past the reference schedule's end, so higher thresholds shape fewer, noisier steps.
SNS_THRESHOLD_MAX = 3.0


@dataclass
class SnsSettings:
    enabled: bool = True
    threshold: float = 0.9


# Speed settings (backend realcam.generate.speed): a step cache that reuses the transformer's work between
# similar steps (never on a step noise shaping acts on), and regional compilation. Both off by default.
STEP_CACHES = ("off", "first-block")
DEFAULT_CACHE_THRESHOLD = 0.05  # diffusers' FirstBlockCacheConfig default: relative change that forces a full step
SAMPLERS = ("flow-euler", "unipc")  # settings.sampler: for models that offer a choice (the Fun camera model)


@dataclass
class SpeedSettings:
    step_cache: str = "off"
    cache_threshold: float = DEFAULT_CACHE_THRESHOLD
    compile: bool = False

    def is_default(self) -> bool:
        return self == SpeedSettings()


@dataclass
class Settings:
    model: str
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    fps: float = 24.0
    sns: SnsSettings = field(default_factory=SnsSettings)
    evaluate: bool = False
    camera_condition: bool = True  # used by models with a camera adapter, ignored by the others
    speed: SpeedSettings = field(default_factory=SpeedSettings)
    camera_scale: float | None = None  # model translation units per metre; None: the model's own default
    sampler: str | None = None  # one of SAMPLERS; None: the model's default
    loop: bool = False  # the take's last frame leads back into its first (realcam_core.windows)

    def to_dict(self) -> dict:
        # Optional fields only when set: a bundle without them stays readable by backends older than the fields.
        optional = {k: v for k, v in (("camera_scale", self.camera_scale), ("sampler", self.sampler)) if v is not None}
        if self.loop:
            optional["loop"] = True
        if not self.speed.is_default():
            optional["speed"] = dict(self.speed.__dict__)
        return optional | {
            "camera_condition": self.camera_condition,
            "evaluate": self.evaluate,
            "model": self.model,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "steps": self.steps,
            "guidance": self.guidance,
            "fps": self.fps,
            "sns": {"enabled": self.sns.enabled, "threshold": self.sns.threshold},
        }


@dataclass
class Frame:
    scene_frame: int
    preview: str
    intrinsics: Intrinsics
    c2w: np.ndarray

    def to_dict(self) -> dict:
        K = self.intrinsics
        return {
            "scene_frame": self.scene_frame,
            "preview": self.preview,
            "intrinsics": {"fx": K.fx, "fy": K.fy, "cx": K.cx, "cy": K.cy},
            "c2w": np.asarray(self.c2w, dtype=np.float64).tolist(),
        }


@dataclass
class JobBundle:
    width: int
    height: int
    frames: list[Frame]
    settings: Settings
    reference_image: str = "reference.png"
    depth: str | None = None
    source: dict = field(default_factory=dict)
    last_image: str | None = None  # a transition's end: the second photo, where the take's last frame arrives

    def to_dict(self) -> dict:
        optional = {"last_image": self.last_image} if self.last_image else {}  # written only when set
        return optional | {
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            "width": self.width,
            "height": self.height,
            "intrinsics_convention": K_CONVENTION,
            "reference_image": self.reference_image,
            "depth": self.depth,
            "frames": [f.to_dict() for f in self.frames],
            "settings": self.settings.to_dict(),
            "source": self.source,
        }

    def write_manifest(self, folder) -> str:
        path = os.path.join(folder, MANIFEST_NAME)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1)
        os.replace(tmp, path)
        return path

    @property
    def c2ws(self) -> np.ndarray:
        return np.stack([np.asarray(f.c2w, dtype=np.float64) for f in self.frames])

    @property
    def scene_frames(self) -> list[int]:
        return [f.scene_frame for f in self.frames]


def preview_name(index: int) -> str:
    return f"preview/{index:04d}.png"
