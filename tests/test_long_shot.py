"""Long shots in windows, loops and transitions: the plan (shared with the add-on), the seam join and its measure,
the window store, and the engine on small random-weight models loaded from disk like real ones."""

import json
import os
import shutil
import threading
from dataclasses import replace

import numpy as np
import pytest
from helpers import frames_of, make_bundle, probe_mp4, set_settings
from PIL import Image

from realcam.errors import UserError
from realcam.generate import seams
from realcam.generate.engine import Engine
from realcam.generate.job import JobCancelled, RunOptions
from realcam.generate.window_store import WindowStore
from realcam_core.bundle import load_bundle, validate_bundle
from realcam_core.models import DYNAMICRAFTER_256, SVD_XT, WAN21_FLF2V_720P, WAN22_TI2V_5B
from realcam_core.windows import Window, context_latent_frames, describe, end_problems, plan_windows

WINDOW = 17  # the tiny Wan's window here: 5 latent frames, so a long shot is many windows at little cost


@pytest.fixture(scope="module")
def engine():
    return Engine()


# ---------------------------------------------------------------- the plan


@pytest.mark.parametrize(
    "spec, frames",
    [
        (replace(WAN22_TI2V_5B, max_frames=WINDOW), 240),
        (WAN22_TI2V_5B, 240),
        (WAN22_TI2V_5B, 122),
        (SVD_XT, 60),
        (DYNAMICRAFTER_256, 29),
        (DYNAMICRAFTER_256, 17),
    ],
)
def test_windows_cover_the_shot_in_the_models_counts(spec, frames):
    plan = plan_windows(frames, spec)
    ws = plan.windows
    assert plan.long and ws[0].start == 0 and ws[-1].end == frames
    seen = np.zeros(frames, int)
    for k, w in enumerate(ws):
        assert spec.frame_count_for(w.length) == w.length == w.model_frames <= spec.max_frames  # the model's rule
        seen[w.start : w.end] += 1
        if k:
            assert w.start > ws[k - 1].start and w.overlap == ws[k - 1].end - w.start >= spec.window_overlap
    assert (seen >= 1).all()  # every frame made, none skipped
    full = [w for w in ws[:-1]]
    assert all(w.length == spec.max_frames for w in full)  # every window but the last at the model's full count
    assert all(w.overlap == spec.window_overlap for w in ws[1:-1])


def test_the_tiny_240_frame_plan_and_what_each_window_carries():
    spec = replace(WAN22_TI2V_5B, max_frames=WINDOW)
    plan = plan_windows(240, spec)
    assert plan.count == 20 and [w.start for w in plan.windows[:3]] == [0, 12, 24]
    assert (plan.windows[-1].start, plan.windows[-1].length, plan.windows[-1].overlap) == (227, 13, 6)
    # Wan's first latent frame is one frame, then 4 frames each: 5 shared frames are the image + 1 latent frame.
    assert context_latent_frames(5, 4) == 2 and context_latent_frames(6, 4) == 2 and context_latent_frames(9, 4) == 3
    assert context_latent_frames(4, 1) == 4 and context_latent_frames(0, 4) == 0
    # A shot that fits is one window, made at the count the rule allows and trimmed, as before.
    one = plan_windows(7, WAN22_TI2V_5B)
    assert one.windows == (Window(0, 0, 7, 9, 0),) and not one.long


def test_what_a_model_cannot_do_is_said_before_anything_runs():
    short = replace(WAN22_TI2V_5B, max_frames=5)
    assert "window is too short to carry 5 frames" in " ".join(short.problems(1280, 704, 240))
    assert WAN22_TI2V_5B.problems(1280, 704, 240) == []  # a long shot is no longer refused
    assert any("loop or a transition" in p for p in end_problems(WAN21_FLF2V_720P, 33, False, False))
    assert any("needs a last frame for every window" in p for p in end_problems(WAN21_FLF2V_720P, 200, True, False))
    assert end_problems(WAN21_FLF2V_720P, 33, True, False) == []
    assert any("cannot also end on another photo" in p for p in end_problems(WAN22_TI2V_5B, 33, True, True))
    lines = describe(replace(WAN22_TI2V_5B, max_frames=WINDOW), 240, loop=True)
    assert lines[0].startswith("long shot: 20 windows of 17 frames") and "takes no last frame" in lines[1]
    assert "is given its first frame (the photo) as its last frame" in describe(WAN21_FLF2V_720P, 33, loop=True)[0]


