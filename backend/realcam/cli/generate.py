"""`realcam generate`: a job bundle through the video model, with a progress bar and Ctrl-C."""

from __future__ import annotations

import argparse
import os
import sys

from .options import add_dtype


def _cmd_generate(args) -> int:
    import signal
    import threading

    from tqdm import tqdm

    from ..generate.engine import Engine
    from ..generate.job import JobCancelled, RunOptions

    cancel = threading.Event()
    # Ctrl-C stops before the next step and leaves no half-written video.
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    bar = None

    def on_event(e):
        nonlocal bar
        if e["stage"] == "denoise":
            desc = f"window {e['window']}/{e['windows']}" if e.get("windows") else "denoise"
            if bar is None or bar.desc != desc:
                if bar is not None:
                    bar.close()
                bar = tqdm(total=e["total"], desc=desc, unit="step", file=sys.stderr)
            bar.n = e["step"]
            bar.refresh()
        elif bar is None:
            print(f"realcam: {e['stage']}...", file=sys.stderr)
        elif e["stage"] == "decode":
            bar.close()
            print("realcam: decoding the video...", file=sys.stderr)
        elif e["stage"] == "write":
            bar.close()

    speed = {"step_cache": args.step_cache, "cache_threshold": args.cache_threshold, "compile": args.compile}
    # A long shot keeps its finished windows beside the take until it is written: the same command run again
    # after Ctrl-C (or a crash) goes on from the window it was in.
    work_dir = os.path.join(os.path.dirname(os.path.abspath(args.out)), f".{os.path.basename(args.out)}.windows")
    options = RunOptions(
        model=args.model,
        device=args.device,
        offload=args.offload,
        vae_tiling=args.vae_tiling,
        dtype=args.dtype,
        speed={k: v for k, v in speed.items() if v is not None},
        window_frames=args.window_frames,
        work_dir=work_dir,
    )
    try:
        result = Engine().run(args.bundle, args.out, options, on_event=on_event, cancel=cancel)
    except JobCancelled:
        kept = " (finished windows kept: run the same command again to go on)" if os.path.isdir(work_dir) else ""
        print(f"realcam: cancelled; no take was written{kept}", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    t = result["timings"]
    camera = result["camera_condition"]
    camera = f", camera condition {'on' if camera['used'] else 'off'}" if camera["model_has_it"] else ""
    speed = _speed_summary(result["speed"])
    if speed:
        print(speed, file=sys.stderr)
    windows = result.get("windows")
    if windows:
        print(
            f"realcam: {windows['count']} windows of {windows['frames_per_window']} frames "
            f"({len(windows['reused'])} reused), worst seam {windows['worst_ratio']}x the in-window frame change",
            file=sys.stderr,
        )
    print(
        f"{args.bundle} -> {args.out}/video.mp4: {result['frames']} frames at {result['fps']:g} fps, "
        f"{result['width']}x{result['height']}, {result['model_name']} seed {result['seed']}, "
        f"{result['steps']} steps (SNS {'on' if result['sns']['enabled'] else 'off'}, "
        f"{len(result['sns']['shaped_steps'])} shaped{camera}), {t['total_s']:.1f} s"
    )
    return 0


def _speed_summary(speed: dict) -> str:
    """What the speed settings did, when any was asked for (one line)."""
    parts = []
    cache, comp = speed["step_cache"], speed["compile"]
    if cache["requested"] != "off":
        if cache["used"]:
            parts.append(
                f"step cache {cache['requested']} from step {cache['from_step']}: {len(cache['steps_cached'])} steps "
                f"cached, {cache['blocks_skipped']} of {cache['blocks_run'] + cache['blocks_skipped']} blocks skipped"
            )
        else:
            parts.append(f"step cache not used: {cache['reason']}")
    if comp["requested"]:
        parts.append(f"compiled {', '.join(comp['regions'])}" if comp["used"] else f"not compiled: {comp['reason']}")
    return "realcam: " + "; ".join(parts) if parts else ""


def _cache_threshold(value: str) -> float:
    x = float(value)
    if not 0 < x <= 1:
        raise argparse.ArgumentTypeError(f"{value}: expected a number in (0, 1]")
    return x


def add_parsers(sub) -> None:
    g = sub.add_parser("generate", help="run a job bundle through the video model")
    g.add_argument("bundle", help="job bundle folder")
    g.add_argument("--out", required=True, help="new folder for video.mp4, frames/ and result.json")
    g.add_argument(
        "--model",
        help="video model alias, Hugging Face id, local diffusers folder or a published-layout camera model folder "
        "(default: the bundle's)",
    )
    g.add_argument("--device", help="torch device (default: cuda, then mps, then cpu)")
    g.add_argument(
        "--offload",
        choices=["auto", "none", "model", "sequential"],
        default="auto",
        help="CPU offload: model (default on CUDA) keeps one model on the GPU at a time, sequential "
        "the least memory and slowest",
    )
    g.add_argument("--vae-tiling", action="store_true", help="decode the video in tiles (less memory)")
    add_dtype(g)
    from realcam_core.bundle import STEP_CACHES

    g.add_argument(
        "--step-cache",
        choices=STEP_CACHES,
        help="reuse the transformer's blocks on steps whose first block barely changed (never on a step noise "
        "shaping acts on); default: the bundle's settings.speed, else off",
    )
    g.add_argument(
        "--cache-threshold",
        type=_cache_threshold,
        help="relative change of the first block that makes a step run in full (default 0.05; higher skips more)",
    )
    g.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the repeated transformer blocks (the first job pays the compile; default: the bundle's, "
        "else off)",
    )
    g.add_argument(
        "--window-frames",
        type=int,
        help="frames per window of a shot longer than the model makes at once (default: the model's count; fewer "
        "use less memory)",
    )
    g.set_defaults(func=_cmd_generate)
