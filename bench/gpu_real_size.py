"""Wan 2.2 TI2V-5B at its real size, random weights, through the real engine on a GPU.

    python bench/gpu_real_size.py --folder DIR [--offload none model sequential] [--vae-tiling] [--steps 8]

No weights can be downloaded where this was written, so the published
architecture is built from its configs with random weights (UMT5-XXL text
encoder, the 5B transformer, the 48-channel VAE), saved as a diffusers folder
and loaded back by the engine's own loading code. Then one job of --frames
frames at 1280x704 runs through `Engine.run` per offload mode: load, preview
encode, every denoising step (shaped steps marked), decode, and the GPU's peak
memory. The noise shaping's share of a step is the time of `NoiseShaper.after_step`
on the real latent size, timed alone. Random weights make the video noise; the
time and memory are those of the real model, which is the point.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

WIDTH, HEIGHT = 1280, 704


def build(folder: str) -> dict:
    """The published Wan2.2-TI2V-5B-Diffusers layout, random weights, bfloat16 (VAE float32)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline
    from transformers import UMT5Config, UMT5EncoderModel

    from realcam.testing.tiny_wan import tiny_text_encoder, wan_transformer

    t = time.perf_counter()
    _, tokenizer = tiny_text_encoder()  # token ids stay below the real vocabulary; only the encoder's size matters
    with torch.device("cuda"):
        text_encoder = UMT5EncoderModel(
            UMT5Config(
                vocab_size=256384,
                d_model=4096,
                d_kv=64,
                d_ff=10240,
                num_layers=24,
                num_heads=64,
                relative_attention_num_buckets=32,
                relative_attention_max_distance=128,
                feed_forward_proj="gated-gelu",
            )
        ).to(torch.bfloat16)
        transformer = wan_transformer(
            48,
            48,
            heads=24,
            head_dim=128,
            text_dim=4096,
            ffn_dim=14336,
            layers=30,
            eps=1e-6,
            rope_max_seq_len=1024,
        ).to(torch.bfloat16)
        vae = AutoencoderKLWan(
            base_dim=160,
            decoder_base_dim=256,
            z_dim=48,
            dim_mult=[1, 2, 4, 4],
            num_res_blocks=2,
            temperal_downsample=[False, True, True],
            in_channels=12,
            out_channels=12,
            patch_size=2,
            is_residual=True,
            scale_factor_spatial=16,
            scale_factor_temporal=4,
            latents_mean=[0.0] * 48,
            latents_std=[1.0] * 48,
        )
    params = {
        name: sum(p.numel() for p in m.parameters())
        for name, m in (("text_encoder", text_encoder), ("transformer", transformer), ("vae", vae))
    }
    pipe = WanImageToVideoPipeline(
        transformer=transformer.eval(),
        vae=vae.eval(),
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        transformer_2=None,
        image_encoder=None,
        image_processor=None,
        boundary_ratio=None,
        expand_timesteps=True,
    )
    built = time.perf_counter() - t
    t = time.perf_counter()
    pipe.save_pretrained(folder)
    saved = time.perf_counter() - t
    del pipe, transformer, text_encoder, vae
    torch.cuda.empty_cache()
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)
    return {"params": params, "build_s": built, "save_s": saved, "folder_gb": size / 1e9}


