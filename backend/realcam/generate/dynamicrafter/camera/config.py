"""The camera parts of each published model, and where they sit in DynamiCrafter's UNet.

Sizes are upstream's inference configs (configs/inference/00{1,2,3,4}_*.yaml at c5d7b2f).
`temporal_blocks` walks the UNet the way upstream's `UNetModel.__init__` builds it, so each
camera module gets the exact attribute path (and checkpoint key prefix) of its temporal
transformer block.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

CAMI2V = "cami2v"  # CamI2V and RealCam-I2V: Plücker features + epipolar attention, added to the main branch
CAMERACTRL = "cameractrl"  # Plücker features through cc_projection into the temporal self-attention's input
MOTIONCTRL = "motionctrl"  # flattened [R | t] joined to the temporal block's hidden states by cc_projection
KINDS = (CAMI2V, CAMERACTRL, MOTIONCTRL)

UNET_PREFIX = "model.diffusion_model."
POSE_ENCODER_PREFIX = "pose_encoder."


@dataclass(frozen=True)
class PoseEncoderConfig:
    """CameraPoseEncoder's arguments (CamI2V's and CameraCtrl's encoders are the same file upstream)."""

    downscale_factor: int = 8
    channels: tuple = (320, 640, 1280, 1280)
    nums_rb: int = 2
    cin: int = 384  # 6 ray channels x downscale_factor^2
    ksize: int = 1
    sk: bool = True  # no skip convolution; a 1x1 in_conv only where the width changes
    use_conv: bool = False  # downsampling by average pooling
    heads: int = 8
    positional_encoding: bool = True
    max_len: int = 16


@dataclass(frozen=True)
class EpipolarConfig:
    origin_h: int = 256  # the generation size the mask dictionary is keyed against
    origin_w: int = 256
    num_register_tokens: int = 4
    attention_resolution: tuple = (8, 4, 2, 1)  # masks at pixel strides 8 x these
    perturb_zero_translation: bool = True  # add_small_perturbation_on_zero_T


@dataclass(frozen=True)
class CameraConfig:
    kind: str
    pose_encoder: PoseEncoderConfig | None = None
    epipolar: EpipolarConfig | None = None
    pose_dim: int = 12  # MotionCtrl

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"camera kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind in (CAMI2V, CAMERACTRL) and self.pose_encoder is None:
            raise ValueError(f"a {self.kind} camera needs a pose encoder")


_EPI_512 = EpipolarConfig(origin_h=320, origin_w=512, attention_resolution=(8, 4, 2))

# What each published checkpoint was trained with.
VARIANTS = {
    "realcam-i2v-256": CameraConfig(CAMI2V, PoseEncoderConfig(), EpipolarConfig()),
    "realcam-i2v-512": CameraConfig(CAMI2V, PoseEncoderConfig(), _EPI_512),
    "cami2v-256": CameraConfig(CAMI2V, PoseEncoderConfig(), EpipolarConfig()),
    "cami2v-512": CameraConfig(CAMI2V, PoseEncoderConfig(), _EPI_512),
    "cameractrl-256": CameraConfig(CAMERACTRL, PoseEncoderConfig()),
    "motionctrl-256": CameraConfig(MOTIONCTRL),
}


@dataclass(frozen=True)
class TemporalBlock:
    """One temporal transformer block (BasicTransformerBlock of a TemporalTransformer)."""

    path: str  # attribute path under the UNet, e.g. "input_blocks.1.2.transformer_blocks.0"
    dim: int
    heads: int
    ds: int  # latent downsampling of the block's features (1 = latent resolution)
    feature: int | None  # index of the pose-encoder feature it takes; None for init_attn

    @property
    def key_prefix(self) -> str:
        return UNET_PREFIX + self.path + "."


def _get(unet, name, default=None):
    return getattr(unet, name, default) if not isinstance(unet, dict) else unet.get(name, default)


