"""What the panel knows of the backend: whether it answers, the device it runs on, the models it offers.

Filled by the panel's Start and Test connection buttons, as a task
(flows/backend_check.py), and by every task that talks to the backend (an
import's depth, a take's job: backend/connection.py and the flows). Their
network calls run in worker threads; what came back is written here by the
task on Blender's main thread, between its steps (answered, unreachable), so
the panel only ever reads what the main thread wrote. Until a backend answered, the
models are the built-in list of realcam_core.models, so the model dropdown
and each model's limits and licence are there before anything runs.
"""

from __future__ import annotations

import time

from ..realcam_core.models import DEFAULT_VIDEO_MODEL, KNOWN_VIDEO_MODELS, ModelSpec, known_model

TASK_KEY = "backend"  # the runner's key of the status task (one at a time)

# state: "unknown" (not asked yet), "ok" or "down"; health and models as the backend sent them.
STATUS: dict = {"state": "unknown", "url": "", "health": None, "models": None, "error": "", "checked": ""}


def answered(url: str, health: dict | None = None, models: dict | None = None) -> None:
    """Main thread: the backend at url answered (its health, its model listing, or a job or depth request that
    went through). What the panel knew of another URL is dropped; of this one, kept where not answered anew."""
    same = STATUS["state"] == "ok" and STATUS["url"] == url
    STATUS.update(
        state="ok",
        url=url,
        health=health if health is not None else (STATUS["health"] if same else None),
        models=models if models is not None else (STATUS["models"] if same else None),
        error="",
        checked=time.strftime("%H:%M:%S"),
    )


def unreachable(url: str, error: str) -> None:
    """Main thread: nothing answered at url; error says what to do."""
    STATUS.update(state="down", url=url, health=None, models=None, error=error, checked=time.strftime("%H:%M:%S"))


def built_in_models() -> list[dict]:
    """The video models this add-on knows, in the shape of the backend's /v1/models entries."""
    return [
        {
            "name": m.alias,
            "id": m.repo_id,
            "default": m.alias == DEFAULT_VIDEO_MODEL,
            "licence": m.spec.licence,
            "sizes": [list(s) for s in m.spec.native_sizes],
            "max_frames": m.spec.max_frames,
            "fps": m.spec.native_fps,
            "spec": m.spec.to_dict(),
        }
        for m in KNOWN_VIDEO_MODELS
    ]


def video_models() -> list[dict]:
    """The backend's video models when one answered, else the built-in list."""
    listing = STATUS["models"]
    if STATUS["state"] == "ok" and listing and listing.get("video"):
        return listing["video"]
    return built_in_models()


def models_source() -> str:
    if STATUS["state"] == "ok" and STATUS["models"]:
        return "offered by the backend"
    if STATUS["state"] == "ok":
        return "built-in list (Test connection asks the backend for its own)"
    return "built-in list (no backend answered yet)"


def entry(name: str) -> dict | None:
    for m in video_models():
        if name in (m.get("name"), m.get("id")):
            return m
    known = known_model(name)
    if known is not None:
        return next(m for m in built_in_models() if m["name"] == known.alias)
    return None


def spec_for(name: str) -> ModelSpec | None:
    """The model's limits and defaults: built in, else as the backend described it."""
    known = known_model(name)
    if known is not None:
        return known.spec
    m = entry(name)
    if m and m.get("spec"):
        try:
            return ModelSpec.from_dict(m["spec"])
        except (TypeError, KeyError, ValueError):
            return None
    return None


def model_lines(name: str) -> list[str]:
    """What the panel says of a model before anything runs: sizes, frame limit, fps, licence."""
    m = entry(name)
    spec = spec_for(name)
    if spec is None:
        if m is None:
            return [f"{name}: not listed here (Test connection asks the backend)"]
        return [f"{name}: the backend could not read this model's folder; a job naming it gets the reason"]
    sizes = " or ".join(f"{w}x{h}" for w, h in spec.native_sizes)
    rule = f", counts {spec.temporal_factor}k+1" if spec.temporal_factor > 1 else ""
    licence = (m or {}).get("licence") or spec.licence or "not stated: see the model's card"
    seconds = spec.max_frames / spec.native_fps
    return [
        f"sizes {sizes}",
        f"at most {spec.max_frames} frames ({seconds:.1f} s) at {spec.native_fps:g} fps{rule}",
        f"licence: {licence}",
    ]


def device_text(info: dict | None) -> str:
    if not info:
        return "device not reported"
    device = info.get("device")
    if device == "cuda":
        return f"GPU {info.get('name')}, {info.get('memory_gb')} GB"
    if device == "mps":
        return "Apple GPU (MPS)"
    cpus = f", {info['cpus']} cores" if info.get("cpus") else ""
    return f"CPU ({info.get('name') or 'unknown'}{cpus}): generating takes very long"


def summary() -> str:
    s = STATUS
    if s["state"] == "unknown":
        return "Backend not checked yet"
    if s["state"] == "down":
        return f"Backend does not answer ({s['checked']}): {s['error']}"
    h = s["health"] or {}
    return f"Backend {h.get('version', '?')} answers at {s['url']} ({s['checked']})"
