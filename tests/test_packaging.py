"""The backend as studios install it: an sdist and a wheel built from the checkout, installed into a
fresh virtual environment outside the repository, run from a folder outside the checkout."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest
from helpers import ROOT, make_bundle, set_settings

pytestmark = pytest.mark.slow  # an sdist, a wheel and a fresh virtual environment: about half a minute


def _run(*args, cwd=None, env=None, timeout=600):
    r = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{args}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _tracked_modules(prefix: str, package: str) -> set[str]:
    """Every Python module git tracks under prefix, as its path inside a wheel."""
    files = _run("git", "ls-files", prefix, cwd=ROOT).stdout.split()
    return {package + f[len(prefix) :] for f in files if f.endswith(".py")}


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    """sdist from the tracked files, then the wheel from that sdist (what `python -m build` does), offline."""
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src"
    src.mkdir()
    archive = _run("git", "ls-files", "-z", cwd=ROOT).stdout.split("\0")
    for name in filter(None, archive):  # the tracked tree only, so nothing untracked sneaks into the sdist
        dst = src / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, name), dst)
    dist = tmp / "dist"
    code = f"from setuptools import build_meta as b; print(b.build_sdist({str(dist)!r}))"
    sdist = dist / _run(sys.executable, "-c", code, cwd=src).stdout.strip().splitlines()[-1]
    _run("tar", "-xzf", sdist, "-C", tmp)
    unpacked = tmp / sdist.name[: -len(".tar.gz")]
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, unpacked)
    wheels = sorted(dist.glob("realcam-*.whl"))
    assert len(wheels) == 1, wheels
    return sdist, wheels[0]


def test_wheel_holds_every_module(artefacts):
    _, wheel = artefacts
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _tracked_modules("backend/realcam/", "realcam/") | _tracked_modules(
        "addon/realcam_core/", "realcam_core/"
    )
    assert expected - names == set()
    assert "realcam/generate/adapters/wan.py" in names and "realcam_core/bundle/types.py" in names
    # Nothing of the Blender add-on itself, nor tests, lands in site-packages.
    assert not [n for n in names if n.split("/")[0] not in ("realcam", "realcam_core") and ".dist-info" not in n]


def test_installed_wheel_runs_outside_the_checkout(artefacts, tmp_path):
    _, wheel = artefacts
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    py = venv / "bin" / "python"
    site = _run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    # Dependencies come from the test environment (no network); the package itself only from the wheel.
    with open(os.path.join(site, "test-env-deps.pth"), "w") as fh:
        fh.write(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", wheel)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    where = _run(
        py, "-c", "import realcam, realcam_core; print(realcam.__file__, realcam_core.__file__)", cwd=work, env=env
    )
    assert where.stdout.count(str(venv)) == 2, where.stdout  # not the checkout's copy

    assert "generate" in _run(venv / "bin" / "realcam", "--help", cwd=work, env=env).stdout
    assert "wan2.2-ti2v-5b" in _run(venv / "bin" / "realcam", "models", cwd=work, env=env).stdout
    _run(venv / "bin" / "realcam", "tiny-models", work / "tiny", cwd=work, env=env)
    make_bundle(work / "job", n=5, w=64, h=64, model=str(work / "tiny" / "wan22-ti2v"))
    set_settings(work / "job", steps=4)
    out = _run(venv / "bin" / "realcam", "generate", work / "job", "--out", work / "take", cwd=work, env=env)
    assert "5 frames at 24 fps" in out.stdout
    assert sorted(os.listdir(work / "take")) == ["frames", "result.json", "video.mp4"]