def write_bundle(folder: str, frames: int, steps: int, model: str) -> None:
    """A forward dolly whose previews lose a growing strip on the right (the disocclusion)."""
    from PIL import Image

    from realcam_core.bundle import Frame, JobBundle, Settings, preview_name
    from realcam_core.camera import Intrinsics

    os.makedirs(os.path.join(folder, "preview"), exist_ok=True)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    ref = np.stack([(x * 255 // WIDTH), (y * 255 // HEIGHT), ((x ^ y) & 255)], -1).astype(np.uint8)
    Image.fromarray(ref).save(os.path.join(folder, "reference.png"), compress_level=1)
    K = Intrinsics.default_for(WIDTH, HEIGHT)
    cams = []
    for i in range(frames):
        rgba = np.dstack([ref, np.full((HEIGHT, WIDTH), 255, np.uint8)])
        rgba[:, WIDTH - i * 2 :, 3] = 0 if i else 255
        Image.fromarray(rgba).save(os.path.join(folder, preview_name(i)), compress_level=1)
        c2w = np.eye(4)
        c2w[2, 3] = 0.02 * i
        cams.append(Frame(1001 + i, preview_name(i), K, c2w))
    np.save(os.path.join(folder, "depth.npy"), np.full((HEIGHT, WIDTH), 3.0, np.float32))
    settings = Settings(model=model, prompt="a room", seed=0, fps=24.0, steps=steps)
    JobBundle(WIDTH, HEIGHT, cams, settings, depth="depth.npy").write_manifest(folder)


def run_job(engine, bundle: str, out: str, offload: str, vae_tiling: bool = False) -> dict:
    import torch

    from realcam.generate.job import RunOptions

    stamps = []

    def on_event(e):
        if e.get("stage") == "denoise" and e.get("step"):
            stamps.append((time.perf_counter(), e["shaped"]))

    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = engine.run(
        bundle, out, RunOptions(device="cuda", offload=offload, vae_tiling=vae_tiling), on_event=on_event
    )
    wall = time.perf_counter() - t0
    timings = json.load(open(os.path.join(out, "result.json")))["timings"]
    steps = np.diff([s for s, _ in stamps]).tolist()
    shaped = [d for d, (_, sh) in zip(steps, stamps[1:], strict=True) if sh]
    plain = [d for d, (_, sh) in zip(steps, stamps[1:], strict=True) if not sh]
    engine.unload()
    return {
        "offload": offload + (" + VAE tiling" if vae_tiling else ""),
        "wall_s": wall,
        "timings": timings,
        "step_s_median": statistics.median(steps) if steps else None,
        "shaped_step_s_median": statistics.median(shaped) if shaped else None,
        "plain_step_s_median": statistics.median(plain) if plain else None,
        "shaped_steps": result["sns"]["shaped_steps"],
        "gpu_peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
        "gpu_peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
    }


def shaping_share(frames: int) -> dict:
    """NoiseShaper.after_step alone at the real latent size, on the GPU."""
    import torch

    from realcam.generate.adapters.wan import WanAdapter
    from realcam.generate.noise_shaping import NoiseShaper
    from realcam_core.models import WAN22_TI2V_5B

    adapter = WanAdapter(WAN22_TI2V_5B)
    shape = (1, 48, (frames - 1) // 4 + 1, HEIGHT // 16, WIDTH // 16)
    sigmas = [1.0 - i / 50 for i in range(50)]
    clean = torch.randn(shape)
    mask = torch.rand((1, 1) + shape[2:]) > 0.3
    shaper = NoiseShaper(adapter, clean, mask, sigmas, 0.9, 0, True)
    latents = torch.randn(shape, device="cuda", dtype=torch.float32)
    i = shaper.shaped_steps[-1] - 1 if shaper.shaped_steps and shaper.shaped_steps[-1] > 0 else 0
    times = []
    for _ in range(20):
        torch.cuda.synchronize()
        t = time.perf_counter()
        shaper.after_step(i, latents)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return {"after_step_ms_median": statistics.median(times[5:]) * 1000, "latent_shape": list(shape)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", default=None, help="where the random-weight pipeline is built (or reused)")
    ap.add_argument("--offload", nargs="+", default=["none", "model"])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--frames", type=int, default=121)
    ap.add_argument("--vae-tiling", action="store_true", help="decode and encode the video in tiles")
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu_real_size.py needs a CUDA GPU")
    from realcam.generate.engine import Engine

    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    folder = args.folder or tempfile.mkdtemp(prefix="realcam-wan22-5b-")
    if not os.path.exists(os.path.join(folder, "model_index.json")):
        report["build"] = build(folder)
        print(json.dumps(report), flush=True)
    report["shaping"] = shaping_share(args.frames)
    print(json.dumps(report["shaping"]), flush=True)
    work = tempfile.mkdtemp(prefix="realcam-gpu-job-")
    bundle = os.path.join(work, "bundle")
    write_bundle(bundle, args.frames, args.steps, folder)
    engine = Engine()
    report["jobs"] = []
    for offload in args.offload:
        job = run_job(engine, bundle, os.path.join(work, f"take-{offload}"), offload, args.vae_tiling)
        report["jobs"].append(job)
        print(json.dumps(job), flush=True)
        if args.json:
            json.dump(report, open(args.json, "w"), indent=1)
    for job in report["jobs"]:
        share = report["shaping"]["after_step_ms_median"] / 1000 / job["step_s_median"]
        print(
            f"{report['device']}: Wan 2.2 TI2V-5B {args.frames}x{HEIGHT}x{WIDTH}, offload {job['offload']}: "
            f"load {job['timings'].get('load_s', 0):.1f} s, encode {job['timings'].get('encode_s', 0):.1f} s, "
            f"step {job['step_s_median']:.2f} s, "
            f"decode {job['timings'].get('decode_s', 0):.1f} s, peak {job['gpu_peak_allocated_gib']:.1f} GiB "
            f"allocated / {job['gpu_peak_reserved_gib']:.1f} GiB reserved; shaping {share * 100:.2f}% of a step"
        )
    if args.json:
        json.dump(report, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
