"""Time per guided DDIM step and peak memory of DynamiCrafter's UNet at real size, random weights.

    python bench/dynamicrafter_real_size.py --variant 256 --device cuda --dtype bfloat16
    python bench/dynamicrafter_real_size.py --tiny            # a smoke run of the script itself on CPU

A guided step is two UNet passes (conditional, unconditional) over 16 frames, as upstream samples; the
camera modules (pose encoder, epipolar attention) are not included. Prints one JSON line per variant.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from realcam.generate.dynamicrafter.config import VARIANTS
from realcam.generate.dynamicrafter.unet import UNet3D


def run(variant: str, device: str, dtype, steps: int, tiny: bool) -> dict:
    cfg = VARIANTS[variant]
    if tiny:
        from realcam.testing.tiny_dynamicrafter import tiny_config

        cfg = tiny_config(variant)
    w, h = ((256, 256) if variant == "256" else (512, 320)) if not tiny else (64, 64)
    with torch.device(device):
        unet = UNet3D(cfg.unet).to(dtype).eval()
    f, u = cfg.frames, cfg.unet
    x = torch.randn(1, u.in_channels, f, h // 8, w // 8, device=device, dtype=dtype)
    ctx = torch.randn(1, u.text_tokens + f * u.image_tokens_per_frame, u.context_dim, device=device, dtype=dtype)
    t, fs = torch.tensor([999], device=device), torch.tensor([3], device=device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    with torch.inference_mode():
        for i in range(steps + 1):  # the first is a warm-up
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            unet(x, t, ctx, fs)
            unet(x, t, ctx, fs)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - start)
    out = {
        "variant": variant,
        "size": f"{w}x{h}",
        "frames": f,
        "dtype": str(dtype).replace("torch.", ""),
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else device,
        "unet_params": sum(p.numel() for p in unet.parameters()),
        "s_per_guided_step": round(sorted(times)[len(times) // 2], 4),
        "s_per_25_steps": round(25 * sorted(times)[len(times) // 2], 2),
    }
    if device.startswith("cuda"):
        out["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=["256", "512", "both"], default="both")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--tiny", action="store_true")
    a = ap.parse_args()
    dtype = torch.float32 if a.tiny else getattr(torch, a.dtype)
    for v in ("256", "512") if a.variant == "both" else (a.variant,):
        print(json.dumps(run(v, a.device, dtype, a.steps, a.tiny)), flush=True)


if __name__ == "__main__":
    main()
