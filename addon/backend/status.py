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

from ..realcam_core.addon_only.model_fit import convention_of
from ..realcam_core.camera_scale import METRIC, CameraScaleError, camera_scale
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


def _spec_of(m: dict | None) -> ModelSpec | None:
    if m and m.get("spec"):
        try:
            return ModelSpec.from_dict(m["spec"])
        except (TypeError, KeyError, ValueError):
            return None
    return None


def configured_spec(name: str) -> ModelSpec | None:
    """The limits of a folder the backend was configured with under this name (what a job of that name runs,
    even where the name is also a catalogue alias), as the last check found them; None if there is none."""
    listing = STATUS["models"] if STATUS["state"] == "ok" else None
    for m in (listing or {}).get("video") or []:
        if m.get("configured") and m.get("name") == name:
            return _spec_of(m)
    return None


def spec_for(name: str) -> ModelSpec | None:
    """The model's limits and defaults: a folder the backend runs under this name, else built in, else as the
    backend described it."""
    configured = configured_spec(name)
    if configured is not None:
        return configured
    known = known_model(name)
    if known is not None:
        return known.spec
    return _spec_of(entry(name))


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
    if spec.min_frames >= spec.max_frames:
        frames = (
            f"always {spec.max_frames} frames ({seconds:.1f} s) at {spec.native_fps:g} fps "
            "(a shorter shot is made that long and trimmed)"
        )
    else:
        frames = f"{spec.max_frames} frames at once ({seconds:.1f} s) at {spec.native_fps:g} fps{rule}"
    lines = [f"sizes {sizes}", frames, f"licence: {licence}"]
    if spec.fixed_guidance is not None:
        lines.append(f"distilled: {spec.default_steps} steps, guidance fixed at {spec.fixed_guidance:g}")
    return lines + download_lines(name)


def _gb(n) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def download_lines(name: str) -> list[str]:
    """How much a model downloads (with what it needs) and what else it needs: base weights, a tokenizer."""
    m = entry(name) or {}
    known = known_model(name)
    total = m.get("approx_bytes") or (known.total_bytes if known is not None else 0)
    if "requires" in m:
        needs = [(r.get("what") or r.get("repo"), r.get("repo")) for r in m.get("requires") or []]
    else:
        needs = [(r.what, r.repo_id) for r in (known.requires if known is not None else ())]
    lines = []
    if total:
        lines.append(f"download about {_gb(total)}" + (" with what it needs" if needs else ""))
    if needs:
        lines.append("needs: " + "; ".join(f"{what} ({repo})" for what, repo in needs))
    return lines


def catalogue_line(name: str) -> str:
    """One line of the preferences' download list: size, frames, sizes, what else it needs."""
    spec = spec_for(name)
    if spec is None:
        return ""
    sizes = "/".join(f"{w}x{h}" for w, h in spec.native_sizes)
    frames = f"{spec.max_frames} frames" if spec.min_frames >= spec.max_frames else f"<= {spec.max_frames} frames"
    known = known_model(name)
    parts = [sizes, frames]
    if known is not None and known.total_bytes:
        parts.insert(0, f"~{_gb(known.total_bytes)}")
    if known is not None and known.requires:
        parts.append("needs " + " + ".join(r.what.split(" (")[0] for r in known.requires))
    return ", ".join(parts)


def camera_lines(spec: ModelSpec | None, setting: float = 0.0, depth=None) -> list[str]:
    """What the model assumes of the camera (realcam_core.camera_scale) and the scale its translation enters at:
    the shot's setting, else the model's default for this photo (depth: the metric depth the bundle carries)."""
    conv = convention_of(spec)
    if conv is None:
        return []
    lines = [conv.panel_note]
    key = spec.camera or spec.family
    try:
        default = camera_scale(key, depth)
    except CameraScaleError:
        default = camera_scale(key, None)
    if conv.translation == METRIC:
        app = conv.upstream_inference_scale
        how = f"{default.units_per_metre:g} per metre (trained on metric moves; upstream's app uses {app:g})"
    elif default.source == "photo depth":
        how = f"{default.units_per_metre:.3g} per metre (1 / the photo's near depth, {default.near_depth_m:.2f} m)"
    else:
        how = f"{default.units_per_metre:.3g} per metre (no depth: metres taken as units)"
    if setting > 0:
        lines.append(f"Camera scale {setting:g} per metre (your setting; the model's default: {how})")
    else:
        lines.append(f"Camera scale: the model's default, {how}")
    return lines


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
