"""Where models run and where their weights live: shared by the depth and video models."""

from __future__ import annotations

import os


def pick_device(requested: str | None = None) -> str:
    """The requested torch device, else CUDA, then Apple MPS, then CPU."""
    import torch

    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def hub_cache() -> str:
    """The Hugging Face cache folder weights are looked up in (HF_HOME / HF_HUB_CACHE respected)."""
    try:
        from huggingface_hub import constants

        return constants.HF_HUB_CACHE
    except Exception:
        return os.path.expanduser("~/.cache/huggingface/hub")
