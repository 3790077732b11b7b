"""The bundle as one zip archive, for upload: packing, and unpacking an upload safely."""

from __future__ import annotations

import os
import shutil
import zipfile

from .folder import bundle_files
from .schema import BundleError, Limits, Problem, safe_relative_path


def pack_bundle(folder, archive_path) -> str:
    """Write the bundle folder as one zip (PNGs are stored, they are compressed already)."""
    tmp = str(archive_path) + ".part"
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(bundle_files(folder)):
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
