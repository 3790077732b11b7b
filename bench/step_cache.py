"""Steps the first-block cache skips, and the time per step with and without it, on a small Wan model on the CPU.

    python bench/step_cache.py [--steps 30] [--frames 33] [--size 256] [--layers 8] [--guidance 5] [--repeat 2]

A small random-weight pipeline in the Wan 2.2 TI2V-5B layout (48-channel VAE,
TI2V transformer with --layers blocks) is saved and loaded back by the engine,
then one job runs through `Engine.run` per mode: cache off, then the first-block
cache at a few thresholds, with noise shaping on (threshold 0.9, so the cache
only starts after the shaped steps) and once with shaping off (what the guard
costs). Per mode: the steps cached and blocks skipped (result.json), the median
time of the steps the cache may act on, and the denoising time, each against
cache off in the same run. The modes take turns, --repeat rounds, and torch runs
on --threads threads (default 1: on a shared, overloaded machine two threads
spin-wait for each other and time one small step anywhere from 1 to 10 s, one
thread 0.3 s steadily). Random weights change between steps differently from
trained ones: which steps a trained model lets the cache skip, and so the real
saving, is for the GPU script (bench/gpu_takes.py) with real weights to tell.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # make_bundle: the bundle the tests use


def build(folder: str, layers: int) -> str:
    import torch
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline

    from realcam.testing.tiny_wan import tiny_text_encoder, tiny_wan22_vae, wan_transformer

    torch.manual_seed(0)
    text_encoder, tokenizer = tiny_text_encoder()
    transformer = wan_transformer(
        48, 48, heads=4, head_dim=32, ffn_dim=512, layers=layers, rope_max_seq_len=1024
    ).eval()
    WanImageToVideoPipeline(
        transformer=transformer,
        vae=tiny_wan22_vae(),
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer_2=None,
        image_encoder=None,
        image_processor=None,
        boundary_ratio=None,
        expand_timesteps=True,
    ).save_pretrained(folder)
    return folder


def run_job(engine, bundle, out, speed, sns=True):
    from helpers import set_settings

    from realcam.generate.job import RunOptions

    set_settings(bundle, sns_enabled=sns)
    stamps = []
    engine.run(bundle, out, RunOptions(speed=speed), on_event=lambda e: stamps.append((time.perf_counter(), e)))
    result = json.load(open(os.path.join(out, "result.json")))
    ticks = [(t, e) for t, e in stamps if e.get("stage") == "denoise"]
    per_step = [b[0] - a[0] for a, b in zip(ticks, ticks[1:], strict=False)]  # step k: from its start to its end
    return result, per_step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--repeat", type=int, default=2, help="rounds of all modes, in turn")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from helpers import make_bundle, set_settings

    from realcam.generate.engine import Engine

    work = tempfile.mkdtemp(prefix="realcam-bench-cache-")
    model = build(os.path.join(work, "model"), args.layers)
    bundle = os.path.join(work, "bundle")
    make_bundle(bundle, n=args.frames, w=args.size, h=args.size, model=model)
    set_settings(bundle, steps=args.steps, guidance=args.guidance)
    engine = Engine()
    set_settings(bundle, steps=2)
    engine.run(bundle, os.path.join(work, "warm-up"))  # load and first-call costs out of the comparison
    set_settings(bundle, steps=args.steps)

    modes = [("off", {"step_cache": "off"}, True)]
    modes += [
        (f"first-block {t:g}", {"step_cache": "first-block", "cache_threshold": t}, True) for t in args.thresholds
    ]
    mid = args.thresholds[len(args.thresholds) // 2]
    modes.append((f"first-block {mid:g}, SNS off", {"step_cache": "first-block", "cache_threshold": mid}, False))
    runs = {name: [] for name, _, _ in modes}
    for r in range(args.repeat):
        for i, (name, speed, sns) in enumerate(modes):
            runs[name].append(run_job(engine, bundle, os.path.join(work, f"take-{r}-{i}"), speed, sns))
    rows, base = [], None
    for name, _, _ in modes:
        result = runs[name][0][0]  # the same steps are cached in every round (the same seed and latents)
        sc = result["speed"]["step_cache"]
        shaped = result["sns"]["shaped_steps"]
        first = (max(shaped) + 1) if shaped else 0
        # The first step after the shaped ones always runs in full; from there on the cache may act.
        eligible = [t for _, per_step in runs[name] for t in per_step[first + 1 :]]
        row = {
            "mode": name,
            "shaped": len(shaped),
            "cached": len(sc["steps_cached"]),
            "skipped": f"{sc['blocks_skipped']}/{sc['blocks_run'] + sc['blocks_skipped']}",
            "step_ms": statistics.median(eligible) * 1000,
            "denoise_s": statistics.median(res["timings"]["denoise_s"] for res, _ in runs[name]),
        }
        base = base or row
        row["step_ratio"] = row["step_ms"] / base["step_ms"]
        row["denoise_ratio"] = row["denoise_s"] / base["denoise_s"]
        rows.append(row)
    tokens = ((args.frames - 1) // 4 + 1) * (args.size // 32) ** 2
    print(
        f"first-block cache on a random-weight Wan 2.2 TI2V-layout model ({args.layers} blocks, width 128, "
        f"{tokens} tokens: {args.frames}x{args.size}x{args.size}), {args.steps} steps, guidance {args.guidance:g}, "
        f"{torch.get_num_threads()} thread(s), CPU float32, {args.repeat} rounds; step = median of the steps after the "
        "first unshaped one"
    )
    print(
        f"  {'mode':28s} {'shaped':>6s} {'cached':>6s} {'blocks skipped':>15s} {'step':>9s} {'ratio':>6s} "
        f"{'denoise':>9s} {'ratio':>6s}"
    )
    for r in rows:
        print(
            f"  {r['mode']:28s} {r['shaped']:6d} {r['cached']:6d} {r['skipped']:>15s} {r['step_ms']:7.1f}ms "
            f"{r['step_ratio']:6.2f} {r['denoise_s']:8.2f}s {r['denoise_ratio']:6.2f}"
        )


if __name__ == "__main__":
    main()
