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


_DEVICE_INFO: dict | None = None


def device_info(requested: str | None = None) -> dict:
    """What the backend generates on, for /v1/health: the device, the GPU's name and memory, torch's build."""
    global _DEVICE_INFO
    if _DEVICE_INFO is None:
        import torch

        info = {"device": pick_device(requested).split(":")[0], "torch": torch.__version__, "cuda": torch.version.cuda}
        if info["device"] == "cuda":
            props = torch.cuda.get_device_properties(0)
            info.update(
                name=props.name, memory_gb=round(props.total_memory / 2**30, 1), count=torch.cuda.device_count()
            )
        elif info["device"] == "mps":
            info.update(name="Apple GPU (MPS)")
        else:
            import platform

            info.update(name=platform.processor() or platform.machine(), cpus=os.cpu_count())
        _DEVICE_INFO = info
    return _DEVICE_INFO


def hub_cache() -> str:
    """The Hugging Face cache folder weights are looked up in (HF_HOME / HF_HUB_CACHE respected)."""
    try:
        from huggingface_hub import constants

        return constants.HF_HUB_CACHE
    except Exception:
        return os.path.expanduser("~/.cache/huggingface/hub")
