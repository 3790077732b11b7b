"""The bundle as one zip archive, for upload: packing, and unpacking an upload safely.

An upload is judged from its central directory before anything is written:
the number of entries, every name, the declared sizes (each file and all
together, bounded by Limits) and how far the archive claims to expand. Then
extraction counts the bytes it actually writes, because headers can lie, and
stops at what each entry declared.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import struct
import zipfile
import zlib

from .folder import bundle_files
from .manifest import safe_relative_path
from .types import BundleError, Limits, Problem

CHUNK = 1 << 20
# Past RATIO_FREE_BYTES unpacked, an archive may expand at most MAX_RATIO times its own size.
# Bundles hold PNGs (stored: they are compressed already) and a depth map; only a bomb expands more.
MAX_RATIO = 20
RATIO_FREE_BYTES = 64 * 2**20
_NAME_ERRNOS = {errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL, errno.ENOTDIR, errno.EISDIR, errno.EEXIST}
_DAMAGED = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    NotImplementedError,
    RuntimeError,  # zipfile's "encrypted, password required"
    zlib.error,
    struct.error,
)


# Every entry gets this time and mode, so the same bundle always packs to the same bytes: the server
# knows a job by the archive's digest, and a bundle written again (a retry, a second export) is one job.
_ENTRY_TIME = (1980, 1, 1, 0, 0, 0)
_ENTRY_MODE = (stat.S_IFREG | 0o644) << 16


def pack_bundle(folder, archive_path) -> str:
    """Write the bundle folder as one reproducible zip (PNGs are stored, they are compressed already)."""
    tmp = str(archive_path) + ".part"
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(bundle_files(folder)):
            info = zipfile.ZipInfo(name, date_time=_ENTRY_TIME)
            info.external_attr = _ENTRY_MODE
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".png") else zipfile.ZIP_DEFLATED
            with open(os.path.join(folder, name), "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
    os.replace(tmp, archive_path)
    return str(archive_path)


def inspect_archive(archive_path, limits: Limits = Limits()) -> int:
    """Judge an archive from its central directory alone: the bytes it unpacks to, or BundleError."""
    with _open(archive_path) as zf:
        return _inspect(zf, os.path.getsize(archive_path), limits)


def unpack_bundle(archive_path, dest, limits: Limits = Limits()) -> None:
    """Extract an uploaded bundle archive safely into the empty folder dest.

    Refuses absolute names, '..', links, encrypted entries, names that are both
    a file and a folder, and anything past the limits, counting the bytes
    actually written rather than the sizes the archive claims. On refusal
    nothing is left in dest; an OSError that is not about the upload (a full
    disk) is raised as it is.
    """
    zf = _open(archive_path)
    try:
        with zf:
            _inspect(zf, os.path.getsize(archive_path), limits)
            _extract(zf, dest, limits)
    except BundleError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except _DAMAGED as e:
        shutil.rmtree(dest, ignore_errors=True)
        raise BundleError([Problem("archive", f"is damaged: {e}")], kind="damaged") from None
    except OSError as e:
        shutil.rmtree(dest, ignore_errors=True)
        if e.errno in _NAME_ERRNOS:
            raise BundleError([Problem("archive", f"has an entry that cannot be written: {e.strerror}")]) from None
        raise


def _open(archive_path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive_path)
    except (*_DAMAGED, ValueError) as e:
        raise BundleError([Problem("archive", f"is not a zip archive ({e})")], kind="not-zip") from None
    except OSError as e:
        if e.errno == errno.EINVAL:  # a seek before the start: offsets that point nowhere
            raise BundleError([Problem("archive", "is not a zip archive")], kind="not-zip") from None
        raise


def _entry(name: str) -> str:
    shown = name if len(name) <= 100 else name[:60] + "..." + name[-20:]
    return f"archive entry {shown!r}"


def _too_large(message: str) -> BundleError:
    return BundleError([Problem("archive", message)], kind="too-large")


def _inspect(zf: zipfile.ZipFile, archive_bytes: int, limits: Limits) -> int:
    infos = zf.infolist()
    if len(infos) > limits.max_archive_entries:
        raise _too_large(f"has {len(infos)} entries, at most {limits.max_archive_entries}")
    problems = []
    files, folders, seen, folded = set(), set(), set(), set()
    total = 0
    for info in infos:
        name = info.filename.rstrip("/") if info.is_dir() else info.filename
        if not name:
            continue
        why = safe_relative_path(name)
        if why:
            problems.append(Problem(_entry(info.filename), why))
            continue
        if name in seen:
            problems.append(Problem(_entry(name), "appears twice"))
        elif name.lower() in folded:
            problems.append(Problem(_entry(name), "differs from another entry only in letter case"))
        seen.add(name)
        folded.add(name.lower())
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            problems.append(Problem(_entry(name), "symbolic links are not allowed"))
        if info.flag_bits & 0x1:
            problems.append(Problem(_entry(name), "is encrypted; bundle entries must not be"))
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(
                Problem(_entry(name), f"uses compression method {info.compress_type}; use store or deflate")
            )
        parts = name.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if info.is_dir():
            folders.add(name)
            continue
        files.add(name)
        if info.file_size > limits.max_entry_bytes:
            raise _too_large(
                f"entry {name[:100]!r} unpacks to {info.file_size} bytes; no file of a bundle within this "
                f"server's limits is larger than {limits.max_entry_bytes}"
            )
        total += info.file_size
    for name in sorted(files & folders):
        problems.append(Problem(_entry(name), "is both a file and a folder"))
    if problems:
        raise BundleError(problems)
    if total > limits.max_unpacked_bytes:
        raise _too_large(f"unpacks to more than the {limits.max_unpacked_bytes} bytes accepted here ({total})")
    if total > RATIO_FREE_BYTES and total > MAX_RATIO * archive_bytes:
        raise _too_large(
            f"unpacks to {total} bytes from {archive_bytes} ({total / max(archive_bytes, 1):.0f} times its size; "
            f"at most {MAX_RATIO}): a zip bomb? Pack bundles with `realcam bundle pack`, which stores the PNGs"
        )
    return total


def _extract(zf: zipfile.ZipFile, dest, limits: Limits) -> None:
    os.makedirs(dest, exist_ok=True)
    written = 0
    for info in zf.infolist():
        if info.is_dir():
            continue
        target = os.path.join(dest, *info.filename.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        entry = 0
        # "x": a name that exists already (a link, a duplicate) is an error, never written through.
        with zf.open(info) as src, open(target, "xb") as out:
            while chunk := src.read(CHUNK):
                entry += len(chunk)
                written += len(chunk)
                if entry > info.file_size or written > limits.max_unpacked_bytes:
                    raise _too_large(
                        f"entry {info.filename[:100]!r} holds more than its declared {info.file_size} bytes"
                    )
                out.write(chunk)
