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


def _held_server(tmp_path_factory, tiny_models, name, token=None):
    """A real server whose jobs with seed N wait after their first step while hold-N is in server.hold_dir."""
    hold = tmp_path_factory.mktemp(f"{name}-hold")
    env = {
        "PYTHONPATH": os.pathsep.join(
            p for p in (os.path.join(ROOT, "tests", "pace_stages"), os.environ.get("PYTHONPATH")) if p
        ),
        "REALCAM_TEST_HOLD_DIR": str(hold),
    }
    s = Server(tmp_path_factory.mktemp(name) / "data", tiny_models, token=token, env=env)
    s.hold_dir = hold
    return s


@pytest.fixture(scope="session")
def dashboard_server(tmp_path_factory, tiny_models):
    """A real server without a token, for the dashboard's tests; jobs can be held mid-way (hold_dir)."""
    s = _held_server(tmp_path_factory, tiny_models, "dash")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def dashboard_token_server(tmp_path_factory, tiny_models):
    """The same with a token (DASHBOARD_TOKEN)."""
    s = _held_server(tmp_path_factory, tiny_models, "dash-token", token=DASHBOARD_TOKEN)
    yield s
    s.stop()


DASHBOARD_TOKEN = "dashboard-token-0123456789"


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium, headless, driven by Playwright; skipped where either is missing."""
    from helpers import chromium_path

    path = chromium_path()
    if path is None:
        pytest.skip("no chromium: install Debian's chromium package (apt-get install chromium; CI does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True)
        yield browser
        browser.close()


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


# The oldest Blender the add-on supports (4.2) runs the tests marked every_blender: those whose Blender calls
# differ between versions (undo, depsgraph and file events, mesh memory, projection, depth maps, the whole
# artist's session). The other per-version tests run on .venv's 4.5 and the newest set up, which is where the
# API moved (5.0's sequencer, Eevee and actions); their 4.2 runs would repeat 4.5's calls at CI's expense.
OLDEST_BLENDER = "bpy4.2"


def _oldest_blender_repeat(item) -> bool:
    callspec = getattr(item, "callspec", None)
    return (
        callspec is not None
        and OLDEST_BLENDER in callspec.id.split("-")
        and item.get_closest_marker("every_blender") is None
    )


def pytest_collection_modifyitems(config, items):
    repeats = [item for item in items if _oldest_blender_repeat(item)]
    if repeats:
        config.hook.pytest_deselected(items=repeats)
        items[:] = [item for item in items if not _oldest_blender_repeat(item)]
    for item in items:
        marks = {MARK_BY_FIXTURE[n] for n in item.fixturenames if n in MARK_BY_FIXTURE}
        marks |= {MARK_BY_NAME[n] for n in _names_used(item) if n in MARK_BY_NAME}
        for mark in sorted(marks):
            item.add_marker(mark)
        if not any(item.get_closest_marker(m) for m in NOT_PURE):
            item.add_marker("pure")  # no Blender, no server, no cluster, no models, quick: `pytest -m pure`
