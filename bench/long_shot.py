"""A long shot in windows against one window: time per output frame (the cost of chaining), the seams against the
frame-to-frame change inside windows, and how closely a loop's last frame meets its first.

    python bench/long_shot.py [--tiny-models DIR] [--frames 120] [--window 17] [--steps 4] [--size 64] [--repeat 2]

Small random-weight models in the published layouts (`realcam tiny-models`), loaded by the engine as real ones:
Wan 2.2 TI2V-5B for the long shot (windows of --window frames, its default overlap of 5), RealCam-I2V 256 (the
paper's model: DynamiCrafter with its camera in the UNet; the tiny one makes 8 frames at once, 4 carried) for a
long shot of the DynamiCrafter family, and for the loops
TI2V (no last-frame input: its last latent frame is held to the photo), DynamiCrafter 256 (the same, per-frame
VAE) and Wan 2.1 FLF2V (given the photo as its last frame).

Chaining cost: seconds per output frame of the long shot (encode, denoise, decode and write; the model already
loaded) over that of one window, and the share of frames made twice (the overlaps), which bounds it from below.

Seams (generate/seams.py): d_i is the mean absolute difference (0-255) between frames i and i + 1; a seam's value is
the largest d_i from the frame before its overlap to the first after it, over the median d_i inside windows. Four
joins of the same windows: as shipped (held latent frames + crossfade), a hard cut in the middle of the overlap,
and, with nothing held (each window only started from the image, a separate run), crossfaded and cut. On random
weights the VAE's round trip changes every frame it encodes (a carried frame comes back ~30 grey levels off), so
the in-window d_i is the random model's own flicker; the ratios say whether a seam stands out from it.

Loops: mean absolute difference between the last and the first frame, looped and not, same seed; also against the
photo. Random weights: the VAE decides most of what a frame looks like, so these numbers measure the mechanism
(the end pulled toward the photo), not what trained weights would show.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # make_bundle: the bundle the tests use


STAGES = ("encode_s", "denoise_s", "decode_s", "write_s")


def run_seconds(result) -> float:
    t = result["timings"]
    return t["total_s"] - t["load_s"]


def raw_windows(work, result):
    from realcam.generate.window_store import WindowStore

    key = json.load(open(os.path.join(work, "store.json")))["key"]
    store = WindowStore(work, key)
    return [store.load(w["index"], w["length"])[0] for w in result["windows"]["list"]]


def cut(parts, windows):
    """A hard cut in the middle of each overlap (no crossfade)."""
    out = np.concatenate([parts[0]])
    for w, frames in zip(windows[1:], parts[1:], strict=True):
        mid = w.start + w.overlap // 2
        out = np.concatenate([out[:mid], frames[mid - w.start :]])
    return out


def seam_rows(parts, windows):
    from realcam.generate import seams

    joined = seams.measure(seams.join(parts, windows), windows)
    hard = seams.measure(cut(parts, windows), windows)
    return joined, hard


def summary(m) -> str:
    ratios = [s["ratio"] for s in m["seams"]]
    return (
        f"median {statistics.median(ratios):5.2f}x, worst {max(ratios):5.2f}x "
        f"(in-window median d {m['in_window_median_difference']:.2f})"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny-models", help="a `realcam tiny-models` folder (default: made in a temporary folder)")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--window", type=int, default=17)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dc-frames", type=int, default=40, help="the RealCam-I2V long shot's frames")
    args = ap.parse_args()
    from dataclasses import replace

    from helpers import frames_of, make_bundle, set_settings

    import realcam.generate.windows as windows_mod
    from realcam.generate.engine import Engine
    from realcam.generate.job import RunOptions
    from realcam.generate.window_store import WindowStore
    from realcam_core.models import WAN22_TI2V_5B
    from realcam_core.windows import plan_windows

    tiny = args.tiny_models
    work = tempfile.mkdtemp(prefix="realcam-bench-long-")
    if tiny is None:
        tiny = os.path.join(work, "tiny")
        only = ["wan22-ti2v", "wan21-flf2v", "dynamicrafter-256", "realcam-i2v-256"]
        code = f"from realcam.testing.tiny_models import build_all; build_all({tiny!r}, {only!r})"
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    model = os.path.join(tiny, "wan22-ti2v")
    engine = Engine()

    def bundle(name, n, model=model, **settings):
        folder = os.path.join(work, name)
        make_bundle(folder, n=n, w=args.size, h=args.size, model=model)
        set_settings(folder, steps=args.steps, **settings)
        return folder

    one, long = bundle("one", args.window), bundle("long", args.frames)
    options = RunOptions(window_frames=args.window)
    engine.run(one, os.path.join(work, "warm-up"), options)  # the model loaded, first calls done
    per_frame = {"one": [], "long": []}
    stages = {"one": [], "long": []}
    long_result = None
    for r in range(args.repeat):
        for name, folder in (("one", one), ("long", long)):
            res = engine.run(folder, os.path.join(work, f"{name}-{r}"), options)
            per_frame[name].append(run_seconds(res) / res["frames"])
            stages[name].append({k: res["timings"][k] / res["frames"] for k in STAGES})
            long_result = res if name == "long" else long_result
    one_s, long_s = statistics.median(per_frame["one"]), statistics.median(per_frame["long"])
    spec = replace(WAN22_TI2V_5B, max_frames=args.window)
    plan = plan_windows(args.frames, spec)
    made = sum(w.length for w in plan.windows)
    print(
        f"long shot: {args.frames} frames of {args.size}x{args.size} in {plan.count} windows of {args.window} "
        f"(overlap {plan.overlap}), {args.steps} steps, a random-weight Wan 2.2 TI2V-layout model, CPU float32, "
        f"median of {args.repeat}"
    )
    print(f"  one window ({args.window} frames): {one_s * 1000:8.1f} ms per output frame")
    print(f"  long shot ({args.frames} frames):  {long_s * 1000:8.1f} ms per output frame, {long_s / one_s:.2f}x")
    print(f"  frames made / frames delivered: {made}/{args.frames} = {made / args.frames:.2f} (the overlaps)")
    for name in ("one", "long"):
        parts = ", ".join(f"{k[:-2]} {statistics.median(x[k] for x in stages[name]) * 1000:.0f}" for k in STAGES)
        print(f"    {name:4s} ms per output frame by stage: {parts}")

    # Seams: the shipped join, a hard cut, and both without held latent frames (a separate run).
    original_clear = WindowStore.clear
    WindowStore.clear = lambda self: None  # keep each window's own frames to join them other ways
    try:
        kept = os.path.join(work, "kept")
        res = engine.run(long, os.path.join(work, "long-kept"), RunOptions(window_frames=args.window, work_dir=kept))
        joined, hard = seam_rows(raw_windows(kept, res), plan.windows)
        original_held = windows_mod.context_latent_frames
        windows_mod.context_latent_frames = lambda overlap, t: 0
        try:
            loose = os.path.join(work, "loose")
            res2 = engine.run(
                long, os.path.join(work, "long-loose"), RunOptions(window_frames=args.window, work_dir=loose)
            )
            loose_joined, loose_hard = seam_rows(raw_windows(loose, res2), plan.windows)
        finally:
            windows_mod.context_latent_frames = original_held
    finally:
        WindowStore.clear = original_clear
    assert json.dumps(joined) == json.dumps({k: long_result["windows"][k] for k in joined})  # what result.json says
    print("seams: the largest frame-to-frame difference across each seam over the in-window median")
    print(f"  held latent frames + crossfade (shipped): {summary(joined)}")
    print(f"  held latent frames + hard cut:            {summary(hard)}")
    print(f"  image only + crossfade:                   {summary(loose_joined)}")
    print(f"  image only + hard cut:                    {summary(loose_hard)}")
    print(f"  carried frame vs the VAE's version of it: {statistics.median(res['windows']['carried_difference']):.2f}")

    dc_long(engine, bundle, tiny, args)

    print("loops: mean absolute difference (0-255) of the last frame to the first, and to the photo")
    from PIL import Image

    for name, folder, n in (
        ("Wan 2.2 TI2V (held)", "wan22-ti2v", 17),
        ("DynamiCrafter 256 (held)", "dynamicrafter-256", 16),
        ("Wan 2.1 FLF2V (last_image)", "wan21-flf2v", 17),
    ):
        path = os.path.join(tiny, folder)
        size = args.size
        row = []
        for loop in (False, True):
            if folder == "wan21-flf2v" and not loop:
                row.append(None)  # it makes nothing without a last frame
                continue
            b = os.path.join(work, f"loop-{folder}-{loop}")
            make_bundle(b, n=n, w=size, h=size, model=path)
            set_settings(b, steps=args.steps, loop=loop)
            out = b + "-take"
            engine.run(b, out)
            f = frames_of(out).astype(int)
            photo = np.asarray(Image.open(os.path.join(b, "reference.png")).convert("RGB")).astype(int)
            row.append((np.abs(f[-1] - f[0]).mean(), np.abs(f[-1] - photo).mean()))
        text = "   ".join(
            f"{label}: last-first {v[0]:6.2f}, last-photo {v[1]:6.2f}" if v else f"{label}: -"
            for label, v in zip(("not looped", "looped"), row, strict=True)
        )
        print(f"  {name:28s} {text}")


def dc_long(engine, bundle, tiny, args):
    """The paper's family: a RealCam-I2V long shot (its own window and overlap) against one window of it."""
    from realcam.generate.job import RunOptions

    path = os.path.join(tiny, "realcam-i2v-256")
    one, long = bundle("dc-one", 8, model=path), bundle("dc-long", args.dc_frames, model=path)
    engine.run(one, os.path.join(tempfile.mkdtemp(), "warm-up"), RunOptions())
    per = {"one": [], "long": []}
    res = None
    for r in range(args.repeat):
        for name, folder in (("one", one), ("long", long)):
            res_r = engine.run(folder, os.path.join(os.path.dirname(folder), f"dc-{name}-{r}"), RunOptions())
            per[name].append(run_seconds(res_r) / res_r["frames"])
            res = res_r if name == "long" else res
    one_s, long_s = statistics.median(per["one"]), statistics.median(per["long"])
    w = res["windows"]
    made = sum(x["length"] for x in w["list"])
    print(
        f"RealCam-I2V 256 long shot: {args.dc_frames} frames in {w['count']} windows of {w['frames_per_window']} "
        f"(overlap {w['overlap']}), camera told per window: {res['camera_condition']['used']}"
    )
    print(f"  one window (8 frames):    {one_s * 1000:8.1f} ms per output frame")
    print(f"  long shot ({args.dc_frames} frames): {long_s * 1000:8.1f} ms per output frame, {long_s / one_s:.2f}x")
    print(f"  frames made / frames delivered: {made}/{args.dc_frames} = {made / args.dc_frames:.2f}")
    print(f"  seams (shipped join): {summary(w)}")


if __name__ == "__main__":
    main()
