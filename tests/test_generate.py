"""End to end: job bundles through small random-weight pipelines loaded from disk like real ones."""

import json
import os
import threading

import numpy as np
import pytest
from helpers import frames_of, make_bundle, probe_mp4, run_cli, run_cli_offline, set_settings

from realcam.errors import UserError
from realcam.generate.engine import Engine
from realcam.generate.job import JobCancelled, RunOptions


@pytest.fixture(scope="module")
def engine():
    return Engine()


def test_cli_generates_exact_frames_at_bundle_fps(tmp_path, tiny_models):
    make_bundle(tmp_path / "job", n=7, w=64, h=64, model=tiny_models["wan22-ti2v"])
    set_settings(tmp_path / "job", steps=6, fps=30000 / 1001)
    r = run_cli("generate", tmp_path / "job", "--out", tmp_path / "take1")
    assert r.returncode == 0, r.stderr
    assert "7 frames at 29.97 fps" in r.stdout
    count, fps, size = probe_mp4(str(tmp_path / "take1/video.mp4"))
    assert (count, size) == (7, (64, 64)) and fps == pytest.approx(29.97, abs=0.01)
    assert len(os.listdir(tmp_path / "take1/frames")) == 7
    res = json.loads((tmp_path / "take1/result.json").read_text())
    assert res["generated_frames"] == 9 and res["frames"] == 7  # 4k+1 covering 7, trimmed back
    assert res["scene_frames"] == list(range(1001, 1008))
    assert res["steps"] == 6 and res["sns"]["enabled"] and res["sns"]["shaped_steps"][0] == 0
    assert set(res["timings"]) >= {"load_s", "encode_s", "denoise_s", "decode_s", "write_s", "total_s"}
    assert res["memory"]["process_peak_rss_mib"] > 0
    assert "denoise" in r.stderr  # the progress bar


@pytest.mark.parametrize("name, w, h, n", [("wan22-ti2v", 64, 64, 5), ("wan21-i2v", 64, 48, 6), ("svd", 64, 64, 4)])
def test_reproducible_for_a_seed(tmp_path, tiny_models, engine, name, w, h, n):
    """The same bundle gives the same frames twice (the shaping noise included). That the seed and SNS act, and
    how, is shown elsewhere: test_stock_pipeline_parity.py (the seed's video is the stock pipeline's) and
    test_noise_shaping.py (shaping pulls the result toward the preview, at the right sigmas)."""
    make_bundle(tmp_path / "job", n=n, w=w, h=h, model=tiny_models[name])
    set_settings(tmp_path / "job", steps=4, threshold=0.5)
    a = engine.run(tmp_path / "job", tmp_path / "a")
    b = engine.run(tmp_path / "job", tmp_path / "b")
    assert np.array_equal(frames_of(tmp_path / "a"), frames_of(tmp_path / "b"))
    assert len(a["sns"]["shaped_steps"]) >= 1 and a["sns"] == b["sns"]
    assert frames_of(tmp_path / "a").shape == (n, h, w, 3)
    set_settings(tmp_path / "job", sns_enabled=False)
    c = engine.run(tmp_path / "job", tmp_path / "c")
    assert c["sns"]["enabled"] is False and c["sns"]["shaped_steps"] == [] and c["sns"]["shaped"] == []


def test_pipeline_is_reused_then_swapped(tmp_path, tiny_models):
    eng = Engine()
    make_bundle(tmp_path / "j1", n=5, w=64, h=64, model=tiny_models["wan22-ti2v"])
    make_bundle(tmp_path / "j2", n=5, w=64, h=64, model=tiny_models["svd"])
    for b in ("j1", "j2"):
        set_settings(tmp_path / b, steps=2)
    assert eng.run(tmp_path / "j1", tmp_path / "o1")["model_loaded_for_this_job"] is True
    assert eng.run(tmp_path / "j1", tmp_path / "o2")["model_loaded_for_this_job"] is False
    assert eng.run(tmp_path / "j2", tmp_path / "o3")["model_loaded_for_this_job"] is True
    assert eng.loaded_model() == tiny_models["svd"]


