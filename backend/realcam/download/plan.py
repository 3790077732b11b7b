"""What `realcam download` fetches: the repository listed at one commit, the files the backend loads picked, every
path, size and blob name checked before it touches the disk, the licence, and what the cache already holds."""

from __future__ import annotations

import os
import posixpath
import re
import urllib.parse
from dataclasses import asdict, dataclass, field

from ..errors import UserError

_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".msgpack", ".h5", ".onnx", ".onnx_data", ".gguf", ".ot")
_SKIP = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp4", ".mov", ".webm", ".pdf", ".gitattributes")
_VARIANTS = ("fp16", "bf16", "fp32", "int8", "ema", "non_ema", "fp8")
_COMMIT = re.compile(r"[0-9a-f]{40}")  # a git commit id, as huggingface_hub's own REGEX_COMMIT_HASH
_SHA1 = _COMMIT  # a git object id
_SHA256 = re.compile(r"[0-9a-f]{64}")


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

    from ..depth.models import KNOWN_MODELS

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
    commit = info.sha
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
        raise untrusted(repo_id, f"a commit id {commit!r} that is not 40 hex digits")
    by_path = {f.path: f for f in tree}
    only, needs = _model_files(name)
    files = []
    for p in [p for p in by_path if p in only] if only else select_files(list(by_path)):
        f = by_path[p]
        lfs = getattr(f, "lfs", None)
        sha = getattr(lfs, "sha256", None) if lfs is not None else None
        files.append(_checked(repo_id, HubFile(p, f.size, sha or f.blob_id, sha)))
    card = getattr(info, "card_data", None) or {}
    card_licence = (card.get("license_name") or card.get("license")) if hasattr(card, "get") else None
    link = card.get("license_link") if hasattr(card, "get") else None
    storage = os.path.join(constants.HF_HUB_CACHE, repo_folder_name(repo_id=repo_id, repo_type="model"))
    plan = Plan(
        alias, repo_id, commit, licence, card_licence, licence_url(link, repo_id, commit), storage, files, needs=needs
    )
    for f in files:
        inside(plan, snapshot_path(plan, f))
    plan.missing = [f.path for f in files if not os.path.isfile(snapshot_path(plan, f))]
    return plan


def untrusted(repo_id: str, what: str) -> UserError:
    from huggingface_hub import constants

    return UserError(
        f"the hub at {constants.ENDPOINT} answered {repo_id} with {what}; refused, nothing of it was written. "
        "Is HF_ENDPOINT a hub you trust? Unset it to use https://huggingface.co"
    )


def _safe_repo_path(path) -> bool:
    """A relative POSIX path whose every part is a plain name (no '..', '.', empty part, drive or backslash)."""
    if not isinstance(path, str) or not path or "\0" in path:
        return False
    return all(part not in ("", ".", "..") and "\\" not in part and ":" not in part for part in path.split("/"))


def _checked(repo_id: str, f: HubFile) -> HubFile:
    """The listing's file, if its path, size and blob name are safe to use on this machine."""
    if not _safe_repo_path(f.path):
        raise untrusted(repo_id, f"a file path {f.path!r} that would lead outside the model's folder")
    if isinstance(f.size, bool) or not isinstance(f.size, int) or f.size < 0:
        raise untrusted(repo_id, f"a size {f.size!r} for {f.path} that is not a byte count")
    if f.sha256 is not None and not (isinstance(f.sha256, str) and _SHA256.fullmatch(f.sha256)):
        raise untrusted(repo_id, f"an LFS sha256 {f.sha256!r} for {f.path} that is not 64 hex digits")
    if f.sha256 is None and not (isinstance(f.etag, str) and _SHA1.fullmatch(f.etag)):
        raise untrusted(repo_id, f"a git object id {f.etag!r} for {f.path} that is not 40 hex digits")
    return f


def inside(plan: Plan, path: str) -> str:
    """path, once sure it is inside the model's cache folder (links followed): the last guard before writing."""
    root = os.path.realpath(plan.cache)
    where = os.path.realpath(os.path.dirname(path))
    if os.path.commonpath([root, where]) != root:
        raise untrusted(plan.repo_id, f"a file that would be written outside {plan.cache} ({path})")
    return path


def licence_url(link, repo_id: str, commit: str) -> str:
    """The model card's licence link when it is a web page (http or https), a file of the repository as its page
    on the hub, else the model's page: the add-on opens it in a browser, so never file:, javascript: or the like."""
    from huggingface_hub import constants

    page = f"{constants.ENDPOINT}/{repo_id}"
    if not isinstance(link, str) or not link.strip() or any(c.isspace() or ord(c) < 32 for c in link.strip()):
        return page
    link = link.strip()
    parts = urllib.parse.urlsplit(link)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return link
    if not parts.scheme and not parts.netloc:  # LICENSE, ./LICENSE.md, /LICENSE: a file of the repository
        name = posixpath.normpath("/" + parts.path).lstrip("/")
        if name and _safe_repo_path(name):
            return f"{page}/blob/{commit}/{urllib.parse.quote(name)}"
    return page


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


def snapshot_path(plan: Plan, f: HubFile) -> str:
    return os.path.join(plan.cache, "snapshots", plan.commit, *f.path.split("/"))


def partial_path(plan: Plan, f: HubFile) -> str:
    return os.path.join(plan.cache, "blobs", f.etag + ".incomplete")


def partial_bytes(plan: Plan) -> int:
    """Bytes of missing files already fetched by an earlier, stopped download."""
    total = 0
    for f in plan.files:
        p = partial_path(plan, f)
        if f.path in plan.missing and os.path.isfile(p):
            total += min(os.path.getsize(p), f.size)
    return total


def describe(plan: Plan) -> str:
    gb = plan.to_download / 1e9
    lic = plan.licence or plan.card_licence or "see the model card"
    needs = "".join(f"\n  also needs {n}" for n in plan.needs)
    return (
        f"{plan.name} ({plan.repo_id}): {len(plan.files)} files, {plan.total_bytes / 1e9:.2f} GB, "
        f"{gb:.2f} GB to download into {plan.cache}; licence {lic} ({plan.licence_url}){needs}"
    )
