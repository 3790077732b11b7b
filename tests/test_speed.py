"""Speed settings per job (generate/speed.py): the step cache never reuses work across a shaped step, compilation
runs on the CPU and is undone when not asked for, and result.json says what was used."""

import json
import os

import numpy as np
import pytest
import torch
from helpers import PipelineSpy, make_bundle, run_cli, set_settings
from PIL import Image

from realcam.generate.engine import Engine
from realcam.generate.job import RunOptions
from realcam.generate.speed import SpeedRun, compile_unavailable
from realcam_core.bundle import Settings, SpeedSettings, load_bundle, validate_bundle

CACHE = {"step_cache": "first-block", "cache_threshold": 1.0}  # the most skipping the cache allows


class BlockWatch:
    """Counts, independently of speed.py, which transformer blocks ran in each call (a block that runs calls its
    children; one the cache skips does not), the step each call belongs to (step-end callbacks seen so far), and
    the latents each call received."""

    def __init__(self, monkeypatch, spy):
        from diffusers import WanTransformer3DModel

        self.calls = []  # (step, blocks run, latents)
        original = WanTransformer3DModel.forward
        watch = self

        def forward(model, *a, **kw):
            if not hasattr(model, "_watched"):
                model._watched = set()
                for i, block in enumerate(model.blocks):
                    for child in block.children():
                        child.register_forward_pre_hook(lambda *_, i=i: model._watched.add(i))
            model._watched.clear()
            out = original(model, *a, **kw)
            step = len(spy.calls[-1]["steps"])
            watch.calls.append((step, len(model._watched), kw["hidden_states"].clone()))
            return out

        monkeypatch.setattr(WanTransformer3DModel, "forward", forward)

    def per_step(self):
        out = {}
        for step, n, _ in self.calls:
            out.setdefault(step, []).append(n)
        return out


@pytest.fixture
def watch(monkeypatch):
    from diffusers import WanImageToVideoPipeline

    spy = PipelineSpy(monkeypatch, WanImageToVideoPipeline)
    return spy, BlockWatch(monkeypatch, spy)


def run(tmp_path, tiny_models, name="wan22-ti2v", steps=12, speed=None, engine=None, out="take", **settings):
    folder = tmp_path / "job"
    if not folder.is_dir():
        make_bundle(folder, n=5, w=64, h=64, model=tiny_models[name])
    set_settings(folder, steps=steps, guidance=1.0, **settings)
    return (engine or Engine()).run(folder, tmp_path / out, RunOptions(speed=speed))


def test_a_shaped_step_runs_every_block_on_the_shaped_latents(tmp_path, tiny_models, watch):
    spy, blocks = watch
    res = run(tmp_path, tiny_models, speed=CACHE)
    full = 2  # the tiny transformer's blocks
    per_step, shaped = blocks.per_step(), res["sns"]["shaped_steps"]
    assert len(per_step) == 12 and len(shaped) >= 3 and shaped == list(range(len(shaped)))
    for k in shaped:
        assert per_step[k] == [full], (k, per_step)
    # Each shaped step's call got the latents noise shaping made for it (frame 0 is the photo's).
    cb = spy.calls[-1]["steps"]
    latents = {step: x for step, _, x in blocks.calls}
    for k in shaped[1:]:
        assert not torch.equal(cb[k - 1]["after"], cb[k - 1]["before"])
        assert torch.equal(latents[k][:, :, 1:], cb[k - 1]["after"][:, :, 1:].to(latents[k].dtype))
    # The cache works after them (the first step after them has nothing to reuse yet), and result.json says so.
    cached = sorted(k for k, ns in per_step.items() if min(ns) < full)
    sc = res["speed"]["step_cache"]
    assert cached and min(cached) > max(shaped) + 1
    assert sc["used"] and sc["from_step"] == max(shaped) + 1 and sc["never_on_steps"] == shaped
    assert sc["steps_cached"] == cached
    assert sc["blocks_skipped"] == sum(full - n for ns in per_step.values() for n in ns) > 0
    assert sc["transformer_calls"] == 12 and sc["blocks_run"] == sum(map(sum, per_step.values()))


def test_without_the_guard_the_cache_would_skip_shaped_steps(tmp_path, tiny_models, watch, monkeypatch):
    """The check above can fail: switched on from step 1, the cache reuses residuals on shaped steps."""
    _, blocks = watch
    start = SpeedRun.start

    def early(self, pipe):
        start(self, pipe)
        self.cache_from = 1

    monkeypatch.setattr(SpeedRun, "start", early)
    res = run(tmp_path, tiny_models, speed=CACHE)
    per_step = blocks.per_step()
    assert any(min(per_step[k]) < 2 for k in res["sns"]["shaped_steps"])


def test_off_by_default_and_said_why_where_it_cannot_help(tmp_path, tiny_models):
    res = run(tmp_path, tiny_models, steps=3)
    sc, comp = res["speed"]["step_cache"], res["speed"]["compile"]
    assert sc["requested"] == "off" and not sc["used"] and sc["steps_cached"] == [] and sc["blocks_skipped"] == 0
    assert sc["transformer_calls"] == 3 and comp == {"requested": False, "used": False, "reason": None, "regions": []}
    # Every step shaped: nothing left to cache.
    res = run(tmp_path, tiny_models, steps=3, speed=CACHE, out="all-shaped", threshold=0.0)
    assert res["sns"]["shaped_steps"] == [0, 1, 2] and not res["speed"]["step_cache"]["used"]
    assert "every step is shaped" in res["speed"]["step_cache"]["reason"]


