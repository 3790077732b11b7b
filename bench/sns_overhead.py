"""What scene-constrained noise shaping costs, at the real models' latent sizes.

    python bench/sns_overhead.py [--device cuda] [--dtype bfloat16] [--tiny-model DIR]

Per model: the time of one shaped step (fresh noise, noising, masked replace),
and the one-off cost per job of building the mask from the preview alpha
(visibility, 5x5 erosion, latent downsampling). With --tiny-model, also the
time of one denoising step of that small pipeline, for scale.
"""

import argparse
import statistics
import time

import numpy as np
import torch

from realcam.generate.adapters.svd import SvdAdapter
from realcam.generate.adapters.wan import WanAdapter
from realcam.generate.noise_shaping import NoiseShaper
from realcam_core.masks import latent_mask, shaping_mask
from realcam_core.models import SVD_XT, WAN21_I2V_480P, WAN22_TI2V_5B

CASES = [
    # name, adapter, latent shape, pixel (frames, h, w), spatial, temporal
    ("Wan 2.1 I2V 81x480x832", WanAdapter(WAN21_I2V_480P), (1, 16, 21, 60, 104), (81, 480, 832), 8, 4),
    ("Wan 2.2 TI2V-5B 121x704x1280", WanAdapter(WAN22_TI2V_5B), (1, 48, 31, 44, 80), (121, 704, 1280), 16, 4),
    ("SVD-xt 25x576x1024", SvdAdapter(SVD_XT), (1, 25, 4, 72, 128), (25, 576, 1024), 8, 1),
]


def median_time(fn, repeat, sync=lambda: None):
    times = []
    for _ in range(repeat):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def tiny_step_time(folder: str) -> float:
    from diffusers import DiffusionPipeline
    from PIL import Image

    pipe = DiffusionPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    stamps = []

    def cb(p, i, t, kw):
        stamps.append(time.perf_counter())
        return {}

    args = {
        "image": Image.new("RGB", (64, 64)),
        "height": 64,
        "width": 64,
        "num_frames": 9,
        "num_inference_steps": 6,
        "output_type": "latent",
        "callback_on_step_end": cb,
    }
    if "Wan" in type(pipe).__name__:
        args["prompt"] = "a room"
    with torch.inference_mode():
        pipe(**args)
    return statistics.median(np.diff(stamps))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tiny-model", action="append", default=[])
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    print(f"SNS overhead on {args.device} ({args.dtype}), {torch.get_num_threads()} threads")
    for name, adapter, shape, (f, h, w), s, t in CASES:
        rng = np.random.default_rng(0)
        alpha = np.full((f, h, w), 255, np.uint8)
        alpha[:, :, int(w * 0.8) :] = 0  # a strip the camera uncovers
        alpha[rng.random((f, h, w)) < 0.001] = 0  # scattered holes
        t_mask = median_time(
            lambda a=alpha, s=s, t=t: latent_mask(shaping_mask(a), s, t, 0.9), max(1, args.repeat // 2)
        )
        m = torch.from_numpy(latent_mask(shaping_mask(alpha), s, t, 0.9))
        mask = m[None, None] if adapter.family == "wan" else m[None, :, None]
        latents = torch.randn(shape, dtype=dtype, device=args.device)
        clean = torch.randn(shape, dtype=torch.float32)
        shaper = NoiseShaper(adapter, clean, mask, [0.95] if adapter.family == "wan" else [30.0], 0.9, 0)
        t_step = median_time(lambda sh=shaper, z=latents: sh.shape(z, 0), args.repeat, sync)
        n = int(np.prod(shape))
        print(
            f"  {name:30s} latents {str(shape):22s} {n / 1e6:6.2f} M values: "
            f"{t_step * 1000:8.1f} ms per shaped step, mask build {t_mask * 1000:8.1f} ms per job"
        )
    for folder in args.tiny_model:
        print(
            f"  one denoising step of the small model {folder}: {tiny_step_time(folder) * 1000:.1f} ms "
            "(9 frames, 64x64)"
        )


if __name__ == "__main__":
    main()
