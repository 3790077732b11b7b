"""DynamiCrafter in the backend: published-layout loading, noise shaping as upstream, camera hook points, the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from helpers import make_bundle, run_cli, set_settings

from realcam.generate.dynamicrafter.attention import CameraHook
from realcam.generate.dynamicrafter.checkpoint import CheckpointError, read_state
from realcam.generate.dynamicrafter.clip import token_ids
from realcam.generate.dynamicrafter.config import VARIANTS
from realcam.generate.dynamicrafter.load import build
from realcam.generate.dynamicrafter.schedule import DDIMScheduler, alphas_cumprod
from realcam.generate.dynamicrafter.unet import UNet3D
from realcam.generate.noise_level import level_from_nsr
from realcam.testing.tiny_dynamicrafter import (
    base_state,
    build_dynamicrafter,
    camera_delta,
    tiny_config,
    write_lightning_checkpoint,
)
from realcam_core.models import KNOWN_VIDEO_MODELS, known_model


@pytest.fixture(scope="module")
def tiny_256(tmp_path_factory):
    return build_dynamicrafter(str(tmp_path_factory.mktemp("dc") / "dynamicrafter-256"), "256")


@pytest.fixture(scope="module")
def state_256():
    return base_state(tiny_config("256"))


# -- noise shaping -------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["256", "512"])
def test_default_threshold_shapes_upstreams_three_steps(variant):
    """Upstream shapes t >= 900 of the model's own schedule: t = 999, 959, 919 of 25 uniform-trailing steps."""
    sched = DDIMScheduler(VARIANTS[variant].sampling)
    sched.set_timesteps(25)
    ts = sched.timesteps.tolist()
    assert ts[:4] == [999, 959, 919, 879] and ts[-1] == 39
    levels = [sched.level(float(s)) for s in sched.sigmas]
    assert levels == [t / 1000 for t in ts]  # exactly the DDPM index, so 0.9 is upstream's 900
    assert [i for i, lv in enumerate(levels) if lv >= 0.9] == [0, 1, 2]


def test_zero_snr_512_model_on_the_common_noise_scale():
    """What the model-independent scale would shape instead: the zero-SNR schedule is noisier at every t, so
    its t = 919 already sits at level 1.078 and level 0.9 is reached at t = 839 (5 steps, not upstream's 3)."""
    abar = alphas_cumprod(VARIANTS["512"].sampling)
    assert abar[999] == pytest.approx(0.0, abs=1e-12)  # the first step is pure noise: shaping it changes nothing
    ts = np.arange(999, 0, -40)
    with np.errstate(divide="ignore"):
        common = [level_from_nsr(float(np.sqrt((1 - abar[t]) / abar[t]))) for t in ts]
    assert sum(lv >= 0.9 for lv in common) == 5
    assert common[2] == pytest.approx(1.078, abs=1e-3)


def test_shaping_noise_is_upstreams_q_sample():
    sched = DDIMScheduler(VARIANTS["256"].sampling)
    clean, eps = torch.randn(2, 3), torch.randn(2, 3)
    a = float(alphas_cumprod(VARIANTS["256"].sampling)[919])
    noised = sched.noise_to(clean, eps, (1 - a) ** 0.5)
    assert torch.allclose(noised, a**0.5 * clean + (1 - a) ** 0.5 * eps)


def test_latent_mask_is_upstreams_bilinear_rule_with_frame_zero_kept():
    from realcam.generate.adapters.dynamicrafter import DynamiCrafterAdapter
    from realcam_core.models import DYNAMICRAFTER_256

    class Pipe:
        vae_scale_factor = 8

    mask = np.ones((3, 64, 64), bool)
    mask[:, :, 40:] = False  # a hole on the right
    mask[0, :5] = False  # and a strip at the top of frame 0
    m = DynamiCrafterAdapter(DYNAMICRAFTER_256).latent_mask(Pipe(), mask, 0.9)
    assert m.shape == (1, 1, 3, 8, 8) and m.dtype == torch.bool
    x = torch.from_numpy(mask.astype(np.float32))[None]
    expected = torch.nn.functional.interpolate(x, (8, 8), mode="bilinear", align_corners=True) >= 0.9
    assert torch.equal(m[:, 0], expected)
    assert m[0, 0, 0].any()  # frame 0 is shaped too (it holds the photo's latent), as upstream does
    # align_corners=True samples cell j at pixel j * 63 / 7 = 9 j: column 5 reads pixels 45, 46 (holes),
    # column 4 reads pixel 36 (covered), whatever the cell's own pixels 32..39 hold.
    assert m[0, 0, 1, :, 4].all() and not m[0, 0, 1, :, 5].any()


