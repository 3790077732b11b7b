import os
import subprocess
import sys

import pytest
from helpers import ROOT, blender_pythons


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Small random-weight models, saved to disk like downloaded ones."""
    from realcam.testing.tiny_models import build_all

    return build_all(str(tmp_path_factory.mktemp("tiny-models")))


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(python, id=f"bpy{ver}", marks=[pytest.mark.skip(reason=f"bpy {ver} {why}")] if why else [])
        for ver, python, why in blender_pythons()
    ],
)
def blender_python(request):
    """The Python with bpy that runs a Blender test's scripts, once per Blender version; a version that is not
    set up is skipped, saying why. The backend always runs from this Python."""
    return request.param


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "build_addon.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success parsing TOML" in r.stdout  # Blender's validator ran
    return r.stdout.strip().splitlines()[-1]
