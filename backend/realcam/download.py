"""`realcam download MODEL`: a known model's weights into the Hugging Face cache, size and licence first, resumable.

The repository is listed at one commit; the files the backend loads are picked (configs, tokenizers, the plain
safetensors weights: no fp16/bf16 variants beside them, no other weight formats where safetensors exist, no
top-level single-file checkpoints of a diffusers pipeline, no pictures or videos). Each missing file is fetched
over HTTP into `blobs/<etag>.incomplete` in the cache, continuing with a Range request from the bytes already
there, checked (sha256 for large files, the git object id for small ones) and put in the layout huggingface_hub
reads: blobs/, snapshots/<commit>/ (links to the blobs), refs/main, the last once every file is there. A stopped
download therefore goes on where it stopped, and a model counts as cached only when it is whole.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field

from .errors import UserError

CHUNK = 1 << 20
_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5", ".onnx", ".onnx_data", ".gguf", ".ot")
_SKIP = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4", ".mov", ".webm", ".pdf", ".gitattributes")
_VARIANTS = ("fp16", "bf16", "fp32", "int8", "ema", "non_ema", "fp8")


@dataclass
class HubFile:
    path: str
    size: int
    etag: str  # the blob's name in the cache: the sha256 of large (LFS) files, the git object id of others
    sha256: str | None = None

    @property
    def git_oid(self) -> str | None:
        return None if self.sha256 else self.etag


@dataclass
class Plan:
    name: str
    repo_id: str
    commit: str
    licence: str | None  # from the backend's catalogue
    card_licence: str | None  # what the model card says
    licence_url: str
    cache: str
    files: list[HubFile] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # paths not in the cache yet
    needs: list[str] = field(default_factory=list)  # other repositories' files the model needs, to download too

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def to_download(self) -> int:
        return sum(f.size for f in self.files if f.path in self.missing)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(total_bytes=self.total_bytes, to_download=self.to_download, partial_bytes=partial_bytes(self))
        return d


def resolve(name: str) -> tuple[str, str, str | None]:
    """(alias, repo id, licence) of a known video or depth model."""
    from realcam_core.models import KNOWN_VIDEO_MODELS

    from .depth.models import KNOWN_MODELS

    known = [(m.alias, m.repo_id, m.spec.licence) for m in KNOWN_VIDEO_MODELS]
    known += [(m.alias, m.repo_id, m.licence) for m in KNOWN_MODELS]
    known += [(r.repo_id, r.repo_id, r.licence) for m in KNOWN_VIDEO_MODELS for r in m.requires]
    for alias, repo_id, licence in known:
        if name in (alias, repo_id):
            return alias, repo_id, licence
    raise UserError(f"unknown model {name!r}: `realcam models` lists the ones that can be downloaded")


def _is_variant(base: str) -> bool:
    parts = base.split(".")[1:-1]  # between the stem and the extension
    return any(p.split("-")[0] in _VARIANTS for p in parts)


def select_files(paths: list[str]) -> list[str]:
    """The files the backend loads from a diffusers pipeline or transformers model repository."""
    pipeline = "model_index.json" in paths
    folders: dict[str, list[str]] = {}
    for p in paths:
        folders.setdefault(posixpath.dirname(p), []).append(p)
    out = []
    for folder, files in folders.items():
        plain_st = any(f.endswith(".safetensors") and not _is_variant(posixpath.basename(f)) for f in files)
        for f in files:
            base = posixpath.basename(f).lower()
            if base.endswith(_SKIP) or base.startswith("."):
                continue
            if pipeline and not folder and f != "model_index.json" and not base.startswith(("readme", "license")):
                continue  # a pipeline loads from its component folders; top-level files are other formats
            is_weight = base.endswith(_WEIGHTS) or ".safetensors.index" in base or ".bin.index" in base
            if is_weight and plain_st and (_is_variant(base) or ".safetensors" not in base):
                continue
            out.append(f)
    # Configs last: a model whose model_index.json/config.json is cached is then whole.
    return sorted(out, key=lambda f: (f in ("model_index.json", "config.json"), f))


def _hub_error(e: Exception, repo_id: str) -> UserError:
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled, RepositoryNotFoundError

    endpoint = constants.ENDPOINT
    if isinstance(e, OfflineModeIsEnabled):
        return UserError("HF_HUB_OFFLINE is set in this environment: unset it to download models")
    if isinstance(e, GatedRepoError):
        return UserError(
            f"{repo_id} is gated: accept its licence on {endpoint}/{repo_id} with your account, log in on this "
            "machine (`hf auth login`, or set HF_TOKEN), then download again"
        )
    if isinstance(e, RepositoryNotFoundError):
        return UserError(f"{endpoint} has no model {repo_id} (or it needs a login: `hf auth login`)")
    if isinstance(e, HfHubHTTPError):
        return UserError(f"the Hugging Face hub at {endpoint} refused the request for {repo_id}: {e}")
    return UserError(
        f"cannot reach the Hugging Face hub at {endpoint} ({type(e).__name__}): check the network connection "
        "(or the proxy, or HF_ENDPOINT) and try again; a download continues where it stopped"
    )


def make_plan(name: str) -> Plan:
    """List the repository and the cache (small requests only, nothing is downloaded)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.file_download import repo_folder_name

    alias, repo_id, licence = resolve(name)
    api = HfApi()
    try:
        info = api.model_info(repo_id)
        tree = [f for f in api.list_repo_tree(repo_id, recursive=True, revision=info.sha) if hasattr(f, "size")]
    except Exception as e:
        raise _hub_error(e, repo_id) from None
    by_path = {f.path: f for f in tree}
    only, needs = _model_files(name)
    files = []
    for p in [p for p in by_path if p in only] if only else select_files(list(by_path)):
        f = by_path[p]
        lfs = getattr(f, "lfs", None)
        sha = getattr(lfs, "sha256", None) if lfs is not None else None
        files.append(HubFile(p, int(f.size), sha or f.blob_id, sha))
    card = getattr(info, "card_data", None) or {}
    card_licence = (card.get("license_name") or card.get("license")) if hasattr(card, "get") else None
    licence_url = (card.get("license_link") if hasattr(card, "get") else None) or f"{constants.ENDPOINT}/{repo_id}"
    if licence_url.startswith(("LICENSE", "./", "/")):
        licence_url = f"{constants.ENDPOINT}/{repo_id}/blob/{info.sha}/{licence_url.lstrip('./')}"
    storage = os.path.join(constants.HF_HUB_CACHE, repo_folder_name(repo_id=repo_id, repo_type="model"))
    plan = Plan(alias, repo_id, info.sha, licence, card_licence, licence_url, storage, files, needs=needs)
    plan.missing = [f.path for f in files if not os.path.isfile(_snapshot_path(plan, f))]
    return plan


