"""The draft model, FastWan2.2-TI2V-5B (DMD): its sampler against FastVideo's arithmetic, its catalogue entry,
download and loading path, and where noise shaping acts on its few-step re-noising schedule (adapters/wan_dmd.py)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import PipelineSpy, make_bundle, online_env, run_cli, run_download, set_settings
from local_hub import LocalHub, Repo

from realcam.catalog import describe, video_models
from realcam.download.plan import resolve
from realcam.errors import UserError
from realcam.generate.adapters import resolve_video_model
from realcam.generate.adapters.wan_dmd import RENOISE_SEED_OFFSET
from realcam.generate.dmd_scheduler import DmdFlowScheduler
from realcam.generate.engine import Engine
from realcam.generate.inputs import scene_video
from realcam.generate.noise_level import level_from_flow_sigma
from realcam_core.bundle import load_bundle
from realcam_core.models import DRAFT_VIDEO_MODEL, FASTWAN22_TI2V_5B_REPO, known_model

ALIAS = DRAFT_VIDEO_MODEL


# -- the sampler ---------------------------------------------------------------------------------------------------
def test_sigmas_are_fastvideos_nearest_timestep_lookup():
    """FastVideo's DmdDenoisingStage looks each listed timestep up on the grid of FlowMatchEulerDiscreteScheduler
    (shift 8), a fork of diffusers' class whose constructor builds the same grid: nearest training timestep, its
    sigma. The model is told the listed integer timesteps themselves."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    grid = FlowMatchEulerDiscreteScheduler(shift=8.0)
    ours = DmdFlowScheduler()
    ours.set_timesteps(3)
    for i, t in enumerate((1000, 757, 522)):
        j = int(torch.argmin((grid.timesteps.double() - t).abs()))
        assert float(ours.sigmas[i]) == pytest.approx(float(grid.sigmas[j]), abs=1e-7)
        assert float(ours.timesteps[i]) == t
    assert ours.sigmas.tolist()[-1] == 0.0 and len(ours.sigmas) == 4
    assert [round(float(s), 3) for s in ours.sigmas[:3]] == [1.0, 0.757, 0.522]  # FastVideo's published steps
    # The distillation recipe looks them up at shift 5: the same sigmas to 4e-4.
    recipe = FlowMatchEulerDiscreteScheduler(shift=5.0)
    for i, t in enumerate((1000, 757, 522)):
        j = int(torch.argmin((recipe.timesteps.double() - t).abs()))
        assert abs(float(ours.sigmas[i]) - float(recipe.sigmas[j])) < 4e-4


def test_each_step_predicts_the_clean_latent_then_renoises_with_fresh_noise():
    sched = DmdFlowScheduler()
    sched.set_timesteps(3)
    sched.set_noise_generator(torch.Generator().manual_seed(7))
    expect_noise = torch.Generator().manual_seed(7)
    x = torch.randn(1, 4, 3, 5, 6)
    s = sched.sigmas.tolist()
    for i, t in enumerate(sched.timesteps):
        v = torch.randn_like(x)
        out = sched.step(v, t, x, return_dict=False)[0]
        x0 = (x.double() - s[i] * v.double()).float()
        assert torch.equal(sched.last_x0, x0)
        if i < 2:
            eps = torch.randn(x.shape, generator=expect_noise)
            assert torch.allclose(out, (1 - s[i + 1]) * x0 + s[i + 1] * eps, atol=1e-6)
        else:
            assert torch.equal(out, x0)  # the last step hands on its prediction, no noise drawn
            assert torch.equal(sched.generator.get_state(), expect_noise.get_state())
        x = out
    clean, eps = torch.randn(2, 3), torch.randn(2, 3)
    assert torch.allclose(sched.add_noise(clean, eps, sched.timesteps[1:2]), (1 - s[1]) * clean + s[1] * eps)
    sched.set_timesteps(2)
    assert sched.timesteps.tolist() == [1000, 757] and len(sched.sigmas) == 3
    with pytest.raises(ValueError, match=r"at most 3 steps"):
        sched.set_timesteps(4)