# ---------------------------------------------------------------- the join and its measure


def _windows(*spans):
    out, prev = [], None
    for k, (s, n) in enumerate(spans):
        out.append(Window(k, s, n, n, 0 if prev is None else prev[0] + prev[1] - s))
        prev = (s, n)
    return out


def test_the_join_crossfades_the_overlap_and_keeps_the_rest():
    ws = _windows((0, 6), (3, 6))
    a = np.full((6, 2, 2, 3), 200, np.uint8)
    b = np.full((6, 2, 2, 3), 20, np.uint8)
    out = seams.join([a, b], ws)
    assert out.shape[0] == 9 and (out[:3] == 200).all() and (out[6:] == 20).all()
    # Overlap of 3: weights 1/4, 2/4, 3/4 on the later window.
    assert [int(out[i, 0, 0, 0]) for i in (3, 4, 5)] == [155, 110, 65]


def test_the_seam_measure_finds_a_jump():
    rng = np.random.default_rng(0)
    ws = _windows((0, 10), (7, 10))
    base = np.cumsum(rng.integers(0, 3, (17, 4, 4, 3)), axis=0).astype(np.uint8)  # steady motion
    smooth = seams.measure(base, ws)
    assert smooth["worst_ratio"] < 2.0
    jumped = base.copy()
    jumped[9:] = np.clip(jumped[9:].astype(int) + 60, 0, 255).astype(np.uint8)  # a jump inside the overlap
    assert seams.measure(jumped, ws)["worst_ratio"] > 10 * smooth["worst_ratio"]


def test_a_window_store_is_kept_only_for_the_same_job(tmp_path):
    frames = np.random.default_rng(1).integers(0, 255, (3, 4, 4, 3), dtype=np.uint8)
    store = WindowStore(str(tmp_path / "w"), "key-a")
    store.save(0, frames, {"seconds": 1.0})
    os.makedirs(tmp_path / "w" / ".tmp-0001")  # a window cut off while it was saved
    again = WindowStore(str(tmp_path / "w"), "key-a")
    got, record = again.load(0, 3)
    assert np.array_equal(got, frames) and record["frames"] == 3  # lossless
    assert again.load(1, 3) is None and not (tmp_path / "w" / ".tmp-0001").exists()
    assert again.load(0, 4) is None  # another frame count is another window
    other = WindowStore(str(tmp_path / "w"), "key-b")  # another bundle, model or device: never reused
    assert other.load(0, 3) is None


# ---------------------------------------------------------------- the engine


def long_bundle(folder, model, n, steps=2, **settings):
    make_bundle(folder, n=n, w=64, h=64, model=model)
    set_settings(folder, steps=steps, **settings)
    return load_bundle(folder)


@pytest.mark.slow
def test_a_long_shot_is_one_take_of_every_frame(tmp_path, tiny_models, engine):
    long_bundle(tmp_path / "job", tiny_models["wan22-ti2v"], 40)
    events = []
    r = engine.run(tmp_path / "job", tmp_path / "take", RunOptions(window_frames=WINDOW), on_event=events.append)
    count, fps, size = probe_mp4(str(tmp_path / "take/video.mp4"))
    assert (count, size, r["frames"]) == (40, (64, 64), 40) and fps == pytest.approx(24.0)
    assert frames_of(tmp_path / "take").shape[0] == 40 and r["scene_frames"] == list(range(1001, 1041))
    w = r["windows"]
    assert (w["count"], w["frames_per_window"], w["overlap"]) == (3, WINDOW, 5)
    spans = [x["scene_frames"] for x in w["list"]]
    assert spans == [[1001, 1017], [1013, 1029], [1024, 1040]]  # the last one ends at the shot's last frame
    assert [x["held_latent_frames"] for x in w["list"]] == [0, 2, 2] and w["reused"] == []
    assert r["generated_frames"] == 17 + 17 + 17
    assert len(w["seams"]) == 2 and w["in_window_median_difference"] > 0
    # Progress: window k of n on every event of a window, the steps those of the window.
    seen = sorted({(e["window"], e["windows"]) for e in events if "window" in e})
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert all(e["total"] == 2 for e in events if e["stage"] == "denoise")


