"""The job bundle: what the add-on sends to the backend (contract, version 1).

This module is the one definition of the bundle. A bundle is a folder, or the
same files in one zip archive (for upload):

    manifest.json          the manifest below
    reference.png          the photo as the model sees it: 8-bit RGB or RGBA PNG, width x height
    preview/0000.png ...   one 8-bit RGBA PNG per frame, width x height, alpha = covered by the scene
    depth.npy              optional: float32 (height, width) z-depth of the reference camera, metres

manifest.json (schema_version 1)::

    {
      "schema": "realcam.job-bundle",
      "schema_version": 1,
      "width": 832, "height": 480,            generation resolution, pixels
      "intrinsics_convention": "continuous-pixel-centre-at-half",
      "reference_image": "reference.png",
      "depth": "depth.npy" or null,
      "frames": [                             one per video frame, in order
        {
          "scene_frame": 1,                   Blender frame number, strictly increasing
          "preview": "preview/0000.png",
          "intrinsics": {"fx": ..., "fy": ..., "cx": ..., "cy": ...},   pixels of width x height
          "c2w": [[...], [...], [...], [...]]  4x4 camera-to-world, OpenCV axes, metres,
                                               relative to frame 0 (frame 0 is the identity)
        }, ...
      ],
      "settings": {
        "model": "Wan-AI/Wan2.2-TI2V-5B-Diffusers",   Hugging Face id or a name the backend knows
        "prompt": "", "negative_prompt": "",
        "seed": 0,                            0 <= seed < 2**32
        "steps": null or int,                 null = the model's default
        "guidance": null or number,           null = the model's default
        "fps": 24.0,                          the Blender scene's frame rate
        "sns": {"enabled": true, "threshold": 0.9},  threshold: noise level in [0, 1]
        "evaluate": false                     optional: also measure camera accuracy (realcam eval)
      },
      "source": {...}                         optional, free-form: who made it (app, scene, camera)
    }

Paths inside the manifest are relative POSIX paths that stay inside the bundle.
Validation never trusts a size: image sizes come from the files' headers, the
depth shape from the .npy header, before anything is decoded.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import shutil
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .camera import K_CONVENTION, Intrinsics, rigid_problems
from .npy_info import npy_header
from .png_info import png_info

SCHEMA_NAME = "realcam.job-bundle"
SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
MANIFEST_NAME = "manifest.json"

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
}
_FRAME_KEYS = {"scene_frame", "preview", "intrinsics", "c2w"}
_SETTINGS_KEYS = {"model", "prompt", "negative_prompt", "seed", "steps", "guidance", "fps", "sns", "evaluate"}
_SNS_KEYS = {"enabled", "threshold"}
_K_KEYS = {"fx", "fy", "cx", "cy"}
IDENTITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Limits:
    """What a bundle may hold. The server tightens these from its configuration."""

    max_frames: int = 1024
    max_side: int = 4096
    max_pixels: int = 4096 * 2304
    max_manifest_bytes: int = 8 * 1024 * 1024
    max_archive_entries: int = 2100
    max_unpacked_bytes: int = 4 * 1024**3


@dataclass(frozen=True)
class Problem:
    where: str  # file, or manifest path like "manifest.json: frames[3].c2w"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class BundleError(ValueError):
    """A bundle that failed validation; .problems lists every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems[:5]) + ("" if len(problems) <= 5 else " ..."))