def test_a_unet_model_runs_without_a_cache_and_says_why(tmp_path, tiny_models):
    res = run(tmp_path, tiny_models, name="svd", steps=3, speed={**CACHE, "compile": True})
    sc, comp = res["speed"]["step_cache"], res["speed"]["compile"]
    assert not sc["used"] and "no transformer blocks" in sc["reason"] and sc["blocks_skipped"] == 0
    assert not comp["used"] and "no repeated blocks" in comp["reason"]


def frames(out):
    d = os.path.join(out, "frames")
    return np.stack([np.asarray(Image.open(os.path.join(d, n))) for n in sorted(os.listdir(d))]).astype(int)


def test_compilation_on_the_cpu_runs_and_is_undone_when_not_asked(tmp_path, tiny_models):
    """torch.compile of the repeated blocks (here with inductor's C++ backend, tens of seconds for the tiny model):
    the same video as eager, recorded, and the next job on the same loaded pipeline that does not ask runs eager."""
    engine = Engine()
    eager = run(tmp_path, tiny_models, steps=3, engine=engine, out="eager")
    compiled = run(tmp_path, tiny_models, steps=3, engine=engine, out="compiled", speed={"compile": True})
    assert not compiled["model_loaded_for_this_job"]  # compiled in place, not reloaded
    assert compiled["speed"]["compile"] == {
        "requested": True,
        "used": True,
        "reason": None,
        "regions": ["WanTransformerBlock"],
    }
    blocks = engine._loaded[1].transformer.blocks
    assert all(b._compiled_call_impl is not None for b in blocks)
    assert np.abs(frames(tmp_path / "eager") - frames(tmp_path / "compiled")).max() <= 1
    again = run(tmp_path, tiny_models, steps=3, engine=engine, out="again")
    assert again["speed"]["compile"]["used"] is False and all(b._compiled_call_impl is None for b in blocks)
    assert np.array_equal(frames(tmp_path / "eager"), frames(tmp_path / "again"))
    assert eager["speed"]["compile"]["used"] is False


def test_compilation_is_gated_where_it_cannot_run(tmp_path, tiny_models, monkeypatch):
    import importlib.util

    from torch._inductor import config

    assert "CUDA and the CPU only" in compile_unavailable("mps")
    if importlib.util.find_spec("triton") is None:  # the CPU build of torch here has none
        assert "needs Triton" in compile_unavailable("cuda")
    assert compile_unavailable("cpu") is None
    monkeypatch.setattr(config.cpp, "cxx", (None, "no-such-c++"))  # what a machine without a compiler looks like
    reason = compile_unavailable("cpu")
    assert "needs a C++ compiler, and none works here" in reason and "no-such-c++" in reason
    res = run(tmp_path, tiny_models, steps=2, speed={"compile": True})
    comp = res["speed"]["compile"]
    assert comp["requested"] and not comp["used"] and "C++ compiler" in comp["reason"]


def test_cli_flags_and_bundle_settings(tmp_path, tiny_models):
    folder = tmp_path / "job"
    make_bundle(folder, n=5, w=64, h=64, model=tiny_models["wan22-ti2v"])
    set_settings(folder, steps=12, guidance=1.0, speed={"step_cache": "first-block", "cache_threshold": 0.9})
    assert load_bundle(str(folder)).settings.speed == SpeedSettings("first-block", 0.9, False)
    r = run_cli("generate", folder, "--out", tmp_path / "a", "--cache-threshold", "1")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "a/result.json").read_text())["speed"]["step_cache"]
    assert res["requested"] == "first-block" and res["threshold"] == 1.0  # the flag over the bundle's value
    assert f"step cache first-block from step {res['from_step']}: {len(res['steps_cached'])} steps cached" in r.stderr
    r = run_cli("generate", folder, "--out", tmp_path / "b", "--step-cache", "off")
    assert r.returncode == 0 and "step cache" not in r.stderr
    assert json.loads((tmp_path / "b/result.json").read_text())["speed"]["step_cache"]["requested"] == "off"
    r = run_cli("generate", folder, "--out", tmp_path / "c", "--cache-threshold", "2")
    assert r.returncode == 2 and "expected a number in (0, 1]" in r.stderr

    set_settings(folder, speed={"step_cache": "magic", "cache_threshold": 0, "compile": "yes", "turbo": True})
    _, problems = validate_bundle(str(folder))
    text = "\n".join(map(str, problems))
    for field in ("speed.step_cache", "speed.cache_threshold", "speed.compile", "speed.turbo"):
        assert f"settings.{field}" in text
    # Written only when set, so a default bundle stays readable by a backend that predates the field.
    assert "speed" not in Settings(model="m").to_dict()
    assert Settings(model="m", speed=SpeedSettings(compile=True)).to_dict()["speed"]["compile"] is True