# -- catalogue, download, loading ------------------------------------------------------------------------------------
def test_the_draft_is_in_the_catalogue_the_listing_and_download():
    m = known_model(ALIAS)
    assert m.repo_id == "FastVideo/FastWan2.2-TI2V-5B-FullAttn-Diffusers" == FASTWAN22_TI2V_5B_REPO
    sp = m.spec
    assert (sp.licence, sp.default_steps, sp.max_steps, sp.fixed_guidance, sp.family) == (
        "Apache-2.0",
        3,
        3,
        1.0,
        "wan-dmd",
    )
    assert sp.native_sizes[0] == (1280, 704) and sp.max_frames == 121 and sp.native_fps == 24
    entry = next(v for v in video_models() if v["name"] == ALIAS)
    assert entry["id"] == FASTWAN22_TI2V_5B_REPO and entry["licence"] == "Apache-2.0" and not entry["default"]
    assert entry["spec"]["fixed_guidance"] == 1.0 and entry["sns_shaped_steps"]["steps"] == 3
    assert set(entry["sns_shaped_steps"]["shaped"].values()) == {1}
    listing = describe(video_models(), [])
    assert ALIAS in listing and FASTWAN22_TI2V_5B_REPO in listing
    assert resolve(ALIAS) == (ALIAS, FASTWAN22_TI2V_5B_REPO, "Apache-2.0")
    r = run_cli("models")
    assert r.returncode == 0 and "steps shaped of 3 by threshold: 0.9: 1" in r.stdout
    assert f"{ALIAS}  {FASTWAN22_TI2V_5B_REPO}" in r.stdout and "[draft: 3 steps]" in r.stdout


