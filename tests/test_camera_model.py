"""Wan2.2-Fun-5B-Control-Camera: the published layout, the camera adapter, both conditions in real generations."""

import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import frames_of, make_bundle, run_cli, run_cli_offline, set_settings

from realcam.errors import UserError
from realcam.generate.adapters import resolve_video_model
from realcam.generate.camera_control import CameraAdapter, CameraTrack, attach, control_of, load_adapter
from realcam.generate.engine import Engine
from realcam.generate.inputs import cameras_per_frame
from realcam.generate.wan_checkpoint import build_transformer, diffusers_key, read_folder, split_adapter
from realcam.testing.tiny_fun_camera import TINY_FUN_CAMERA, fun_camera_shapes, write_fun_camera_transformer
from realcam_core.bundle import load_bundle
from realcam_core.plucker import latent_camera_input

# The published 5B's sizes, read off VideoX-Fun's code (comfyui/wan2_2/nodes.py infers them from the tensors).
FUN_5B = {**TINY_FUN_CAMERA, "dim": 3072, "ffn_dim": 14336, "num_heads": 24, "num_layers": 30, "text_dim": 4096}


def load_tiny(folder, dtype=torch.float32):
    state, config = read_folder(str(folder))
    wan, adapter_state = split_adapter(state)
    transformer = build_transformer(wan, config, dtype)
    attach(transformer, load_adapter(adapter_state, dtype))
    return transformer, state


def test_published_layout_loads_key_for_key(tmp_path):
    folder = write_fun_camera_transformer(str(tmp_path / "fun"), seed=3)
    assert sorted(os.listdir(folder)) == ["config.json", "diffusion_pytorch_model.safetensors"]
    transformer, state = load_tiny(folder)
    loaded = transformer.state_dict()
    expected = {k if k.startswith("control_adapter.") else diffusers_key(k): k for k in state}
    assert set(loaded) == set(expected) and len(loaded) == len(state) == 75  # nothing dropped, nothing random
    for name, original in expected.items():
        assert torch.equal(loaded[name], state[original]), name
    # Our rename table agrees with diffusers' own converter for original Wan checkpoints.
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    wan, _ = split_adapter(state)
    theirs = convert_wan_transformer_to_diffusers(dict(wan))
    assert set(theirs) == {diffusers_key(k) for k in wan}
    assert all(torch.equal(theirs[diffusers_key(k)], v) for k, v in wan.items())
    # At the published size the same pattern has 831 tensors, 5.25 B parameters, 245 M in the adapter.
    shapes = fun_camera_shapes(FUN_5B)
    count = {k: int(np.prod(s)) for k, s in shapes.items()}
    assert len(shapes) == 831 and sum(count.values()) == 5_245_802_688
    assert sum(v for k, v in count.items() if k.startswith("control_adapter.")) == 245_376_000


def test_loading_is_strict_and_says_what_is_wrong(tmp_path, tiny_models):
    from safetensors.torch import load_file, save_file

    base = tiny_models["wan22-fun-camera"]
    _, spec, adapter = resolve_video_model(base)
    assert spec.family == "wan-fun-camera"
    for name, edit, message in [
        ("extra", lambda s: s.update({"blocks.0.img_attn.k.weight": torch.zeros(2)}), "blocks.0.img_attn.k.weight"),
        ("missing", lambda s: s.pop("blocks.1.ffn.2.bias"), "missing .*: blocks.1.ffn.net.2.bias$"),
        ("no-camera", lambda s: [s.pop(k) for k in list(s) if k.startswith("control_adapter.")], "control_adapter"),
    ]:
        folder = tmp_path / name
        write_fun_camera_transformer(str(folder), seed=1)
        path = folder / "diffusion_pytorch_model.safetensors"
        state = load_file(str(path))
        edit(state)
        save_file(state, str(path))
        with pytest.raises(UserError, match=message):
            adapter.load(str(folder), "cpu", torch.float32, "none", False)


def test_bfloat16_keeps_the_modules_diffusers_keeps_in_float32(tmp_path):
    transformer, _ = load_tiny(write_fun_camera_transformer(str(tmp_path / "fun")), torch.bfloat16)
    assert transformer.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    assert transformer.control_adapter.conv.weight.dtype == torch.bfloat16
    assert transformer.scale_shift_table.dtype == torch.float32
    assert transformer.blocks[1].scale_shift_table.dtype == torch.float32
    assert transformer.condition_embedder.time_embedder.linear_1.weight.dtype == torch.float32