def _model_files(name: str) -> tuple[tuple, list[str]]:
    """(the only files to fetch, or () for the default pick; what else the model needs) for a known name."""
    from realcam_core.models import KNOWN_VIDEO_MODELS, known_model

    m = known_model(name)
    if m is not None:
        needs = [f"{r.what}: `realcam download {r.repo_id}` ({', '.join(r.files)})" for r in m.requires]
        return tuple(m.files), needs
    for r in (r for m in KNOWN_VIDEO_MODELS for r in m.requires):
        if r.repo_id == name:
            return tuple(r.files), []
    return (), []


def _snapshot_path(plan: Plan, f: HubFile) -> str:
    return os.path.join(plan.cache, "snapshots", plan.commit, *f.path.split("/"))


def _partial_path(plan: Plan, f: HubFile) -> str:
    return os.path.join(plan.cache, "blobs", f.etag + ".incomplete")


def partial_bytes(plan: Plan) -> int:
    """Bytes of missing files already fetched by an earlier, stopped download."""
    total = 0
    for f in plan.files:
        p = _partial_path(plan, f)
        if f.path in plan.missing and os.path.isfile(p):
            total += min(os.path.getsize(p), f.size)
    return total


class _NoAuthAcrossHosts(urllib.request.HTTPRedirectHandler):
    """Follow redirects (the hub sends large files to its CDN) without sending the token to another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlparse(newurl).netloc != urllib.parse.urlparse(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


def _hasher(f: HubFile):
    if f.sha256:
        return hashlib.sha256()
    h = hashlib.sha1()
    h.update(f"blob {f.size}\0".encode())  # git's object id of a file
    return h


def _fetch(plan: Plan, f: HubFile, on_bytes, opener) -> str:
    """One file into blobs/<etag>, continuing a partial one; returns the blob's path."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    blob = os.path.join(plan.cache, "blobs", f.etag)
    if os.path.isfile(blob) and os.path.getsize(blob) == f.size:
        on_bytes(f.size)
        return blob
    part = _partial_path(plan, f)
    os.makedirs(os.path.dirname(part), exist_ok=True)
    have = os.path.getsize(part) if os.path.isfile(part) else 0
    if have > f.size:
        os.remove(part)
        have = 0
    h = _hasher(f)
    if have:
        with open(part, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                h.update(chunk)
    if have < f.size:
        headers = build_hf_headers()
        headers["Accept-Encoding"] = "identity"
        if have:
            headers["Range"] = f"bytes={have}-"
        url = hf_hub_url(plan.repo_id, f.path, revision=plan.commit)
        try:
            resp = opener.open(urllib.request.Request(url, headers=headers), timeout=60)
        except urllib.error.HTTPError as e:
            raise UserError(f"the hub refused {f.path} of {plan.repo_id} (HTTP {e.code})") from None
        with resp:
            if have and resp.status != 206:  # the server ignored the range: start the file again
                have, h = 0, _hasher(f)
            with open(part, "ab" if have else "wb") as out:
                on_bytes(have)
                for chunk in iter(lambda: resp.read(CHUNK), b""):
                    out.write(chunk)
                    h.update(chunk)
                    have += len(chunk)
                    on_bytes(have)
    if have != f.size or h.hexdigest() != (f.sha256 or f.git_oid):
        os.remove(part)
        raise UserError(f"{f.path} of {plan.repo_id} arrived damaged (size or checksum differs); download again")
    os.replace(part, blob)
    return blob


def _link(plan: Plan, f: HubFile, blob: str) -> None:
    dst = _snapshot_path(plan, f)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        from huggingface_hub.file_download import _create_symlink  # the cache's own rules (copies where no links)
    except ImportError:  # pragma: no cover - only if huggingface_hub drops it

        def _create_symlink(src, dst, new_blob=False):
            os.symlink(os.path.relpath(src, os.path.dirname(dst)), dst)

    _create_symlink(blob, dst, new_blob=True)


def download(plan: Plan, on_progress=None) -> str:
    """Fetch the plan's missing files; on_progress(done_bytes, total_bytes, path). Returns the snapshot folder."""

    opener = urllib.request.build_opener(_NoAuthAcrossHosts())
    total = plan.total_bytes
    done = sum(f.size for f in plan.files if f.path not in plan.missing)
    for f in plan.files:
        if f.path not in plan.missing:
            continue
        base = done

        def on_bytes(n, base=base, f=f):
            if on_progress:
                on_progress(base + n, total, f.path)

        try:
            blob = _fetch(plan, f, on_bytes, opener)
        except (TimeoutError, urllib.error.URLError, ConnectionError) as e:
            raise UserError(
                f"the download of {plan.repo_id} stopped at {f.path} ({getattr(e, 'reason', e)}): check the network "
                "connection and download again; it continues where it stopped"
            ) from None
        except OSError as e:
            if e.errno == 28:
                raise UserError(f"the disk holding {plan.cache} is full: free some space and download again") from None
            raise
        _link(plan, f, blob)
        done = base + f.size
    refs = os.path.join(plan.cache, "refs")
    os.makedirs(refs, exist_ok=True)
    with open(os.path.join(refs, "main.tmp"), "w") as fh:
        fh.write(plan.commit)
    os.replace(os.path.join(refs, "main.tmp"), os.path.join(refs, "main"))
    if on_progress:
        on_progress(total, total, "")
    return os.path.join(plan.cache, "snapshots", plan.commit)


def describe(plan: Plan) -> str:
    gb = plan.to_download / 1e9
    lic = plan.licence or plan.card_licence or "see the model card"
    needs = "".join(f"\n  also needs {n}" for n in plan.needs)
    return (
        f"{plan.name} ({plan.repo_id}): {len(plan.files)} files, {plan.total_bytes / 1e9:.2f} GB, "
        f"{gb:.2f} GB to download into {plan.cache}; licence {lic} ({plan.licence_url}){needs}"
    )


class Throttle:
    """At most one progress report per interval (and always the last)."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.last = interval, 0.0

    def ready(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            return True
        return False