def temporal_blocks(unet, include_init_attn: bool = False) -> list[TemporalBlock]:
    """The UNet's temporal blocks in upstream's module order.

    `unet` has model_channels, channel_mult, num_res_blocks, attention_resolutions,
    head_channels and init_attn_heads (attributes or keys). The pose feature of a block follows
    upstream's `int(log2(ds))`, the middle block takes the last feature."""
    mc = int(_get(unet, "model_channels"))
    mult = tuple(_get(unet, "channel_mult"))
    nrb = int(_get(unet, "num_res_blocks"))
    attn = {int(a) for a in _get(unet, "attention_resolutions")}
    hc = int(_get(unet, "head_channels", 64))
    depth = int(_get(unet, "transformer_depth", 1))

    def blocks(prefix, ch, ds, feature):
        return [TemporalBlock(f"{prefix}.2.transformer_blocks.{d}", ch, ch // hc, ds, feature) for d in range(depth)]

    out = []
    if include_init_attn:
        heads = int(_get(unet, "init_attn_heads", 8))
        out.append(TemporalBlock("init_attn.0.transformer_blocks.0", heads * hc, heads, 1, None))
    idx, ds = 0, 1
    for level, m in enumerate(mult):
        for _ in range(nrb):
            idx += 1
            if ds in attn:
                out += blocks(f"input_blocks.{idx}", mc * m, ds, int(math.log2(ds)))
        if level != len(mult) - 1:
            idx += 1
            ds *= 2
    out += blocks("middle_block", mc * mult[-1], ds, len(mult) - 1)
    idx = 0
    for level, m in reversed(list(enumerate(mult))):
        for i in range(nrb + 1):
            if ds in attn:
                out += blocks(f"output_blocks.{idx}", mc * m, ds, int(math.log2(ds)))
            if level and i == nrb:
                ds //= 2
            idx += 1
    return out


def camera_blocks(kind: str, unet) -> list[TemporalBlock]:
    """The temporal blocks that carry camera modules for this kind of model.

    MotionCtrl modifies every temporal block, init_attn included; CamI2V and CameraCtrl every one
    but init_attn (upstream tells it apart by its width, model heads x head channels = 512, which no
    other block has in the published UNet)."""
    return temporal_blocks(unet, include_init_attn=(kind == MOTIONCTRL))


# -- which configuration a model uses ----------------------------------------------------------------------
MODELS = ("realcam-i2v", "cami2v", "cameractrl", "motionctrl")  # ModelSpec.camera values, CONVENTIONS keys


def published_config(model: str, variant: str) -> CameraConfig:
    """The camera configuration of a published checkpoint: model (e.g. "realcam-i2v") at variant "256"/"512"."""
    key = f"{model}-{variant}"
    if key not in VARIANTS:
        raise ValueError(f"no {model} model was published at {variant} (published: {', '.join(sorted(VARIANTS))})")
    return VARIANTS[key]


def config_to_json(cfg: CameraConfig) -> dict:
    return asdict(cfg)


def config_from_json(data: dict) -> CameraConfig:
    """A CameraConfig from a folder's JSON (the tiny test models' sizes); unknown fields are an error."""

    def part(cls, value):
        if value is None:
            return None
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})

    unknown = sorted(set(data) - {"kind", "pose_encoder", "epipolar", "pose_dim"})
    if unknown:
        raise ValueError(f"unknown camera config fields {unknown}")
    return CameraConfig(
        str(data.get("kind", "")),
        part(PoseEncoderConfig, data.get("pose_encoder")),
        part(EpipolarConfig, data.get("epipolar")),
        int(data.get("pose_dim", 12)),
    )


def kind_of(model: str) -> str:
    """The camera kind of a model name: RealCam-I2V is CamI2V's architecture."""
    if model not in MODELS:
        raise ValueError(f"camera model must be one of {MODELS}, not {model!r}")
    return CAMI2V if model == "realcam-i2v" else model
