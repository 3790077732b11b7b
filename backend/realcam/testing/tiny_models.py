"""Small random-weight models built from configs, for offline smoke tests.

`realcam tiny-models DIR` writes them as ordinary model folders, which load
through exactly the code users run (`--model DIR/depth-anything`). Their
outputs are meaningless; their shapes, files and loading path are real.
"""

from __future__ import annotations

import os

from .tiny_depth import build_depth_anything, build_depth_pro
from .tiny_fun_camera import build_wan22_fun_camera
from .tiny_svd import build_svd
from .tiny_wan import build_fastwan22_draft, build_wan21_flf2v, build_wan21_i2v, build_wan22_ti2v


def build_dynamicrafter_256(folder: str, seed: int = 0) -> str:
    from .tiny_dynamicrafter import build_dynamicrafter

    return build_dynamicrafter(folder, "256", seed)


def build_dynamicrafter_512(folder: str, seed: int = 0) -> str:
    from .tiny_dynamicrafter import build_dynamicrafter

    return build_dynamicrafter(folder, "512", seed)


def _camera_builder(model: str, variant: str):
    def build(folder: str, seed: int = 0) -> str:
        from .tiny_dynamicrafter import build_camera_model

        return build_camera_model(folder, model, variant, seed)

    build.__name__ = f"build_{model}_{variant}".replace("-", "_")
    return build


BUILDERS = {
    "depth-anything": build_depth_anything,
    "depth-pro": build_depth_pro,
    "wan22-ti2v": build_wan22_ti2v,
    "wan22-fun-camera": build_wan22_fun_camera,
    "fastwan22-draft": build_fastwan22_draft,
    "wan21-i2v": build_wan21_i2v,
    "wan21-flf2v": build_wan21_flf2v,
    "svd": build_svd,
    "dynamicrafter-256": build_dynamicrafter_256,
    "dynamicrafter-512": build_dynamicrafter_512,
    # The camera models of the RealCam-I2V paper's table, on the tiny DynamiCrafter (their published layouts).
    **{
        f"{m}-{v}": _camera_builder(m, v)
        for m, v in (
            ("motionctrl", "256"),
            ("cameractrl", "256"),
            ("cami2v", "256"),
            ("realcam-i2v", "256"),
            ("cami2v", "512"),
            ("realcam-i2v", "512"),
        )
    },
}


def build_all(root: str, only: list[str] | None = None) -> dict[str, str]:
    os.makedirs(root, exist_ok=True)
    out = {}
    for name, build in BUILDERS.items():
        if only and name not in only:
            continue
        out[name] = build(os.path.join(root, name))
    return out
