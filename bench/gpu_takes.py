"""One 121-frame 1280x704 take per speed mode, end to end, at the real Wan 2.2 TI2V-5B size on a GPU, side by side.

    python bench/gpu_takes.py --folder DIR [--modes draft full cache compile] [--steps 50] [--offload none]
                              [--cache-threshold 0.05] [--json FILE]

Modes, each one job through `Engine.run` on the same bundle (a forward dolly with a
growing disocclusion, noise shaping on at its default threshold):
    draft    FastWan2.2-TI2V-5B layout, its 3-step DMD sampler, no guidance
    full     Wan 2.2 TI2V-5B, --steps steps (default 50), guidance 5
    cache    full + the first-block step cache (--cache-threshold)
    compile  full + regional torch.compile of the transformer blocks (the take includes compiling them)
No weights can be downloaded where this was written: bench/gpu_real_size.py's
build() makes the published architecture with random weights (UMT5-XXL, the 5B
transformer, the 48-channel VAE) and saves it as a diffusers folder; the draft is
the same parts under FastWan's model index (FastVideo's WanDMDPipeline name),
linked, not copied. Both load through the engine's own loading code. Random
weights make noise, and a cache skips steps by how much a trained model's first
block changes between steps, so the cache's row is the mechanism's cost and
saving on random weights, not a trained model's; the other rows' times and
memory are the real model's.

Per mode: the take's wall time with the model already loaded (the iteration an
artist waits for), the load time when it was loaded, the stages, the median step
(after the first, which carries compilation), steps cached, the GPU's peak memory,
and noise shaping's share of the denoising (NoiseShaper.after_step timed alone at
the real latent size, times the shaped steps, over the denoising time). Prints one
JSON line per mode as it goes and a markdown table at the end.

Time: on an H100 the build and save take a few minutes and a 50-step take about
three; to stay within one 10-minute command, run `--modes draft full` and then
`--modes cache compile` with the same --folder while the machine is warm (or
--steps 20 and scale), each call writes its --json.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from gpu_real_size import build, shaping_share, write_bundle  # noqa: E402  (the previous GPU script's helpers)

MODES = ("draft", "full", "cache", "compile")
FRAMES = 121


def draft_folder(full: str, folder: str) -> str:
    """The built parts under FastWan's published model index: its pipeline is FastVideo's WanDMDPipeline."""
    os.makedirs(folder, exist_ok=True)
    for part in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        link = os.path.join(folder, part)
        if not os.path.exists(link):
            os.symlink(os.path.join(os.path.abspath(full), part), link)
    with open(os.path.join(full, "model_index.json")) as fh:
        index = json.load(fh)
    keep = ("_diffusers_version", "scheduler", "text_encoder", "tokenizer", "transformer", "vae")
    with open(os.path.join(folder, "model_index.json"), "w") as fh:
        json.dump({"_class_name": "WanDMDPipeline", **{k: index[k] for k in keep}}, fh, indent=1)
    return folder


def run_mode(engine, mode, bundle, out, model, args, shaping_ms) -> dict:
    import torch

    from realcam.generate.job import RunOptions, device_and_dtype, plan_job
    from realcam_core.bundle import load_bundle

    speed = {"step_cache": "first-block", "cache_threshold": args.cache_threshold} if mode == "cache" else {}
    if mode == "compile":
        speed = {"compile": True}
    load_s = None
    options = RunOptions(model=model, device="cuda", offload=args.offload)
    if engine.loaded_model() != model:  # loaded apart from the take: an artist's iterations find it loaded
        plan, _, adapter = plan_job(load_bundle(bundle), model)
        t = time.perf_counter()
        engine._pipeline(plan, adapter, options, *device_and_dtype(options))
        load_s = time.perf_counter() - t
    stamps = []
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = engine.run(
        bundle,
        out,
        RunOptions(model=model, device="cuda", offload=args.offload, speed=speed),  # the same pipeline key
        on_event=lambda e: stamps.append((time.perf_counter(), e)),
    )
    wall = time.perf_counter() - t0
    ticks = [t for t, e in stamps if e.get("stage") == "denoise"]
    steps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    timings = result["timings"]
    shaped = len(result["sns"]["shaped_steps"])
    return {
        "mode": mode,
        "model": result["model_name"],
        "steps": result["steps"],
        "guidance": result["guidance"],
        "wall_s": wall,
        "load_s": load_s,
        "encode_s": timings["encode_s"],
        "denoise_s": timings["denoise_s"],
        "decode_s": timings["decode_s"],
        "write_s": timings["write_s"],
        "first_step_s": steps[0] if steps else None,
        "step_s_median": statistics.median(steps[1:]) if len(steps) > 1 else (steps[0] if steps else None),
        "shaped_steps": shaped,
        "steps_cached": len(result["speed"]["step_cache"]["steps_cached"]),
        "compiled": result["speed"]["compile"]["used"],
        "gpu_peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
        "shaping_share": shaping_ms / 1000 * shaped / timings["denoise_s"],
        "speed": result["speed"],
    }


def table(rows: list[dict], device: str, args) -> str:
    out = [
        f"{device}: 121x704x1280 take per mode, random weights at the real size, offload {args.offload}, "
        "model already loaded (load shown apart)",
        "",
        "| mode | steps | take | encode | denoise | first step | step | decode | write | cached | peak GiB | shaping "
        "| load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    base = next((r for r in rows if r["mode"] == "full"), None)
    for r in rows:
        ratio = f" ({r['wall_s'] / base['wall_s']:.2f}x)" if base else ""
        load = f"{r['load_s']:.1f} s" if r["load_s"] is not None else "-"
        out.append(
            f"| {r['mode']} | {r['steps']} | {r['wall_s']:.1f} s{ratio} | {r['encode_s']:.1f} s | "
            f"{r['denoise_s']:.1f} s | {r['first_step_s']:.2f} s | {r['step_s_median']:.2f} s | "
            f"{r['decode_s']:.1f} s | {r['write_s']:.1f} s | "
            f"{r['steps_cached']} | {r['gpu_peak_allocated_gib']:.1f} | {r['shaping_share'] * 100:.2f} % | {load} |"
        )
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", default=None, help="where the random-weight pipeline is built (or reused)")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--steps", type=int, default=50, help="steps of the full modes (the draft always takes 3)")
    ap.add_argument("--offload", default="none", choices=["none", "model", "sequential"])
    ap.add_argument("--cache-threshold", type=float, default=0.05)
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_takes.py needs a CUDA GPU")
    from helpers import set_settings  # tests/helpers.py: edits a bundle's settings in place

    from realcam.generate.engine import Engine

    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": []}
    folder = args.folder or tempfile.mkdtemp(prefix="realcam-wan22-5b-")
    if not os.path.exists(os.path.join(folder, "model_index.json")):
        report["build"] = build(folder)
        print(json.dumps(report["build"]), flush=True)
    draft = draft_folder(folder, folder.rstrip("/") + "-fastwan")
    shaping_ms = shaping_share(FRAMES)["after_step_ms_median"]
    work = tempfile.mkdtemp(prefix="realcam-gpu-takes-")
    bundle = os.path.join(work, "bundle")
    write_bundle(bundle, FRAMES, args.steps, folder)
    engine = Engine()
    for mode in args.modes:
        model = draft if mode == "draft" else folder
        set_settings(bundle, steps=None if mode == "draft" else args.steps, guidance=None)
        row = run_mode(engine, mode, bundle, os.path.join(work, f"take-{mode}"), model, args, shaping_ms)
        report["rows"].append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            json.dump(report, open(args.json, "w"), indent=1)
    print(table(report["rows"], report["device"], args))


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
    main()
