"""The models this backend offers: one listing for `realcam models` and the server's /v1/models."""

from __future__ import annotations

from realcam_core.models import DEFAULT_VIDEO_MODEL, DRAFT_VIDEO_MODEL, KNOWN_VIDEO_MODELS

from .depth.models import DEFAULT_DEPTH_MODEL, KNOWN_MODELS
from .errors import UserError
from .generate.schedules import shaping_summary


def is_cached(repo_id: str, filename: str) -> bool:
    """Whether the Hugging Face cache holds this model (looked up locally, never downloaded)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, filename), str)
    except Exception:
        return False


def video_models(model_folders: dict[str, str] | None = None) -> list[dict]:
    """Known video models, then the local folders the server was configured with."""
    out = []
    for m in KNOWN_VIDEO_MODELS:
        sp = m.spec
        out.append(
            {
                "name": m.alias,
                "id": m.repo_id,
                "cached": all(is_cached(repo, f) for repo, f in m.needed_files()),
                "default": m.alias == DEFAULT_VIDEO_MODEL,
                "draft": m.alias == DRAFT_VIDEO_MODEL,
                "licence": sp.licence,
                "sizes": [list(s) for s in sp.native_sizes],
                "max_frames": sp.max_frames,
                "fps": sp.native_fps,
                "frame_rule": f"{sp.temporal_factor}k+1" if sp.temporal_factor > 1 else "any",
                "sns_shaped_steps": shaping_summary(m.alias),
                "approx_bytes": m.total_bytes or None,  # with what it requires; None where unknown before listing
                "camera": sp.camera or None,
                "requires": [
                    {"repo": r.repo_id, "files": list(r.files), "what": r.what, "approx_bytes": r.approx_bytes}
                    for r in m.requires
                ],
                "spec": sp.to_dict(),
            }
        )
    for name, folder in (model_folders or {}).items():
        from .generate.adapters import resolve_video_model  # torch and diffusers: only for a configured folder

        try:
            spec = resolve_video_model(folder)[1].to_dict()
        except UserError:
            spec = None  # listed anyway: a job naming it gets the reason
        out.append({"name": name, "id": name, "cached": True, "configured": True, "spec": spec})
    return out


def depth_models(depth_model_folders: dict[str, str] | None = None) -> list[dict]:
    out = [
        {
            "name": m.alias,
            "id": m.repo_id,
            "cached": is_cached(m.repo_id, "config.json"),
            "default": m.alias == DEFAULT_DEPTH_MODEL,
            "licence": m.licence,
            "note": m.note,
        }
        for m in KNOWN_MODELS
    ]
    out += [{"name": n, "id": n, "cached": True, "configured": True} for n in depth_model_folders or {}]
    return out


def describe(video: list[dict], depth: list[dict]) -> str:
    """The listing as `realcam models` prints it."""
    lines = [
        "Video models (--model, or the bundle's settings.model). Noise shaping acts on the steps whose noise level",
        "is at or above the threshold (settings.sns.threshold, default 0.9 = upstream's t >= 900; up to 3):",
    ]
    for m in video:
        flags = ("  [default]" if m.get("default") else "") + ("  [cached]" if m.get("cached") else "")
        if m.get("draft"):
            flags = f"  [draft: {m['spec']['default_steps']} steps]" + flags
        if m.get("configured"):
            lines.append(f"  {m['name']:22s} (configured folder){flags}")
            continue
        sizes = "/".join(f"{w}x{h}" for w, h in m["sizes"])
        size = f", ~{m['approx_bytes'] / 1e9:.1f} GB" if m.get("approx_bytes") else ""
        camera = f", camera: {m['camera']}" if m.get("camera") else ""
        lines.append(
            f"  {m['name']:22s} {m['id']:48s} {sizes}, <= {m['max_frames']} frames, {m['fps']:g} fps{size}{camera}, "
            f"licence {m['licence']}{flags}"
        )
        for r in m.get("requires") or []:
            lines.append(f"  {'':22s} needs {r['what']} ({r['repo']}: {', '.join(r['files'])})")
        shaping = m.get("sns_shaped_steps")
        if shaping:
            counts = ", ".join(f"{t}: {k}" for t, k in shaping["shaped"].items())
            lines.append(f"  {'':22s} noise shaping, steps shaped of {shaping['steps']} by threshold: {counts}")
    lines.append("Depth models (--model takes the alias, a Hugging Face id, or a local folder):")
    for m in depth:
        flags = ("  [default]" if m.get("default") else "") + ("  [cached]" if m.get("cached") else "")
        note = f"  {m['note']}" if m.get("note") else ""
        lines.append(f"  {m['name']:20s} {m['id']:58s} licence {m.get('licence')}{note}{flags}")
    return "\n".join(lines)
