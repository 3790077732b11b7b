"""Checking a bundle folder: the manifest, every file it names, and nothing extra.

Sizes are never trusted: image sizes come from the PNG headers, the depth
shape from the .npy header, before anything is decoded.
"""

from __future__ import annotations

import json
import os
import posixpath

import numpy as np

from ..npy_info import npy_header
from ..png_info import png_info
from .manifest import Checker, json_values_over, parse_with_refs
from .types import MANIFEST_NAME, BundleError, JobBundle, Limits, Problem


def _inside(root: str, name: str) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, name))
    return real == real_root or real.startswith(real_root + os.sep)


def _check_png(c: Checker, root: str, name: str, size, colors: tuple, what: str) -> None:
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


def _check_depth(c: Checker, root: str, name: str, size) -> None:
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
    expected = _npy_data_offset(path) + int(np.prod(shape)) * dtype.itemsize
    actual = os.path.getsize(path)
    if actual != expected:
        c.add(name, f"depth map is {actual} bytes, its header says {expected} (truncated or damaged)")
        return
    try:
        d = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        c.add(name, f"depth map cannot be read: {e}")
        return
    bad = ~np.isfinite(d)
    if bad.any():
        c.add(name, f"depth map has {int(bad.sum())} non-finite values")
    elif (d < 0).any():
        c.add(name, "depth map has negative values")


def _npy_data_offset(path: str) -> int:
    with open(path, "rb") as fh:
        if np.lib.format.read_magic(fh) == (1, 0):
            np.lib.format.read_array_header_1_0(fh)
        else:
            np.lib.format.read_array_header_2_0(fh)
        return fh.tell()


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
            text = fh.read()
        values = json_values_over(text, limits.max_manifest_values)
        if values is not None:
            return None, [
                Problem(
                    MANIFEST_NAME,
                    f"holds {values} values; a manifest within these limits holds at most {limits.max_manifest_values}",
                )
            ]
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        return None, [Problem(MANIFEST_NAME, f"is not valid JSON: {e}")]
    except RecursionError:
        return None, [Problem(MANIFEST_NAME, "nests lists and objects too deeply to read")]
    bundle, problems, refs = parse_with_refs(data, limits)
    if not refs.readable:
        return None, problems
    c = Checker()
    c.problems.extend(problems)
    # Files are checked as far as the manifest could be read, so one run
    # reports manifest and file problems together.
    if refs.size is not None:
        if refs.reference:
            _check_png(c, folder, refs.reference, refs.size, ("rgb", "rgba"), "reference image")
        if refs.last_image:
            _check_png(c, folder, refs.last_image, refs.size, ("rgb", "rgba"), "last image")
        for i, name in refs.previews:
            _check_png(c, folder, name, refs.size, ("rgba",), f"preview of frame {i}")
        if refs.depth:
            _check_depth(c, folder, refs.depth, refs.size)
    referenced = {MANIFEST_NAME, *(n for _, n in refs.previews)}
    referenced.update(n for n in (refs.reference, refs.depth, refs.last_image) if n)
    for name in sorted(bundle_files(folder)):
        if name not in referenced:
            what = "extra frame not listed in the manifest" if name.startswith("preview/") else "extra file"
            c.add(name, what)
    return (bundle if not c.problems else None), c.problems


def bundle_files(folder) -> list[str]:
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
