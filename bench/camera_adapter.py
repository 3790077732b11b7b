"""What the camera condition of Wan2.2-Fun-5B-Control-Camera costs, at its real size (random weights).

    python bench/camera_adapter.py [--device cuda] [--dtype bfloat16] [--layers 30] [--adapter-frames 31]

At 1280x704 and 121 frames (31 latent frames, 27280 tokens): the parameter
count, the one-off cost per job of the camera rays (numpy) and of the adapter
(it runs per latent frame, so a few frames are timed and scaled to 31 unless
--adapter-frames 31), and one transformer forward. A full 30-block forward
does not fit a small CPU's time: by default one block is timed at the full
token count and scaled (forward = embeddings and head + 30 x block, each timed
separately); --layers 30 times the real depth on a GPU. Also the analytic
FLOPs, which do not depend on the machine.
"""

import argparse
import time

import numpy as np
import torch

from realcam.generate.camera_control import CameraAdapter
from realcam.generate.wan_checkpoint import cast_like_diffusers
from realcam.testing.tiny_fun_camera import TINY_FUN_CAMERA, fun_camera_shapes
from realcam_core.plucker import latent_camera_input

FUN_5B = {**TINY_FUN_CAMERA, "dim": 3072, "ffn_dim": 14336, "num_heads": 24, "num_layers": 30, "text_dim": 4096}
WIDTH, HEIGHT, FRAMES, TEXT_TOKENS, STEPS = 1280, 704, 121, 512, 50


def timed(fn, sync):
    sync()
    t = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - t, out


def flops(latent_frames: int) -> tuple[float, float]:
    """(adapter per job, transformer forward), multiply-adds counted as 2."""
    d, f = FUN_5B["dim"], FUN_5B["ffn_dim"]
    h, w = HEIGHT // 32, WIDTH // 32  # token grid after the 16x VAE and the 2x2 patch
    n = latent_frames * h * w
    adapter = latent_frames * h * w * 2 * (d * 24 * 16 * 16 * 4 + 2 * d * d * 9)
    block = 2 * n * d * d * 4 + 4 * n * n * d  # self-attention: projections, scores and values
    block += 2 * n * d * d * 2 + 2 * TEXT_TOKENS * d * d * 2 + 4 * n * TEXT_TOKENS * d  # cross-attention
    block += 2 * n * d * f * 2  # feed-forward
    return adapter, FUN_5B["num_layers"] * block


def transformer_forward(layers: int, device, dtype, latent_frames, sync) -> float:
    from diffusers import WanTransformer3DModel

    d = FUN_5B["dim"]
    model = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=FUN_5B["num_heads"],
        attention_head_dim=d // FUN_5B["num_heads"],
        in_channels=FUN_5B["in_dim"],
        out_channels=48,
        text_dim=FUN_5B["text_dim"],
        freq_dim=256,
        ffn_dim=FUN_5B["ffn_dim"],
        num_layers=layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
    ).eval()
    cast_like_diffusers(model.to(device), dtype)  # float32 where diffusers keeps it, as loading does
    x = torch.randn(1, FUN_5B["in_dim"], latent_frames, HEIGHT // 16, WIDTH // 16, device=device, dtype=dtype)
    text = torch.randn(1, TEXT_TOKENS, FUN_5B["text_dim"], device=device, dtype=dtype)
    t = torch.full((1,), 700.0, device=device)
    with torch.inference_mode():
        seconds, _ = timed(lambda: model(hidden_states=x, timestep=t, encoder_hidden_states=text), sync)
    return seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--layers", type=int, default=1, help="transformer blocks to time (30 = the real depth)")
    ap.add_argument("--adapter-frames", type=int, default=2, help="latent frames to time the adapter on (of 31)")
    args = ap.parse_args()
    device, dtype = args.device, getattr(torch, args.dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    latent_frames = (FRAMES - 1) // 4 + 1
    tokens = latent_frames * (HEIGHT // 32) * (WIDTH // 32)
    print(
        f"Wan 2.2 Fun 5B Control-Camera at {WIDTH}x{HEIGHT}, {FRAMES} frames ({latent_frames} latent frames, "
        f"{tokens} tokens), {device} {args.dtype}, {torch.get_num_threads()} threads, random weights"
    )
    sizes = {k: int(np.prod(s)) for k, s in fun_camera_shapes(FUN_5B).items()}
    adapter_params = sum(v for k, v in sizes.items() if k.startswith("control_adapter."))
    total = sum(sizes.values())
    print(
        f"  parameters: transformer {total - adapter_params:,} + camera adapter {adapter_params:,} = {total:,} "
        f"(adapter {100 * adapter_params / total:.1f} %, {adapter_params * 2 / 2**20:.0f} MiB in bf16)"
    )
    f_adapter, f_forward = flops(latent_frames)
    print(
        f"  FLOPs: adapter {f_adapter / 1e12:.1f} T per job ({f_adapter / f_forward * 100:.2f} % of one "
        f"transformer forward, {f_forward / 1e12:.0f} T)"
    )

    # Camera rays (numpy, realcam_core.plucker): per latent frame, scaled to the job.
    ks = np.tile([[681.1, 681.1, WIDTH / 2, HEIGHT / 2]], (FRAMES, 1))
    c2w = np.tile(np.eye(4), (FRAMES, 1, 1))
    c2w[:, 2, 3] = np.linspace(0.0, 1.5, FRAMES)
    n = min(args.adapter_frames, latent_frames)
    t_rays = 0.0
    inputs = []
    for k in range(n):
        dt, rays = timed(lambda k=k: latent_camera_input(ks, c2w, HEIGHT, WIDTH, k), lambda: None)
        t_rays += dt
        inputs.append(torch.from_numpy(rays)[None, :, None])
    t_rays *= latent_frames / n

    adapter = CameraAdapter(FUN_5B["dim"], downscale=16).to(device=device, dtype=dtype).eval()
    t_adapter = 0.0
    with torch.inference_mode():
        for x in inputs:
            dt, _ = timed(lambda x=x: adapter(x.to(device=device, dtype=dtype)), sync)
            t_adapter += dt
    t_adapter *= latent_frames / n
    adapter = None  # free its 1 GB before the transformer
    scaled = f"timed on {n} of {latent_frames} latent frames, scaled" if n < latent_frames else "all latent frames"
    print(f"  camera rays (numpy) per job: {t_rays:8.2f} s")
    print(f"  camera adapter per job:      {t_adapter:8.2f} s ({scaled})")

    depth = FUN_5B["num_layers"]
    if args.layers >= depth:
        t_forward = transformer_forward(depth, device, dtype, latent_frames, sync)
        how = f"all {depth} blocks"
    else:
        t0 = transformer_forward(0, device, dtype, latent_frames, sync)
        t1 = transformer_forward(args.layers, device, dtype, latent_frames, sync)
        block = (t1 - t0) / args.layers
        t_forward = t0 + depth * block
        how = f"embeddings and head {t0:.1f} s + {depth} x one block {block:.1f} s, timed at the full token count"
    print(f"  transformer forward:         {t_forward:8.2f} s ({how})")
    job = STEPS * 2 * t_forward  # classifier-free guidance: two forwards per step
    print(
        f"  adapter / one transformer forward: {100 * t_adapter / t_forward:.2f} %; per {STEPS}-step job with "
        f"guidance ({2 * STEPS} forwards), camera rays + adapter once: {100 * (t_adapter + t_rays) / job:.3f} %"
    )


if __name__ == "__main__":
    main()
