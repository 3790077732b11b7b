"""Checking a decoded manifest: every problem found, with where it is, and the files it names.

The format itself is documented once, in the package docstring (bundle/__init__.py); the types are types.py.
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass, field

import numpy as np

from ..camera import K_CONVENTION, Intrinsics, rigid_problems
from .types import (
    DEFAULT_CACHE_THRESHOLD,
    FOCAL_RANGE,
    IDENTITY_TOLERANCE,
    MANIFEST_NAME,
    MAX_FPS,
    MAX_PROMPT_BYTES,
    MAX_TRANSLATION_M,
    MIN_FPS,
    SAMPLERS,
    SCHEMA_NAME,
    SNS_THRESHOLD_MAX,
    STEP_CACHES,
    SUPPORTED_SCHEMA_VERSIONS,
    Frame,
    JobBundle,
    Limits,
    Problem,
    Settings,
    SnsSettings,
    SpeedSettings,
)

_TOP_KEYS = {
    "schema",
    "schema_version",
    "width",
    "height",
    "intrinsics_convention",
    "reference_image",
    "depth",
    "frames",
    "settings",
    "source",
    "last_image",
}
_FRAME_KEYS = {"scene_frame", "preview", "intrinsics", "c2w"}
_SETTINGS_KEYS = {
    "model",
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "guidance",
    "fps",
    "sns",
    "evaluate",
    "camera_condition",
    "speed",
    "camera_scale",
    "sampler",
    "loop",
}
_SNS_KEYS = {"enabled", "threshold"}
_SPEED_KEYS = {"step_cache", "cache_threshold", "compile"}
_K_KEYS = {"fx", "fy", "cx", "cy"}
MAX_NESTING = 32  # JSON objects and lists inside each other, in the manifest (a free-form "source" included)
MAX_NAME_PART_BYTES = 255  # what file systems hold per path component
MAX_NAME_BYTES = 1024


class Checker:
    def __init__(self):
        self.problems: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def m(self, path: str, message: str) -> None:
        self.add(f"{MANIFEST_NAME}: {path}" if path else MANIFEST_NAME, message)

    def unknown_keys(self, obj: dict, allowed: set, path: str) -> None:
        for k in sorted(set(obj) - allowed):
            self.m(f"{path}.{k}" if path else k, "unknown field (misspelt, or from a newer schema version?)")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _matrix4(v) -> np.ndarray | None:
    """A 4x4 list of JSON numbers as an array; None for anything else (strings and booleans included).

    Non-finite numbers pass here and are reported by the rigidity check."""
    if not isinstance(v, list) or len(v) != 4:
        return None
    number = (int, float)
    if not all(
        isinstance(row, list) and len(row) == 4 and all(isinstance(x, number) and not isinstance(x, bool) for x in row)
        for row in v
    ):
        return None
    return np.array(v, dtype=np.float64)


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def json_values_over(text: str, limit: int) -> int | None:
    """How many values a JSON text holds, when that is more than limit (else None), counted without parsing
    it: Python's json makes an object of every value, 50 to 150 bytes each, so a few megabytes of "[],"
    would take gigabytes. The count is an upper bound (lists and objects, plus separators)."""
    if text.count(",") + text.count("[") + text.count("{") <= limit:  # no string can raise the count
        return None
    bare = _JSON_STRING.sub('""', text)  # commas and brackets inside strings are not values
    n = bare.count(",") + bare.count("[") + bare.count("{")
    return n if n > limit else None


def nested_deeper_than(value, limit: int) -> bool:
    """Whether JSON lists and objects nest more than limit deep (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth > limit:
                return True
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


def safe_relative_path(name) -> str | None:
    """Why a manifest file name is unsafe, or None when it stays inside the bundle."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if "\\" in name or "\x00" in name:
        return "must use forward slashes and no NUL characters"
    try:
        encoded = [p.encode("utf-8") for p in name.split("/")]
    except UnicodeEncodeError:
        return "must be valid UTF-8"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES or any(len(p) > MAX_NAME_PART_BYTES for p in encoded):
        return f"is too long (at most {MAX_NAME_PART_BYTES} bytes per part, {MAX_NAME_BYTES} in all)"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "must be relative to the bundle folder, not absolute"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "must not contain '..', '.' or empty parts (it would escape or alias the bundle folder)"
    if posixpath.normpath(name) != name:
        return "must be a normalised path"
    return None


@dataclass
class FileRefs:
    """The files a manifest names, as far as they could be read (for file checks)."""

    size: tuple[int, int] | None = None
    reference: str | None = None
    last_image: str | None = None
    depth: str | None = None
    previews: list = field(default_factory=list)  # (frame index, name)
    readable: bool = True  # False when the manifest is of an unknown kind or version


def parse_manifest(data, limits: Limits = Limits()) -> tuple[JobBundle | None, list[Problem]]:
    """Check a decoded manifest; the bundle when it is sound, and every problem found."""
    bundle, problems, _ = parse_with_refs(data, limits)
    return bundle, problems


def parse_with_refs(data, limits: Limits) -> tuple[JobBundle | None, list[Problem], FileRefs]:
    c = Checker()
    refs = FileRefs()
    if not isinstance(data, dict):
        c.m("", "must be a JSON object")
        refs.readable = False
        return None, c.problems, refs
    if nested_deeper_than(data, MAX_NESTING):
        c.m("", f"nests lists and objects more than {MAX_NESTING} levels deep")
        refs.readable = False
        return None, c.problems, refs
    if data.get("schema") != SCHEMA_NAME:
        c.m("schema", f"must be {SCHEMA_NAME!r}, found {data.get('schema')!r}")
    version = data.get("schema_version")
    if not _is_int(version):  # true == 1 and 1.0 == 1 in Python: neither is the version number 1
        c.m("schema_version", f"must be an integer, one of {list(SUPPORTED_SCHEMA_VERSIONS)}; found {version!r}")
        refs.readable = False
        return None, c.problems, refs
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        c.m(
            "schema_version",
            f"unknown schema version {version!r}; this side reads {list(SUPPORTED_SCHEMA_VERSIONS)} "
            "(update the add-on and the backend to the same release)",
        )
        refs.readable = False
        return None, c.problems, refs
    c.unknown_keys(data, _TOP_KEYS, "")

    width, height = data.get("width"), data.get("height")
    size_ok = _is_int(width) and _is_int(height) and width > 0 and height > 0
    if not size_ok:
        c.m("width", f"width and height must be positive integers, found {width!r} x {height!r}")
    elif width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
        c.m(
            "width", f"{width}x{height} is larger than allowed ({limits.max_side} per side, {limits.max_pixels} pixels)"
        )
        size_ok = False
    if size_ok:
        refs.size = (width, height)
    if data.get("intrinsics_convention") != K_CONVENTION:
        c.m("intrinsics_convention", f"must be {K_CONVENTION!r}, found {data.get('intrinsics_convention')!r}")

    ref = data.get("reference_image")
    why = safe_relative_path(ref)
    if why:
        c.m("reference_image", why)
    else:
        refs.reference = ref
    last_image = data.get("last_image")
    if last_image is not None:
        why = safe_relative_path(last_image)
        if why:
            c.m("last_image", why)
        else:
            refs.last_image = last_image
    depth = data.get("depth")
    if depth is not None:
        why = safe_relative_path(depth)
        if why:
            c.m("depth", why)
        elif not depth.endswith(".npy"):
            c.m("depth", "must be a .npy file")
        else:
            refs.depth = depth

    settings = _parse_settings(data.get("settings"), c)
    frames = _parse_frames(data.get("frames"), c, limits, refs)

    names = [n for _, n in refs.previews] + [ref] + ([depth] if depth else []) + ([last_image] if last_image else [])
    seen = set()
    for n in names:
        if isinstance(n, str) and n in seen:
            c.m("frames", f"file {n!r} is referenced twice")
        seen.add(n)
    source = data.get("source") or {}
    if not isinstance(source, dict):
        c.m("source", "must be an object")
    if settings is not None and settings.loop and last_image is not None:
        c.m("last_image", "a loop ends on its own first frame (settings.loop): it cannot also end on another image")
    if c.problems:
        return None, c.problems, refs
    return JobBundle(width, height, frames, settings, ref, depth, source, last_image), [], refs


def _parse_speed(sp, c: Checker) -> SpeedSettings | None:
    if not isinstance(sp, dict):
        c.m("settings.speed", "must be an object")
        return None
    c.unknown_keys(sp, _SPEED_KEYS, "settings.speed")
    cache = sp.get("step_cache", "off")
    if cache not in STEP_CACHES:
        c.m("settings.speed.step_cache", f"must be one of {', '.join(STEP_CACHES)}, found {cache!r}")
    threshold = sp.get("cache_threshold", DEFAULT_CACHE_THRESHOLD)
    if not _is_num(threshold) or not 0 < threshold <= 1:
        c.m(
            "settings.speed.cache_threshold",
            f"must be a number in (0, 1] (the relative change that makes a step run in full), found {threshold!r}",
        )
    compile_ = sp.get("compile", False)
    if not isinstance(compile_, bool):
        c.m("settings.speed.compile", "must be true or false")
    return SpeedSettings(cache, float(threshold) if _is_num(threshold) else DEFAULT_CACHE_THRESHOLD, compile_)


def _parse_settings(s, c: Checker) -> Settings | None:
    if not isinstance(s, dict):
        c.m("settings", "must be an object")
        return None
    c.unknown_keys(s, _SETTINGS_KEYS, "settings")
    start = len(c.problems)
    model = s.get("model")
    if not isinstance(model, str) or not model.strip():
        c.m("settings.model", "must name a model (Hugging Face id or a name the backend knows)")
    for key in ("prompt", "negative_prompt"):
        text = s.get(key, "")
        if not isinstance(text, str):
            c.m(f"settings.{key}", "must be a string")
        elif len(text) > MAX_PROMPT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_PROMPT_BYTES:
            n = len(text.encode("utf-8", "surrogatepass"))
            c.m(f"settings.{key}", f"is {n} bytes long; at most {MAX_PROMPT_BYTES} (UTF-8), more than a model reads")
    seed = s.get("seed", 0)
    if not _is_int(seed) or not 0 <= seed < 2**32:
        c.m("settings.seed", f"must be an integer in [0, 2**32), found {seed!r}")
    steps = s.get("steps")
    if steps is not None and (not _is_int(steps) or not 1 <= steps <= 1000):
        c.m("settings.steps", f"must be null or an integer in [1, 1000], found {steps!r}")
    guidance = s.get("guidance")
    if guidance is not None and (not _is_num(guidance) or not 0 <= guidance <= 100):
        c.m("settings.guidance", f"must be null or a number in [0, 100], found {guidance!r}")
    fps = s.get("fps")
    if not _is_num(fps) or not MIN_FPS <= fps <= MAX_FPS:
        c.m("settings.fps", f"must be a frame rate from {MIN_FPS:g} to {MAX_FPS:g} per second, found {fps!r}")
    sns = s.get("sns", {})
    enabled, threshold = True, 0.9
    if not isinstance(sns, dict):
        c.m("settings.sns", "must be an object")
    else:
        c.unknown_keys(sns, _SNS_KEYS, "settings.sns")
        enabled = sns.get("enabled", True)
        threshold = sns.get("threshold", 0.9)
        if not isinstance(enabled, bool):
            c.m("settings.sns.enabled", "must be true or false")
        if not _is_num(threshold) or not 0.0 <= threshold <= SNS_THRESHOLD_MAX:
            c.m(
                "settings.sns.threshold",
                f"must be a noise level in [0, {SNS_THRESHOLD_MAX:g}] (0.9 = upstream's t >= 900), found {threshold!r}",
            )
    evaluate = s.get("evaluate", False)
    if not isinstance(evaluate, bool):
        c.m("settings.evaluate", "must be true or false")
    camera_condition = s.get("camera_condition", True)
    if not isinstance(camera_condition, bool):
        c.m("settings.camera_condition", "must be true or false")
    speed = _parse_speed(s.get("speed", {}), c)
    camera_scale = s.get("camera_scale")
    if camera_scale is not None and (not _is_num(camera_scale) or not 0 < camera_scale <= 1000):
        c.m("settings.camera_scale", f"must be null or a number in (0, 1000] (units per metre), found {camera_scale!r}")
    sampler = s.get("sampler")
    if sampler is not None and sampler not in SAMPLERS:
        c.m("settings.sampler", f"must be null or one of {', '.join(SAMPLERS)}, found {sampler!r}")
    loop = s.get("loop", False)
    if not isinstance(loop, bool):
        c.m("settings.loop", "must be true or false")
    if len(c.problems) > start:
        return None
    return Settings(
        speed=speed,
        camera_scale=None if camera_scale is None else float(camera_scale),
        sampler=sampler,
        loop=loop,
        camera_condition=camera_condition,
        evaluate=evaluate,
        model=model,
        prompt=s.get("prompt", ""),
        negative_prompt=s.get("negative_prompt", ""),
        seed=seed,
        steps=steps,
        guidance=None if guidance is None else float(guidance),
        fps=float(fps),
        sns=SnsSettings(enabled, float(threshold)),
    )


def _parse_frames(frames, c: Checker, limits: Limits, refs: FileRefs) -> list[Frame] | None:
    size = refs.size
    if not isinstance(frames, list) or len(frames) < 2:
        c.m("frames", "must be a list of at least 2 frames (a video)")
        return None
    if len(frames) > limits.max_frames:
        c.m("frames", f"{len(frames)} frames is more than allowed ({limits.max_frames})")
        return None
    out: list[Frame] = []
    previous = None
    for i, f in enumerate(frames):
        p = f"frames[{i}]"
        if not isinstance(f, dict):
            c.m(p, "must be an object")
            continue
        c.unknown_keys(f, _FRAME_KEYS, p)
        n_before = len(c.problems)
        sf = f.get("scene_frame")
        if not _is_int(sf):
            c.m(f"{p}.scene_frame", f"must be an integer, found {sf!r}")
        elif previous is not None and sf <= previous:
            c.m(f"{p}.scene_frame", f"frame numbers must increase: {sf} follows {previous}")
        if _is_int(sf):
            previous = sf
        why = safe_relative_path(f.get("preview"))
        if why:
            c.m(f"{p}.preview", why)
        else:
            refs.previews.append((i, f["preview"]))
        K = _parse_intrinsics(f.get("intrinsics"), c, f"{p}.intrinsics", size)
        m = _matrix4(f.get("c2w"))
        if m is None:
            c.m(f"{p}.c2w", "must be a 4x4 list of numbers (not strings or booleans)")
        else:
            for why in rigid_problems(m):
                c.m(f"{p}.c2w", why)
            far = float(np.abs(m[:3, 3]).max()) if np.isfinite(m).all() else 0.0
            if far > MAX_TRANSLATION_M:
                c.m(f"{p}.c2w", f"the camera is {far:.3g} m from the photo's; at most {MAX_TRANSLATION_M:g} m")
            if i == 0 and not rigid_problems(m) and not np.allclose(m, np.eye(4), atol=IDENTITY_TOLERANCE):
                c.m(f"{p}.c2w", "frame 0 must be the identity (poses are relative to the reference camera)")
        if len(c.problems) == n_before and K is not None:
            out.append(Frame(sf, f["preview"], K, m))
    return out


def _parse_intrinsics(k, c: Checker, path: str, size) -> Intrinsics | None:
    if not isinstance(k, dict):
        c.m(path, "must be an object with fx, fy, cx, cy")
        return None
    c.unknown_keys(k, _K_KEYS, path)
    vals = [k.get(key) for key in ("fx", "fy", "cx", "cy")]
    if not all(_is_num(v) for v in vals):
        c.m(path, f"fx, fy, cx, cy must be finite numbers, found {vals}")
        return None
    if size is None:
        return None
    K = Intrinsics(*(float(v) for v in vals), size[0], size[1])
    problems = K.problems()
    low, high = (r * max(size) for r in FOCAL_RANGE)
    if not problems and not (low <= K.fx <= high and low <= K.fy <= high):
        problems.append(
            f"focal lengths fx={K.fx:.3g}, fy={K.fy:.3g} px are outside {low:.3g} to {high:.3g} (a field of view "
            f"from 179.9 to 0.06 degrees across the {max(size)} px long side)"
        )
    for why in problems:
        c.m(path, why)
    return None if problems else K