# -- loading -----------------------------------------------------------------------------------------------
def test_published_256_checkpoint_loads_with_its_framestride_spelling(state_256):
    assert any("framestride_embed" in k for k in state_256)
    (unet, vae, text, vision, resampler, camera), facts = build(tiny_config("256"), state_256, None)
    assert camera is None and facts == {}
    key = "model.diffusion_model.framestride_embed.0.weight"
    assert torch.equal(unet.fps_embedding[0].weight, state_256[key])
    assert type(vae).__name__ == "AutoencoderKL" and type(text).__name__ == "CLIPTextModel"


def test_missing_and_unexpected_keys_are_named(state_256):
    cfg = tiny_config("256")
    gone = "model.diffusion_model.output_blocks.2.1.transformer_blocks.0.attn2.to_k_ip.weight"
    broken = {k: v for k, v in state_256.items() if k != gone}
    with pytest.raises(CheckpointError, match=r"UNet weights .*missing .*output_blocks\.2\.1\.transformer_blocks\.0"):
        build(cfg, broken, None)
    extra = dict(state_256) | {
        "model.diffusion_model.input_blocks.1.2.transformer_blocks.0.bogus.weight": torch.ones(1)
    }
    with pytest.raises(CheckpointError, match=r"unexpected weights model\.diffusion_model\.input_blocks\.1\.2.*bogus"):
        build(cfg, extra, None)
    wrong = dict(state_256)
    wrong["first_stage_model.encoder.conv_in.weight"] = torch.zeros(1, 3, 3, 3)
    with pytest.raises(CheckpointError, match="first_stage_model"):
        build(cfg, wrong, None)
    no_clip = {
        k: v for k, v in state_256.items() if not k.startswith("cond_stage_model.model.transformer.resblocks.1.")
    }
    with pytest.raises(
        CheckpointError, match=r"OpenCLIP text .*missing cond_stage_model\.model\.transformer\.resblocks\.1"
    ):
        build(cfg, no_clip, None)


def test_camera_checkpoint_is_merged_over_the_base_as_upstream_loads_it(state_256, tmp_path):
    """Upstream: base["state_dict"] | camera, then a strict load. Its own weights (here pose_encoder.*) go to
    the camera module; without one they are an error naming them."""
    from safetensors.torch import save_file

    delta = camera_delta(state_256)
    save_file(delta, str(tmp_path / "256_tiny_50k.safetensors"))
    camera = read_state(str(tmp_path / "256_tiny_50k.safetensors"))
    (unet, *_), facts = build(tiny_config("256"), state_256, camera)
    assert facts["layout"] == "delta over the base" and facts["replaces_base_weights"] == len(delta) > 0
    key = next(iter(delta))
    name = key[len("model.diffusion_model.") :]
    assert torch.equal(unet.state_dict()[name], delta[key])
    with pytest.raises(CheckpointError, match=r"unexpected weights pose_encoder\.conv_in\.weight"):
        build(tiny_config("256"), state_256, delta | {"pose_encoder.conv_in.weight": torch.ones(2)})


class NotATensor:
    pass


def test_a_pickle_with_other_objects_is_refused_not_unpickled(state_256, tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"x": torch.ones(1)}, "callbacks": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="objects other than tensors.*not read"):
        read_state(str(path))
    write_lightning_checkpoint(str(path), {"x": torch.ones(1)})
    assert set(read_state(str(path))) == {"x"}


def test_tokens_are_padded_with_zero_and_truncation_keeps_the_end_token(tiny_256):
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(os.path.join(tiny_256, "tokenizer"))
    ids = token_ids(tok, ["a cat", "x" * 500])
    start, end = tok.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])
    assert ids[0, 0] == start and ids[0, 5] == end and not ids[0, 6:].any()
    assert ids[1, 0] == start and ids[1, -1] == end and (ids[1] != 0).all()