@dataclass
class SnsSettings:
    enabled: bool = True
    threshold: float = 0.9


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

    def to_dict(self) -> dict:
        return {
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

    def to_dict(self) -> dict:
        return {
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


# ---------------------------------------------------------------- manifest checks


class _Checker:
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


def safe_relative_path(name) -> str | None:
    """Why a manifest file name is unsafe, or None when it stays inside the bundle."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if "\\" in name or "\x00" in name:
        return "must use forward slashes and no NUL characters"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "must be relative to the bundle folder, not absolute"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "must not contain '..', '.' or empty parts (it would escape or alias the bundle folder)"
    if posixpath.normpath(name) != name:
        return "must be a normalised path"
    return None


@dataclass
class _FileRefs:
    """The files a manifest names, as far as they could be read (for file checks)."""

    size: tuple[int, int] | None = None
    reference: str | None = None
    depth: str | None = None
    previews: list = field(default_factory=list)  # (frame index, name)
    readable: bool = True  # False when the manifest is of an unknown kind or version


def parse_manifest(data, limits: Limits = Limits()) -> tuple[JobBundle | None, list[Problem]]:
    """Check a decoded manifest; the bundle when it is sound, and every problem found."""
    bundle, problems, _ = _parse(data, limits)
    return bundle, problems


def _parse(data, limits: Limits) -> tuple[JobBundle | None, list[Problem], _FileRefs]:
    c = _Checker()
    refs = _FileRefs()
    if not isinstance(data, dict):
        c.m("", "must be a JSON object")
        refs.readable = False
        return None, c.problems, refs
    if data.get("schema") != SCHEMA_NAME:
        c.m("schema", f"must be {SCHEMA_NAME!r}, found {data.get('schema')!r}")
    version = data.get("schema_version")
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

    names = [n for _, n in refs.previews] + [ref] + ([depth] if depth else [])
    seen = set()
    for n in names:
        if isinstance(n, str) and n in seen:
            c.m("frames", f"file {n!r} is referenced twice")
        seen.add(n)
    source = data.get("source") or {}
    if not isinstance(source, dict):
        c.m("source", "must be an object")
    if c.problems:
        return None, c.problems, refs
    return JobBundle(width, height, frames, settings, ref, depth, source), [], refs


def _parse_settings(s, c: _Checker) -> Settings | None:
    if not isinstance(s, dict):
        c.m("settings", "must be an object")
        return None
    c.unknown_keys(s, _SETTINGS_KEYS, "settings")
    start = len(c.problems)
    model = s.get("model")
    if not isinstance(model, str) or not model.strip():
        c.m("settings.model", "must name a model (Hugging Face id or a name the backend knows)")
    for key in ("prompt", "negative_prompt"):
        if not isinstance(s.get(key, ""), str):
            c.m(f"settings.{key}", "must be a string")
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
    if not _is_num(fps) or not 0 < fps <= 1000:
        c.m("settings.fps", f"must be a frame rate in (0, 1000], found {fps!r}")
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
        if not _is_num(threshold) or not 0.0 <= threshold <= 1.0:
            c.m("settings.sns.threshold", f"must be a noise level in [0, 1], found {threshold!r}")
    evaluate = s.get("evaluate", False)
    if not isinstance(evaluate, bool):
        c.m("settings.evaluate", "must be true or false")
    if len(c.problems) > start:
        return None
    return Settings(
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


def _parse_frames(frames, c: _Checker, limits: Limits, refs: _FileRefs) -> list[Frame] | None:
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
        c2w = f.get("c2w")
        try:
            m = np.array(c2w, dtype=np.float64)
        except (TypeError, ValueError):
            m = None
        if m is None or m.shape != (4, 4):
            c.m(f"{p}.c2w", "must be a 4x4 list of numbers")
        else:
            for why in rigid_problems(m):
                c.m(f"{p}.c2w", why)
            if i == 0 and not rigid_problems(m) and not np.allclose(m, np.eye(4), atol=IDENTITY_TOLERANCE):
                c.m(f"{p}.c2w", "frame 0 must be the identity (poses are relative to the reference camera)")
        if len(c.problems) == n_before and K is not None:
            out.append(Frame(sf, f["preview"], K, m))
    return out


def _parse_intrinsics(k, c: _Checker, path: str, size) -> Intrinsics | None:
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
    for why in problems:
        c.m(path, why)
    return None if problems else K


# ---------------------------------------------------------------- folder checks


def _inside(root: str, name: str) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, name))
    return real == real_root or real.startswith(real_root + os.sep)


def _check_png(c: _Checker, root: str, name: str, size, colors: tuple, what: str) -> None:
    if not _inside(root, name):
        c.add(name, "resolves outside the bundle folder (symbolic link?)")
        return
    path = os.path.join(root, name)
    if not os.path.isfile(path):
        c.add(name, f"missing {what}")
        return
    try:
        info = png_info(path)
    except (OSError, ValueError) as e:
        c.add(name, f"{what} is unreadable: {e}")
        return
    if (info.width, info.height) != size:
        c.add(name, f"{what} is {info.width}x{info.height}, the bundle is {size[0]}x{size[1]}")
    if info.color not in colors or info.bit_depth != 8:
        want = " or ".join(colors)
        c.add(name, f"{what} must be an 8-bit {want} PNG, found {info.bit_depth}-bit {info.color}")
    if not info.complete:
        c.add(name, f"{what} is truncated (no IEND chunk)")


def _check_depth(c: _Checker, root: str, name: str, size) -> None:
    if not _inside(root, name):
        c.add(name, "resolves outside the bundle folder (symbolic link?)")
        return
    path = os.path.join(root, name)
    if not os.path.isfile(path):
        c.add(name, "missing depth map")
        return
    try:
        shape, dtype = npy_header(path)
    except Exception as e:  # numpy raises several types for a bad header
        c.add(name, f"depth map is not a readable .npy file: {e}")
        return
    if shape != (size[1], size[0]):
        c.add(name, f"depth map has shape {shape}, expected ({size[1]}, {size[0]}) (height, width)")
        return
    if dtype.kind != "f":
        c.add(name, f"depth map must hold floats (metres), found {dtype}")
        return
    d = np.load(path, allow_pickle=False)
    bad = ~np.isfinite(d)
    if bad.any():
        c.add(name, f"depth map has {int(bad.sum())} non-finite values")
    elif (d < 0).any():
        c.add(name, "depth map has negative values")


def validate_bundle(folder, limits: Limits = Limits()) -> tuple[JobBundle | None, list[Problem]]:
    """Check a bundle folder: manifest, every referenced file, and nothing extra."""
    folder = os.fspath(folder)
    mpath = os.path.join(folder, MANIFEST_NAME)
    if not os.path.isdir(folder):
        return None, [Problem(folder, "is not a folder")]
    if not os.path.isfile(mpath):
        return None, [Problem(MANIFEST_NAME, "missing: this folder is not a job bundle")]
    if os.path.getsize(mpath) > limits.max_manifest_bytes:
        return None, [Problem(MANIFEST_NAME, f"larger than {limits.max_manifest_bytes} bytes")]
    try:
        with open(mpath, encoding="utf-8") as fh:
            data = json.load(fh)
    except (ValueError, UnicodeDecodeError) as e:
        return None, [Problem(MANIFEST_NAME, f"is not valid JSON: {e}")]
    bundle, problems, refs = _parse(data, limits)
    if not refs.readable:
        return None, problems
    c = _Checker()
    c.problems.extend(problems)
    # Files are checked as far as the manifest could be read, so one run
    # reports manifest and file problems together.
    if refs.size is not None:
        if refs.reference:
            _check_png(c, folder, refs.reference, refs.size, ("rgb", "rgba"), "reference image")
        for i, name in refs.previews:
            _check_png(c, folder, name, refs.size, ("rgba",), f"preview of frame {i}")
        if refs.depth:
            _check_depth(c, folder, refs.depth, refs.size)
    referenced = {MANIFEST_NAME, *(n for _, n in refs.previews)}
    referenced.update(n for n in (refs.reference, refs.depth) if n)
    for name in sorted(_all_files(folder)):
        if name not in referenced:
            what = "extra frame not listed in the manifest" if name.startswith("preview/") else "extra file"
            c.add(name, what)
    return (bundle if not c.problems else None), c.problems


def _all_files(folder) -> list[str]:
    out = []
    for dirpath, _dirs, files in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        for fn in files:
            out.append(fn if rel == "." else posixpath.join(rel.replace(os.sep, "/"), fn))
    return out


def load_bundle(folder, limits: Limits = Limits()) -> JobBundle:
    bundle, problems = validate_bundle(folder, limits)
    if problems:
        raise BundleError(problems)
    return bundle


# ---------------------------------------------------------------- archive


def pack_bundle(folder, archive_path) -> str:
    """Write the bundle folder as one zip (PNGs are stored, they are compressed already)."""
    tmp = str(archive_path) + ".part"
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(_all_files(folder)):
            compress = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
            zf.write(os.path.join(folder, name), name, compress_type=compress)
    os.replace(tmp, archive_path)
    return str(archive_path)


def unpack_bundle(archive_path, dest, limits: Limits = Limits()) -> None:
    """Extract an uploaded bundle archive safely into the empty folder dest.

    Refuses absolute names, '..', links and anything past the limits, counting
    the bytes actually written rather than the sizes the archive claims.
    """
    try:
        zf = zipfile.ZipFile(archive_path)
    except zipfile.BadZipFile:
        raise BundleError([Problem("archive", "is not a zip archive")]) from None
    try:
        with zf:
            _extract(zf, dest, limits)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, NotImplementedError) as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise BundleError([Problem("archive", f"is damaged: {e}")]) from None


def _extract(zf: zipfile.ZipFile, dest, limits: Limits) -> None:
    infos = zf.infolist()
    if len(infos) > limits.max_archive_entries:
        raise BundleError([Problem("archive", f"has {len(infos)} entries, at most {limits.max_archive_entries}")])
    problems = []
    for info in infos:
        name = info.filename
        if info.is_dir():
            name = name.rstrip("/")
            if not name:
                continue
        why = safe_relative_path(name)
        if why:
            problems.append(Problem(f"archive entry {info.filename!r}", why))
        mode = (info.external_attr >> 16) & 0o170000
        if mode == 0o120000:
            problems.append(Problem(f"archive entry {info.filename!r}", "symbolic links are not allowed"))
    if problems:
        raise BundleError(problems)
    os.makedirs(dest, exist_ok=True)
    written = 0
    for info in infos:
        if info.is_dir():
            continue
        target = os.path.join(dest, *info.filename.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as out:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                written += len(chunk)
                if written > limits.max_unpacked_bytes:
                    out.close()
                    shutil.rmtree(dest, ignore_errors=True)
                    raise BundleError([Problem("archive", f"unpacks to more than {limits.max_unpacked_bytes} bytes")])
                out.write(chunk)