def test_adapter_is_space_to_depth_then_a_patch_convolution():
    """Independently: unshuffle by s then a p x p stride-p conv is one (s p) x (s p) stride-(s p) conv."""
    torch.manual_seed(0)
    s, p, dim = 4, 2, 5
    adapter = CameraAdapter(dim, downscale=s, patch=(p, p)).eval()
    x = torch.randn(2, 24, 3, 16, 24)
    w = adapter.conv.weight.detach()  # (dim, 24 s s, p, p), input channel c s^2 + i s + j
    big = w.view(dim, 24, s, s, p, p).permute(0, 1, 4, 2, 5, 3).reshape(dim, 24, p * s, p * s)
    frames = x.transpose(1, 2).reshape(6, 24, 16, 24)
    y = F.conv2d(frames, big, adapter.conv.bias, stride=s * p)
    block = adapter.residual_blocks[0]
    y = y + block.conv2(F.relu(block.conv1(y)))
    with torch.no_grad():
        assert torch.allclose(adapter(x), y.view(2, 3, dim, 2, 3).transpose(1, 2), atol=1e-5)


def _inputs(frames=9, h=64, w=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    lat = ((frames - 1) // 4 + 1, h // 16, w // 16)
    x = torch.randn(2, 48, *lat, generator=g)
    cond = torch.randn(1, 52, *lat, generator=g)
    ctx = torch.randn(2, 512, 32, generator=g)
    ks = np.tile([[80.0, 80.0, w / 2, h / 2]], (frames, 1))
    c2w = np.tile(np.eye(4), (frames, 1, 1))
    c2w[:, 2, 3] = np.linspace(0, 0.8, frames)  # a dolly
    c2w[:, 0, 3] = np.linspace(0, -0.3, frames)
    return x, cond, ctx, CameraTrack(ks, c2w, h, w)


def test_camera_features_are_added_after_patch_embedding_only_when_on(tmp_path):
    transformer, state = load_tiny(write_fun_camera_transformer(str(tmp_path / "fun"), seed=2))
    control = control_of(transformer)
    x, cond, ctx, track = _inputs()
    embedded = []
    transformer.patch_embedding.register_forward_hook(lambda m, a, out: embedded.append(out.clone()))
    t = torch.tensor([700.0, 700.0])

    def run(camera):
        control.set_job(cond, camera)
        with torch.inference_mode():
            return transformer(hidden_states=x, timestep=t, encoder_hidden_states=ctx, return_dict=False)[0]

    off, on = run(None), run(track)
    assert on.shape == off.shape == x.shape
    assert (on - off).abs().max() > 1e-2  # the camera changes the prediction
    # What changed is exactly the adapter's features of the grouped rays, added to the embedded latents.
    rays = np.stack([latent_camera_input(track.intrinsics, track.c2w, 64, 96, k) for k in range(3)], axis=1)
    with torch.inference_mode():
        feats = transformer.control_adapter(torch.from_numpy(rays)[None])
    assert torch.allclose(embedded[1] - embedded[0], feats.expand_as(embedded[0]), atol=1e-5)

    # Off is the plain transformer given the 100 channels in the Fun order [noisy, mask + masked video].
    plain = build_transformer(split_adapter(state)[0], json.load(open(tmp_path / "fun" / "config.json")))
    with torch.inference_mode():
        ref = plain(hidden_states=torch.cat([x, cond.expand(2, -1, -1, -1, -1)], 1), timestep=t,
                    encoder_hidden_states=ctx, return_dict=False)[0]  # fmt: skip
    assert torch.equal(off, ref)

    # A zeroed adapter contributes nothing: the camera enters only through it.
    with torch.no_grad():
        for prm in transformer.control_adapter.parameters():
            prm.zero_()
    assert torch.equal(run(track), off)


def test_camera_features_are_computed_once_per_job(tmp_path):
    transformer, _ = load_tiny(write_fun_camera_transformer(str(tmp_path / "fun")))
    control = control_of(transformer)
    calls = []
    transformer.control_adapter.register_forward_hook(lambda m, a, out: calls.append(a[0].shape))
    x, cond, ctx, track = _inputs()
    control.set_job(cond, track)
    with torch.inference_mode():
        for step in range(3):
            transformer(hidden_states=x, timestep=torch.tensor([900.0 - step]), encoder_hidden_states=ctx)
    assert calls == [(1, 24, 1, 64, 96)] * 3  # one latent frame at a time, for the first step only
    control.set_job(cond, track)
    with torch.inference_mode():
        transformer(hidden_states=x, timestep=torch.tensor([900.0]), encoder_hidden_states=ctx)
    assert len(calls) == 6
    control.clear()
    with pytest.raises(RuntimeError, match="condition channels"):
        transformer(hidden_states=x, timestep=torch.tensor([900.0]), encoder_hidden_states=ctx)


def test_cameras_past_the_bundle_hold_its_last(tmp_path):
    make_bundle(tmp_path / "b", n=6)
    bundle = load_bundle(str(tmp_path / "b"))
    ks, c2w = cameras_per_frame(bundle, 9)
    assert ks.shape == (9, 4) and c2w.shape == (9, 4, 4)
    assert np.array_equal(c2w[5:], np.repeat(bundle.c2ws[-1:], 4, 0)) and np.array_equal(c2w[:6], bundle.c2ws)


def test_generate_with_the_camera_and_noise_shaping_together(tmp_path, tiny_models):
    folder = tiny_models["wan22-fun-camera"]
    make_bundle(tmp_path / "job", n=7, w=64, h=64, model=folder)
    set_settings(tmp_path / "job", steps=4, seed=3)
    r = run_cli("generate", tmp_path / "job", "--out", tmp_path / "both")
    assert r.returncode == 0, r.stderr
    assert "camera condition on" in r.stdout and "SNS on" in r.stdout
    res = json.loads((tmp_path / "both/result.json").read_text())
    assert res["model_name"] == "Wan 2.2 Fun 5B Control-Camera"
    cc = res["camera_condition"]
    assert {k: cc[k] for k in ("requested", "model_has_it", "used")} == {
        "requested": True,
        "model_has_it": True,
        "used": True,
    }
    # the scale it entered at: make_bundle's depth is 3 m everywhere, so 1/3 unit per metre
    assert cc["scale"]["source"] == "photo depth" and cc["scale"]["units_per_metre"] == pytest.approx(1 / 3)
    assert cc["sampler"] == res["sampler"] == "flow-euler"
    assert res["sns"]["enabled"] and res["sns"]["shaped_steps"] and res["frames"] == 7
    both = frames_of(tmp_path / "both")
    assert both.shape == (7, 64, 64, 3)

    engine = Engine()
    set_settings(tmp_path / "job", camera_condition=False)
    off = engine.run(tmp_path / "job", tmp_path / "sns-only")
    assert off["camera_condition"]["used"] is False and off["sns"]["shaped_steps"] == res["sns"]["shaped_steps"]
    assert not np.array_equal(frames_of(tmp_path / "sns-only"), both)

    set_settings(tmp_path / "job", camera_condition=True, sns_enabled=False)
    cam = engine.run(tmp_path / "job", tmp_path / "camera-only")
    assert cam["camera_condition"]["used"] and cam["sns"]["shaped_steps"] == []
    set_settings(tmp_path / "job", dolly=0.3)  # another camera move, same everything else
    engine.run(tmp_path / "job", tmp_path / "other-move")
    assert not np.array_equal(frames_of(tmp_path / "camera-only"), frames_of(tmp_path / "other-move"))


def test_models_without_a_camera_adapter_ignore_the_setting(tmp_path, tiny_models):
    make_bundle(tmp_path / "job", n=5, w=64, h=64, model=tiny_models["wan22-ti2v"])
    set_settings(tmp_path / "job", steps=2)
    res = Engine().run(tmp_path / "job", tmp_path / "out")
    assert res["camera_condition"] == {"requested": True, "model_has_it": False, "used": False}


@pytest.mark.slow
def test_listing_and_missing_weights_name_both_repositories(tmp_path):
    printed = run_cli("models").stdout
    line = next(ln for ln in printed.splitlines() if "wan2.2-fun-5b-camera" in ln)
    assert "alibaba-pai/Wan2.2-Fun-5B-Control-Camera" in line and "licence unverified" in line
    make_bundle(tmp_path / "job", n=5, w=1280, h=704, model="wan2.2-fun-5b-camera")
    r = run_cli_offline("generate", tmp_path / "job", "--out", tmp_path / "o", hf_home=tmp_path / "hf")
    msg = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2, r.stderr
    assert "alibaba-pai/Wan2.2-Fun-5B-Control-Camera" in msg and "Wan-AI/Wan2.2-TI2V-5B-Diffusers" in msg
    assert "realcam download wan2.2-fun-5b-camera" in msg and "never downloads" in msg and not (tmp_path / "o").exists()