def test_progress_events_and_cancel_leave_nothing(tmp_path, tiny_models, engine):
    make_bundle(tmp_path / "job", n=5, w=64, h=64, model=tiny_models["wan22-ti2v"])
    set_settings(tmp_path / "job", steps=8)
    events, cancel = [], threading.Event()

    def on_event(e):
        events.append(e)
        if e.get("step") == 3:
            cancel.set()

    with pytest.raises(JobCancelled):
        engine.run(tmp_path / "job", tmp_path / "out", on_event=on_event, cancel=cancel)
    steps = [e["step"] for e in events if e["stage"] == "denoise"]
    assert steps == [0, 1, 2, 3]  # stopped before step 4 ran
    assert events[0]["stage"] == "load" and all(e["total"] == 8 for e in events if e["stage"] == "denoise")
    assert events[2]["eta_s"] is None and events[3]["eta_s"] >= 0
    assert not (tmp_path / "out").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".realcam-job-")]
    # The engine is still usable after a cancel.
    engine.run(tmp_path / "job", tmp_path / "out")
    assert len(os.listdir(tmp_path / "out/frames")) == 5


@pytest.mark.parametrize("name", ["wan22-ti2v", "svd"])
def test_decode_is_reported_before_the_vae_decodes(tmp_path, tiny_models, engine, monkeypatch, name):
    """The stages in order, and "decode" comes when the last step is done and before the pipeline's VAE decodes."""
    from diffusers import AutoencoderKLTemporalDecoder, AutoencoderKLWan

    order = []
    for cls in (AutoencoderKLWan, AutoencoderKLTemporalDecoder):

        def decode(self, *a, _original=cls.decode, **kw):
            order.append("vae.decode")
            return _original(self, *a, **kw)

        monkeypatch.setattr(cls, "decode", decode)
    make_bundle(tmp_path / "job", n=5, w=64, h=64, model=tiny_models[name])
    set_settings(tmp_path / "job", steps=3)
    engine.run(tmp_path / "job", tmp_path / "out", on_event=lambda e: order.append(e["stage"]))
    stages = [s for i, s in enumerate(order) if i == 0 or s != order[i - 1]]
    assert stages[:2] == ["load", "encode"], order
    # (the Wan preview encode runs through the encoder, not decode: no VAE decode before the steps)
    assert stages[2:] == ["denoise", "decode", "vae.decode", "write", "done"], order
    assert order.count("denoise") == 4  # step 0 (starting) and each of the 3 steps


def test_jobs_the_model_cannot_make_are_refused_up_front(tmp_path, tiny_models, engine):
    # Longer than the model makes at once is made in windows; windows too short to carry anything over are not.
    make_bundle(tmp_path / "long", n=30, w=64, h=64, model=tiny_models["svd"])
    with pytest.raises(UserError, match=r"30 frames is longer than .* \(4\), and its window is too short to carry"):
        engine.run(tmp_path / "long", tmp_path / "o", RunOptions(window_frames=4))
    make_bundle(tmp_path / "odd", n=5, w=64, h=48, model=tiny_models["wan22-ti2v"])
    with pytest.raises(UserError, match=r"64x48 is not a size this model can make: .*1280x704 or 704x1280"):
        engine.run(tmp_path / "odd", tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_existing_take_is_never_overwritten(tmp_path, tiny_models, engine):
    make_bundle(tmp_path / "job", n=5, w=64, h=64, model=tiny_models["wan22-ti2v"])
    set_settings(tmp_path / "job", steps=2)
    (tmp_path / "take").mkdir()
    (tmp_path / "take/keep.txt").write_text("an earlier take")
    with pytest.raises(UserError, match="not empty"):
        engine.run(tmp_path / "job", tmp_path / "take")
    assert (tmp_path / "take/keep.txt").read_text() == "an earlier take"


@pytest.mark.slow
def test_unavailable_video_model_says_how_to_get_it(tmp_path):
    make_bundle(tmp_path / "job", n=5, w=64, h=48, model="wan2.2-ti2v-5b")
    r = run_cli_offline("generate", tmp_path / "job", "--out", tmp_path / "o", hf_home=tmp_path / "hf")
    assert r.returncode == 2
    msg = r.stderr.strip().splitlines()[-1]
    assert "64x48 is not a size" in msg  # refused before any download is attempted
    make_bundle(tmp_path / "job2", n=5, w=1280, h=704, model="wan2.2-ti2v-5b")
    r = run_cli_offline("generate", tmp_path / "job2", "--out", tmp_path / "o", hf_home=tmp_path / "hf")
    msg = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2
    assert "Wan-AI/Wan2.2-TI2V-5B-Diffusers" in msg and "realcam download wan2.2-ti2v-5b" in msg
    assert str(tmp_path / "hf") in msg and "never downloads" in msg
    assert not (tmp_path / "o").exists()