# -- camera hook points ---------------------------------------------------------------------------------
class RecordingHook(CameraHook):
    def __init__(self, scale=0.0):
        self.sites, self.scale = [], scale

    def attn1(self, block, normed, site):
        self.sites.append(site)
        b, f, c = normed.shape
        assert b == site.batch * site.height * site.width and f == site.frames
        return normed, torch.full_like(normed, self.scale) if site.part != "init" else None


def test_camera_hooks_reach_every_temporal_block_with_its_site():
    cfg = tiny_config("256").unet
    unet = UNet3D(cfg).eval()
    x, ctx = torch.randn(1, 8, 4, 8, 8), torch.randn(1, 77 + 4 * cfg.image_tokens_per_frame, cfg.context_dim)
    args = (x, torch.tensor([500]), ctx, torch.tensor([3]))
    with torch.no_grad():
        plain = unet(*args)
        hook = RecordingHook()
        same = unet(*args, camera=hook)
        shifted = unet(*args, camera=RecordingHook(0.5))
    assert torch.allclose(plain, same)  # zero additions change nothing
    assert not torch.allclose(plain, shifted)
    blocks = [(p, i, ds) for p, i, ds, _ in unet.temporal_blocks()]
    assert [(s.part, s.index, s.ds) for s in hook.sites] == blocks
    assert {(s.ds, s.height) for s in hook.sites} == {(1, 8), (2, 4)}


# -- catalogue and the CLI ----------------------------------------------------------------------------
def test_catalogue_lists_the_papers_models_with_what_they_need():
    from realcam.catalog import describe, video_models
    from realcam.generate.adapters import resolve_video_model

    aliases = ["dynamicrafter-256", "dynamicrafter-512", "motionctrl-256", "cameractrl-256"]
    aliases += ["cami2v-256", "cami2v-512", "realcam-i2v-256", "realcam-i2v-512"]
    ids = set()
    for alias in aliases:
        m = known_model(alias)
        model_id, spec, adapter = resolve_video_model(alias)
        assert adapter.family == "dynamicrafter" and spec.max_frames == spec.min_frames == 16
        assert spec.frame_count_for(5) == 16 and model_id == m.model_id
        assert adapter.has_camera_condition == (alias not in aliases[:2])
        ids.add(model_id)
    assert len(ids) == len(aliases)  # each checkpoint is its own model for the engine's cache
    listing = {m["name"]: m for m in video_models()}
    cam = listing["realcam-i2v-512"]
    assert cam["sizes"] == [[512, 320]] and cam["max_frames"] == 16 and cam["camera"] == "realcam-i2v"
    assert [r["repo"] for r in cam["requires"]] == [
        "Doubiiu/DynamiCrafter_512",
        "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    ]
    assert cam["approx_bytes"] > 10e9 and cam["licence"].startswith("MIT")
    assert "needs DynamiCrafter 512x320 base weights" in describe(video_models(), [])
    assert len({m.alias for m in KNOWN_VIDEO_MODELS}) == len(KNOWN_VIDEO_MODELS)


def test_download_fetches_only_the_models_own_files():
    from realcam.download.plan import _model_files

    only, needs = _model_files("cami2v-256")
    assert only == ("256_cami2v_50k.safetensors",)
    assert any("Doubiiu/DynamiCrafter" in n for n in needs) and any("laion/CLIP-ViT-H-14" in n for n in needs)
    assert _model_files("laion/CLIP-ViT-H-14-laion2B-s32B-b79K")[0] == (
        "vocab.json",
        "merges.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    )


@pytest.mark.slow
def test_cli_generates_a_take_with_dynamicrafter(tmp_path, tiny_256):
    make_bundle(tmp_path / "job", n=7, w=64, h=64, model=tiny_256)
    set_settings(tmp_path / "job", steps=4)
    r = run_cli("generate", tmp_path / "job", "--out", tmp_path / "take")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "take/result.json").read_text())
    assert res["model"] == tiny_256 and res["model_name"] == "DynamiCrafter 256"
    assert res["generated_frames"] == 8 and res["frames"] == 7 and res["steps"] == 4  # the tiny model's 8
    assert res["sns"]["shaped_steps"] == [0]  # 4 trailing steps: t = 999, 749, 499, 249
    assert res["sns"]["shaped"][0]["level"] == pytest.approx(0.999)
    assert res["camera_condition"] == {"requested": True, "model_has_it": False, "used": False}
    assert len(os.listdir(tmp_path / "take/frames")) == 7
