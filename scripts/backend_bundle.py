"""The backend the extension carries, for its Set up backend button: backend_dist/ in the zip.

    backend_dist/realcam-VERSION-py3-none-any.whl   this repository's backend, built now (offline, no deps)
    backend_dist/constraints.txt                     exact pins of every dependency, torch excepted
    backend_dist/backend.json                        version, wheel checksum, the tested torch, Python, API

The pins are the resolved and tested set: the versions installed in the environment this script runs in
(.venv, which scripts/test.sh resolves from pyproject.toml's ranges and runs the tests in), found by walking
the backend's requirements (pyproject.toml) through each installed package's own requirements, markers and
extras evaluated as pip does. torch itself is not pinned there (the set-up picks its build per machine; the
tested version becomes the default requirement), nor are CUDA-only packages. Blender ignores the folder: no
__init__.py, and not the manifest's `wheels`, which would install into Blender's own Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE_DIR = "backend_dist"
_NOT_PINNED = ("torch", "realcam")
_CUDA_ONLY = ("nvidia-", "triton", "cuda-")


def _pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)


def build_wheel(out_dir: str) -> str:
    """The backend's wheel from a copy of its sources (the checkout stays free of build folders)."""
    with tempfile.TemporaryDirectory() as stage:
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(os.path.join(ROOT, name), stage)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        shutil.copytree(os.path.join(ROOT, "backend"), os.path.join(stage, "backend"), ignore=ignore)
        shutil.copytree(
            os.path.join(ROOT, "addon", "realcam_core"), os.path.join(stage, "addon", "realcam_core"), ignore=ignore
        )
        r = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
            + ["-w", out_dir, stage],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            raise SystemExit(f"building the backend wheel failed:\n{r.stdout}\n{r.stderr}")
    wheels = [f for f in os.listdir(out_dir) if f.startswith("realcam-") and f.endswith(".whl")]
    if len(wheels) != 1:
        raise SystemExit(f"expected one backend wheel in {out_dir}, found {wheels}")
    return os.path.join(out_dir, wheels[0])


def resolved_pins(requirements: list[str]) -> dict[str, str]:
    """name -> installed version for the requirements' whole dependency tree, in this environment."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(r, "") for r in requirements]
    while todo:
        text, parent_extra = todo.pop()
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise SystemExit(
                f"{req.name} (needed by the backend) is not installed here: build from the tested environment "
                "(bash scripts/test.sh sets up .venv)"
            ) from None
        if not req.specifier.contains(dist.version, prereleases=True):
            raise SystemExit(f"{req.name} {dist.version} installed here does not satisfy {text!r}: refresh .venv")
        pins[name] = dist.version
        for extra in ("", *sorted(req.extras)):
            if (name, extra) not in seen:
                seen.add((name, extra))
                todo += [(sub, extra) for sub in dist.requires or []]
    return pins


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_bundle(folder: str, addon_version: str) -> dict:
    from importlib import metadata

    from packaging.version import Version

    project = _pyproject()["project"]
    if project["version"] != addon_version:
        raise SystemExit(
            f"the add-on is version {addon_version} (blender_manifest.toml), the backend {project['version']} "
            "(pyproject.toml): they ship together and must match"
        )
    from realcam_core import api
    from realcam_core.bundle import SUPPORTED_SCHEMA_VERSIONS

    os.makedirs(folder, exist_ok=True)
    wheel = build_wheel(folder)
    pins = resolved_pins(project["dependencies"])
    torch = Version(pins["torch"]).public  # 2.13.0+cpu -> 2.13.0: the same release in every build
    lines = [
        "# Exact versions of the RealCam backend's dependencies, as installed and tested where this extension was",
        f"# built (Python {platform.python_version()}, {platform.system()} {platform.machine()}). torch is chosen",
        "# per machine by the set-up; packages only some platforms need are resolved there.",
    ]
    lines += [f"{n}=={v}" for n, v in sorted(pins.items()) if n not in _NOT_PINNED and not n.startswith(_CUDA_ONLY)]
    with open(os.path.join(folder, "constraints.txt"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    info = {
        "version": project["version"],
        "wheel": os.path.basename(wheel),
        "wheel_sha256": _sha256(wheel),
        "constraints": "constraints.txt",
        "torch": f"torch=={torch}",
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "requires_python": project.get("requires-python"),
        "api_version": api.API_VERSION,
        "bundle_schema_versions": list(SUPPORTED_SCHEMA_VERSIONS),
        "built_with": {"pip": metadata.version("pip"), "platform": f"{platform.system()} {platform.machine()}"},
    }
    with open(os.path.join(folder, "backend.json"), "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=1)
    return info


if __name__ == "__main__":
    print(json.dumps(write_bundle(sys.argv[1], _pyproject()["project"]["version"]), indent=1))