def _round_trip(pipe, frames):
    """What the Wan VAE makes of frames (N, H, W, 3) uint8 encoded and decoded, as the pipeline's output is rounded."""
    import torch

    x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    with torch.no_grad():
        z = pipe.vae.encode(x).latent_dist.mode()
        y = pipe.vae.decode(z).sample[0].permute(1, 2, 3, 0).numpy()
    return (np.clip(y / 2 + 0.5, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.mark.slow
def test_each_window_starts_from_the_end_of_the_one_before(tmp_path, tiny_models, monkeypatch):
    """Window k + 1's first frames are window k's frames at the same shot frames, as the model's VAE makes them
    (its image, and its held latent frame): compared with a round trip of window k's frames there, and of frames
    one latent frame earlier (what a chain that started 4 frames early would show; the random VAE's round trip
    makes neighbouring frames alike, so that control differs by a few grey levels, the chain by none)."""
    eng = Engine()
    monkeypatch.setattr(WindowStore, "clear", lambda self: None)  # keep the windows' own frames to look at
    long_bundle(tmp_path / "job", tiny_models["wan22-ti2v"], 30)
    work = tmp_path / "windows"
    r = eng.run(tmp_path / "job", tmp_path / "take", RunOptions(window_frames=WINDOW, work_dir=str(work)))
    ws = r["windows"]["list"]
    store = WindowStore(str(work), json.loads((work / "store.json").read_text())["key"])
    parts = [store.load(w["index"], w["length"])[0] for w in ws]
    pipe = eng._loaded[1]
    for k in range(1, len(ws)):
        shift = ws[k]["start"] - ws[k - 1]["start"]
        held = 1 + 4 * (ws[k]["held_latent_frames"] - 1)  # frames of the held latent frames: 5
        carried = parts[k - 1][shift : shift + held]
        same = np.abs(parts[k][:held].astype(int) - _round_trip(pipe, carried).astype(int)).mean()
        early = parts[k - 1][shift - 4 : shift - 4 + held]
        other = np.abs(parts[k][:held].astype(int) - _round_trip(pipe, early).astype(int)).mean()
        assert same < 0.5 and other > 2.0, (k, same, other)  # exact up to rounding; the control is not
    assert r["windows"]["carried_difference"][0] > 0  # the VAE's round trip itself (random weights: large)


@pytest.mark.slow
def test_cancel_between_and_inside_windows_keeps_the_finished_ones_and_a_rerun_goes_on(tmp_path, tiny_models, engine):
    long_bundle(tmp_path / "job", tiny_models["wan22-ti2v"], 30)
    work = str(tmp_path / "windows")
    options = RunOptions(window_frames=WINDOW, work_dir=work)

    def cancelled_at(window, stage, step=None):
        cancel = threading.Event()

        def on_event(e):
            if e.get("window") == window and e["stage"] == stage and (step is None or e.get("step") == step):
                cancel.set()

        with pytest.raises(JobCancelled):
            engine.run(tmp_path / "job", tmp_path / "take", options, on_event=on_event, cancel=cancel)
        assert not (tmp_path / "take").exists()  # no take, no half take
        return sorted(n for n in os.listdir(work) if n != "store.json")

    assert cancelled_at(1, "decode") == ["0000"]  # between windows 1 and 2: window 1 is made and kept
    assert cancelled_at(3, "denoise", step=1) == ["0000", "0001"]  # inside window 3, after reusing window 1
    r = engine.run(tmp_path / "job", tmp_path / "take", options)
    assert r["windows"]["reused"] == [0, 1] and not os.path.exists(work)  # written: the store is cleared
    assert [x["reused"] for x in r["windows"]["list"]] == [True, True, False]
    fresh = engine.run(tmp_path / "job", tmp_path / "fresh", RunOptions(window_frames=WINDOW))
    assert np.array_equal(frames_of(tmp_path / "take"), frames_of(tmp_path / "fresh"))  # as if never stopped
    assert fresh["windows"]["reused"] == []


def _dc_round_trip(pipe, frames):
    """What DynamiCrafter's VAE makes of frames (N, H, W, 3) uint8, rounded as the engine rounds its output."""
    import torch

    x = torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        y = pipe.decode_latents(pipe.encode_latents(x))[0]
    return (np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.mark.slow
def test_the_papers_models_chain_windows_with_the_camera_and_close_a_loop(tmp_path, tiny_models, monkeypatch):
    """RealCam-I2V (DynamiCrafter with the camera wired into its UNet; the tiny model makes 8 frames at once and
    always 8, 4 carried): a 14-frame loop is 3 windows, each told its own slice of the camera path from its own
    first frame, each starting from the frames of the one before as the VAE makes them, the last frame held to
    the photo's latent."""
    eng = Engine()
    monkeypatch.setattr(WindowStore, "clear", lambda self: None)  # keep the windows' own frames to look at
    bundle = long_bundle(tmp_path / "job", tiny_models["realcam-i2v-256"], 14, loop=True)
    work = tmp_path / "windows"
    r = eng.run(tmp_path / "job", tmp_path / "take", RunOptions(work_dir=str(work)))
    assert r["frames"] == 14 and frames_of(tmp_path / "take").shape == (14, 64, 64, 3)
    w = r["windows"]
    assert [(x["start"], x["length"], x["overlap"]) for x in w["list"]] == [(0, 8, 0), (4, 8, 4), (6, 8, 6)]
    # make_bundle's dolly moves 0.1 m a frame; RealCam-I2V is told metres: 0.7 over each window's 8 frames.
    assert r["camera_condition"]["used"] and [x["camera_reach_units"] for x in w["list"]] == [0.7, 0.7, 0.7]
    store = WindowStore(str(work), json.loads((work / "store.json").read_text())["key"])
    parts = [store.load(x["index"], x["length"])[0] for x in w["list"]]
    pipe = eng._loaded[1]
    for k in (1, 2):
        shift, held = w["list"][k]["start"] - w["list"][k - 1]["start"], w["list"][k]["held_latent_frames"]
        carried = _dc_round_trip(pipe, parts[k - 1][shift : shift + held])
        assert held == w["list"][k]["overlap"] and np.abs(parts[k][:held].astype(int) - carried).mean() < 0.5
    photo = np.asarray(Image.open(tmp_path / "job" / bundle.reference_image).convert("RGB"))[None]
    take = frames_of(tmp_path / "take").astype(int)
    assert r["end"]["how"] == "held" and np.abs(take[-1] - _dc_round_trip(pipe, photo)[0]).mean() < 0.5


# ---------------------------------------------------------------- loops and transitions


def _last_vs_first(out):
    f = frames_of(out).astype(int)
    return float(np.abs(f[-1] - f[0]).mean())


@pytest.mark.slow
def test_a_loop_holds_the_last_latent_frame_to_the_photo(tmp_path, tiny_models, engine):
    """TI2V takes no last frame: its last latent frame is held to the photo's (encoded at the end of the scene
    video) at every step and is exactly that after the last. On random weights the VAE decides most of how the
    frames look, so the closure in pixels is measured against the same take unlooped."""
    for loop in (False, True):
        long_bundle(tmp_path / f"j{loop}", tiny_models["wan22-ti2v"], 17, steps=4, loop=loop)
    plain = engine.run(tmp_path / "jFalse", tmp_path / "plain")
    looped = engine.run(tmp_path / "jTrue", tmp_path / "loop")
    assert "end" not in plain and looped["end"]["kind"] == "loop" and looped["end"]["how"] == "held"
    assert looped["end"]["last_vs_first_difference"] == pytest.approx(_last_vs_first(tmp_path / "loop"), abs=1e-3)
    assert _last_vs_first(tmp_path / "loop") < _last_vs_first(tmp_path / "plain")
    # The frames before the held end are the same model run: only the end differs much.
    a, b = frames_of(tmp_path / "plain").astype(int), frames_of(tmp_path / "loop").astype(int)
    assert np.abs(a[0] - b[0]).mean() < 1e-6


@pytest.mark.slow
def test_a_first_and_last_frame_model_is_given_the_last_frame(tmp_path, tiny_models, engine, monkeypatch):
    """FLF2V gets the photo as the pipeline's last_image (nothing held), and with noise shaping off the take is the
    stock pipeline's own first + last frame video for the same seed."""
    import torch
    from diffusers import WanImageToVideoPipeline

    calls = []
    original = WanImageToVideoPipeline.__call__

    def spy(pipe, *a, **kw):
        calls.append(kw)
        return original(pipe, *a, **kw)

    monkeypatch.setattr(WanImageToVideoPipeline, "__call__", spy)
    bundle = long_bundle(tmp_path / "job", tiny_models["wan21-flf2v"], 9, steps=3, loop=True, sns_enabled=False)
    r = engine.run(tmp_path / "job", tmp_path / "take")
    assert r["end"]["how"] == "last_image" and r["sns"]["shaped_steps"] == []
    photo = Image.open(tmp_path / "job" / bundle.reference_image).convert("RGB")
    assert np.array_equal(np.asarray(calls[-1]["last_image"]), np.asarray(photo))
    pipe = engine._loaded[1]
    latents = torch.randn((1, 16, 3, 8, 8), generator=torch.Generator().manual_seed(bundle.settings.seed))
    stock = original(
        pipe,
        image=photo,
        last_image=photo,
        prompt=bundle.settings.prompt,
        height=64,
        width=64,
        num_frames=9,
        num_inference_steps=3,
        guidance_scale=5.0,
        generator=torch.Generator().manual_seed(bundle.settings.seed),
        latents=latents,
        output_type="np",
    ).frames[0]
    stock = (np.clip(stock, 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.abs(frames_of(tmp_path / "take").astype(int) - stock.astype(int)).max() <= 1


@pytest.mark.slow
def test_a_transition_ends_on_the_second_photo(tmp_path, tiny_models, engine):
    bundle = long_bundle(tmp_path / "job", tiny_models["wan22-ti2v"], 17, steps=4)
    second = np.random.default_rng(7).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(second).save(tmp_path / "job" / "last.png")
    bundle.last_image = "last.png"
    bundle.write_manifest(tmp_path / "job")
    assert validate_bundle(tmp_path / "job")[1] == []
    plain = tmp_path / "plain"
    shutil.copytree(tmp_path / "job", plain)
    os.remove(plain / "last.png")
    load = json.loads((plain / "manifest.json").read_text())
    del load["last_image"]
    (plain / "manifest.json").write_text(json.dumps(load))
    r = engine.run(tmp_path / "job", tmp_path / "take")
    engine.run(plain, tmp_path / "plain_take")
    assert (r["end"]["kind"], r["end"]["image"], r["end"]["how"]) == ("transition", "last.png", "held")
    to_second = [
        np.abs(frames_of(t)[-1].astype(int) - second).mean() for t in (tmp_path / "take", tmp_path / "plain_take")
    ]
    assert r["end"]["last_vs_image_difference"] == pytest.approx(to_second[0], abs=1e-3)
    assert to_second[0] < to_second[1], to_second


def test_a_first_and_last_frame_model_refuses_a_take_without_an_end_before_loading(tmp_path, tiny_models):
    eng = Engine()
    long_bundle(tmp_path / "job", tiny_models["wan21-flf2v"], 9)
    with pytest.raises(UserError, match="loop or a transition"):
        eng.run(tmp_path / "job", tmp_path / "take")
    assert not (tmp_path / "take").exists() and eng.loaded_model() is None
