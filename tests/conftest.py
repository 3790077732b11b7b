"""Fixtures shared by the test modules, and the markers that say what a test needs (see pytest_collection_modifyitems).

Helpers that are not fixtures live in helpers.py."""

import json
import os
import subprocess
import sys

import pytest
from helpers import ROOT, PipelineSpy, Server, blender_pythons


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
def limited_server(tmp_path_factory, tiny_models):
    """A real server with small limits (40 frames, 8 MB uploads, 16384 pixels), the tiny depth model as tiny-depth
    and a model whose weights are missing as broken; shared by the upload, security and durability tests."""
    broken = tmp_path_factory.mktemp("broken-model")  # its weights are missing
    (broken / "model_index.json").write_text(json.dumps({"_class_name": "WanImageToVideoPipeline"}))
    s = Server(
        tmp_path_factory.mktemp("hard") / "data",
        tiny_models,
        "--max-frames",
        "40",
        "--max-upload-mb",
        "8",
        "--max-pixels",
        "16384",
        "--depth-model-dir",
        f"tiny-depth={tiny_models['depth-anything']}",
        "--model-dir",
        f"broken={broken}",
    )
    yield s
    s.stop()


@pytest.fixture(scope="session")
def strict_server(tmp_path_factory, tiny_models):
    """A real server that wants a token, knows two more host names and cuts slow uploads (1 s idle, 3 s whole)."""
    s = Server(
        tmp_path_factory.mktemp("strict") / "data",
        tiny_models,
        "--allow-host",
        "realcam.test",
        "--allow-host",
        "gpu-box.studio.lan",
        "--body-timeout",
        "1",
        "--upload-timeout",
        "3",
        token="a-token-long-enough-1234",
    )
    yield s
    s.stop()


@pytest.fixture
def spy(monkeypatch):
    """A PipelineSpy on the stock Wan and SVD pipelines, for this test only."""
    from diffusers import StableVideoDiffusionPipeline, WanImageToVideoPipeline

    return PipelineSpy(monkeypatch, WanImageToVideoPipeline, StableVideoDiffusionPipeline)


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


# What a test needs, read from what it and its fixtures use, so that a new test is marked without thinking of it:
# a fixture it asks for (directly or through other fixtures), or a name its function or one of its fixtures'
# functions calls. The markers are registered in pyproject.toml; docs/development.md#tests shows how to select.
MARK_BY_FIXTURE = {"blender_python": "blender", "addon_zip": "blender", "tiny_models": "models"}
MARK_BY_NAME = {
    "run_blender_script": "blender",
    "blender_report": "blender",
    "Server": "server",
    "LocalRayCluster": "cluster",
}
NOT_PURE = ("blender", "server", "cluster", "models", "slow")


def _names_used(item):
    """The global names the test function and every fixture function it uses refer to."""
    functions = [getattr(item, "function", None)]
    for defs in item._fixtureinfo.name2fixturedefs.values():
        functions += [d.func for d in defs]
    names = set()
    for f in functions:
        code = getattr(f, "__code__", None)
        if code is not None:
            names.update(code.co_names)
    return names


def pytest_collection_modifyitems(config, items):
    for item in items:
        marks = {MARK_BY_FIXTURE[n] for n in item.fixturenames if n in MARK_BY_FIXTURE}
        marks |= {MARK_BY_NAME[n] for n in _names_used(item) if n in MARK_BY_NAME}
        for mark in sorted(marks):
            item.add_marker(mark)
        if not any(item.get_closest_marker(m) for m in NOT_PURE):
            item.add_marker("pure")  # no Blender, no server, no cluster, no models, quick: `pytest -m pure`