def test_downloaded_draft_runs_by_its_alias_offline(tiny_models, tmp_path):
    """`realcam download` fetches the published layout into the cache, and a bundle naming the alias then loads it
    from there through the real loading path (offline): the model index's own pipeline class is FastVideo's."""
    repo = Repo(tiny_models["fastwan22-draft"], "apache-2.0", {"test.txt": b"", "README.md": b"# FastWan"})
    env = {"HF_HOME": str(tmp_path / "hf")}
    with LocalHub({FASTWAN22_TI2V_5B_REPO: repo}) as hub:
        r = run_download(hub.url, tmp_path / "hf", ALIAS, "--json")
        assert r.returncode == 0, r.stderr
        fetched = {q[1].split("/resolve/")[1].split("/", 1)[1] for q in hub.requests if "/resolve/" in q[1]}
        assert "test.txt" not in fetched and "model_index.json" in fetched and "transformer/config.json" in fetched
        # By a hub id the catalogue does not know, once downloaded: the model index names FastVideo's pipeline,
        # and the transformer's config, downloaded beside it, says it is the image-to-video one.
        hub.repos["someone/fastwan-copy"] = repo
        hub_env = online_env(hub.url, tmp_path / "hf2")
        fetch = "from huggingface_hub import snapshot_download as s; s('someone/fastwan-copy')"  # as `hf download`
        r = subprocess.run(
            [sys.executable, "-c", fetch],
            env=hub_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        asked = len(hub.requests)
        code = (
            "from realcam.generate.adapters import resolve_video_model as r; print(r('someone/fastwan-copy')[1].name)"
        )
        r = subprocess.run([sys.executable, "-c", code], env=hub_env, capture_output=True, text=True, timeout=120)
        assert r.stdout.strip() == "FastWan 2.2 TI2V-5B (draft)", r.stderr
        assert len(hub.requests) == asked  # resolved from the cache: the backend never asks the hub itself
    make_bundle(tmp_path / "job", n=5, w=64, h=64, model=ALIAS)
    r = run_cli("generate", tmp_path / "job", "--out", tmp_path / "take", env_extra={**env, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "take/result.json").read_text())
    assert res["model"] == FASTWAN22_TI2V_5B_REPO and res["model_licence"] == "Apache-2.0"
    assert res["steps"] == 3 and res["guidance"] == 1.0 and res["sns"]["shaped_steps"] == [1]
    assert "3 steps (SNS on, 1 shaped)" in r.stdout


def test_a_text_only_dmd_folder_is_refused(tiny_models, tmp_path):
    folder = tmp_path / "t2v"
    shutil.copytree(tiny_models["fastwan22-draft"], folder)
    cfg = json.loads((folder / "transformer/config.json").read_text())
    (folder / "transformer/config.json").write_text(json.dumps({**cfg, "in_channels": 16}))
    with pytest.raises(UserError, match="other than FastWan2.2-TI2V-5B"):
        resolve_video_model(str(folder))


def test_steps_and_guidance_follow_the_distillation(tmp_path, tiny_models):
    make_bundle(tmp_path / "job", n=5, w=64, h=64, model=tiny_models["fastwan22-draft"])
    set_settings(tmp_path / "job", steps=4)
    with pytest.raises(UserError, match=r"4 steps is more than FastWan 2.2 TI2V-5B \(draft\) supports \(3\)"):
        Engine().run(tmp_path / "job", tmp_path / "o")
    set_settings(tmp_path / "job", steps=None, guidance=5.0)
    res = Engine().run(tmp_path / "job", tmp_path / "o")
    assert res["guidance"] == 1.0 and res["guidance_ignored"] == 5.0  # run without guidance, and said so
    assert res["speed"]["step_cache"]["transformer_calls"] == 3  # one call per step: no unconditional pass


# -- noise shaping on the re-noising schedule --------------------------------------------------------------------
@pytest.fixture
def record(monkeypatch):
    """The real pipeline, scheduler and transformer, watched: callbacks (PipelineSpy), each scheduler step's input
    and clean prediction, and the latents and timestep each transformer call received."""
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel

    spy = PipelineSpy(monkeypatch, WanImageToVideoPipeline)
    steps, calls = [], []
    original_step, original_forward = DmdFlowScheduler.step, WanTransformer3DModel.forward

    def step(self, model_output, timestep, sample, *a, **kw):
        out = original_step(self, model_output, timestep, sample, *a, **kw)
        steps.append({"sample": sample.clone(), "x0": self.last_x0.clone(), "out": out[0].clone()})
        return out

    def forward(self, *a, **kw):
        calls.append({"latents": kw["hidden_states"].clone(), "t": float(kw["timestep"].max())})
        return original_forward(self, *a, **kw)

    monkeypatch.setattr(DmdFlowScheduler, "step", step)
    monkeypatch.setattr(WanTransformer3DModel, "forward", forward)
    return spy, steps, calls


def run_draft(folder, tiny_models, out, **settings):
    if not os.path.isdir(folder):
        make_bundle(folder, n=5, w=64, h=64, model=tiny_models["fastwan22-draft"], seed=3)
    set_settings(folder, **settings)
    return Engine().run(folder, out)


@pytest.mark.parametrize(
    "threshold, shaped", [(0.9, [1]), (0.8, [1]), (3.0, [1]), (0.68, [1, 2]), (0.5, [1, 2]), (0.1, [1, 2])]
)
def test_which_steps_are_shaped(tmp_path, tiny_models, threshold, shaped):
    """Levels 3.0, 0.68, 0.38: step k >= 1 is shaped when the call before it decided levels reaching the threshold;
    step 0 (pure noise) and the final prediction never."""
    res = run_draft(str(tmp_path / "job"), tiny_models, str(tmp_path / "take"), threshold=threshold)
    assert res["sns"]["shaped_steps"] == shaped
    levels = [level_from_flow_sigma(s["sigma"]) for s in res["sns"]["shaped"]]
    assert [s["level"] for s in res["sns"]["shaped"]] == pytest.approx(levels)


def test_the_preview_enters_the_renoised_latent_which_is_the_pasted_clean_prediction(tmp_path, tiny_models, record):
    spy, steps, calls = record
    folder = str(tmp_path / "job")
    res = run_draft(folder, tiny_models, str(tmp_path / "take"), threshold=0.9)
    assert res["sns"]["shaped_steps"] == [1] and len(steps) == len(calls) == 3
    call = spy.calls[-1]
    pipe, cb = call["pipe"], call["steps"]
    sigmas = pipe.scheduler.sigmas.tolist()
    bundle = load_bundle(folder)
    _, spec, adapter = resolve_video_model(bundle.settings.model)
    video, pixel_mask = scene_video(folder, bundle, spec.frame_count_for(len(bundle.frames)))
    with torch.inference_mode():
        z = adapter.encode_preview(pipe, video, None).float()
    m = adapter.latent_mask(pipe, pixel_mask, 0.9).expand(z.shape)
    assert m.any() and not m.all() and not m[:, :, 0].any()

    # Step 0 runs on the seed's noise untouched (pure noise: shaping it could add nothing).
    start = torch.randn(z.shape, generator=torch.Generator().manual_seed(3))
    assert torch.equal(calls[0]["latents"][:, :, 1:], start[:, :, 1:]) and calls[0]["t"] == 1000

    # The scheduler re-noised call 0's clean prediction with its own fresh noise: what the callback sees.
    s1 = sigmas[1]
    eps_sched = torch.randn(z.shape, generator=torch.Generator().manual_seed(3 + RENOISE_SEED_OFFSET))
    x0 = steps[0]["x0"]
    assert torch.allclose(cb[0]["before"], (1 - s1) * x0 + s1 * eps_sched, atol=1e-6)
    # Shaping it with the SNS formula ...
    eps_sns = torch.randn(z.shape, generator=torch.Generator().manual_seed(3 + 0x5EED))
    after = cb[0]["after"]
    assert torch.allclose(after[m], ((1 - s1) * z + s1 * eps_sns)[m], atol=1e-6)
    assert torch.equal(after[~m], cb[0]["before"][~m])
    # ... is re-noising the clean prediction with the preview pasted in (preview noise inside the mask).
    pasted = torch.where(m, z, x0)
    assert torch.allclose(after, (1 - s1) * pasted + s1 * torch.where(m, eps_sns, eps_sched), atol=1e-5)
    # The model then runs on exactly those latents (frame 0 is the photo's), told timestep 757.
    assert torch.allclose(calls[1]["latents"][:, :, 1:], after[:, :, 1:]) and calls[1]["t"] == 757
    assert torch.equal(steps[1]["sample"], after)

    # Step 2 is not shaped at 0.9 and the final clean prediction never is: the video is the model's last x0.
    assert torch.equal(cb[1]["after"], cb[1]["before"]) and torch.equal(cb[2]["after"], cb[2]["before"])
    assert torch.equal(cb[2]["after"], steps[2]["x0"]) and calls[2]["t"] == 522
    assert not torch.allclose(cb[2]["after"][m], z[m], atol=0.05)  # no paste into the result


def test_shaping_pulls_the_draft_toward_the_preview(tmp_path, tiny_models, record):
    """The final latents (the last clean prediction) are nearer the preview's inside the mask with shaping, and
    nearer still when step 2 is shaped too."""
    spy, steps, _ = record
    folder = str(tmp_path / "job")
    finals = {}
    for name, kw in (("off", {"sns_enabled": False}), ("0.9", {"threshold": 0.9}), ("0.5", {"threshold": 0.5})):
        kw = {"sns_enabled": True, **kw}
        run_draft(folder, tiny_models, str(tmp_path / f"take-{name}"), **kw)
        finals[name] = steps[-1]["x0"]
    pipe = spy.calls[-1]["pipe"]
    bundle = load_bundle(folder)
    video, pixel_mask = scene_video(folder, bundle, 5)
    _, _, adapter = resolve_video_model(bundle.settings.model)
    with torch.inference_mode():
        z = adapter.encode_preview(pipe, video, None).float()
    m = adapter.latent_mask(pipe, pixel_mask, 0.9).expand(z.shape)
    d = {k: float((v - z)[m].pow(2).mean()) for k, v in finals.items()}
    assert d["0.5"] < d["0.9"] < d["off"], d
    assert d["0.5"] < 0.6 * d["off"], d


def test_the_draft_is_reproducible_for_a_seed(tmp_path, tiny_models):
    """The re-noising noise comes from the job's seed: the same bundle gives the same frames twice."""
    from PIL import Image

    folder = str(tmp_path / "job")
    run_draft(folder, tiny_models, str(tmp_path / "a"))
    run_draft(folder, tiny_models, str(tmp_path / "b"))

    def frames(out):
        d = os.path.join(out, "frames")
        return np.stack([np.asarray(Image.open(os.path.join(d, n))) for n in sorted(os.listdir(d))])

    assert np.array_equal(frames(str(tmp_path / "a")), frames(str(tmp_path / "b")))
