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


def weights_from_cache_only() -> None:
    """From now on this process loads models from the Hugging Face cache and local folders only, never the
    network: the backend never downloads weights by itself, `realcam download` (the add-on's Download model)
    does, after showing the size and licence. Called where models are resolved, so it holds in `realcam serve`
    (whatever a client names), its cluster slots and the CLI alike.

    huggingface_hub refuses every request while its offline flag is up, and diffusers and transformers then
    read the cache; the flag is read from HF_HUB_OFFLINE once, at import, so the constant is set here."""
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
