"""The `realcam` command line. Heavy libraries load only in the commands that need them."""

from __future__ import annotations

import argparse
import os
import re
import sys

from . import __version__
from .errors import UserError


def _cmd_depth(args) -> int:
    from .depth import estimate as depth

    size = depth.parse_size(args.size) if args.size else None
    if args.model and args.depth_map:
        raise UserError("--model and --depth-map exclude each other: a supplied depth map needs no model")
    result = depth.estimate(
        args.image,
        size=size,
        model=args.model,
        depth_map=args.depth_map,
        focal_px=args.focal_px,
        device=args.device,
        convert=args.convert,
    )
    depth.write_outputs(result, args.out)
    print(depth.summary(args.image, args.out, result))
    return 0


def _cmd_bundle_validate(args) -> int:
    from realcam_core.bundle import validate_bundle

    bundle, problems = validate_bundle(args.folder)
    if problems:
        for p in problems:
            print(f"{args.folder}/{p}", file=sys.stderr)
        print(f"{args.folder}: {len(problems)} problem(s); not a valid job bundle", file=sys.stderr)
        return 1
    s = bundle.settings
    print(
        f"{args.folder}: valid job bundle, {len(bundle.frames)} frames at {bundle.width}x{bundle.height}, "
        f"{s.fps:g} fps, scene frames {bundle.frames[0].scene_frame}-{bundle.frames[-1].scene_frame}, model {s.model}"
    )
    return 0


def _cmd_bundle_pack(args) -> int:
    from realcam_core.bundle import load_bundle, pack_bundle

    load_bundle(args.folder)
    pack_bundle(args.folder, args.archive)
    print(f"{args.folder} -> {args.archive} ({os.path.getsize(args.archive)} bytes)")
    return 0


def _cmd_generate(args) -> int:
    import signal
    import threading

    from tqdm import tqdm

    from .generate.engine import Engine, JobCancelled, RunOptions

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


def _named_folders(items, flag):
    out = {}
    for item in items or []:
        name, sep, folder = item.partition("=")
        if not sep or not name or not os.path.isdir(folder):
            raise UserError(f"{flag} {item!r}: expected NAME=FOLDER with an existing folder")
        out[name] = os.path.abspath(folder)
    return out


def _cluster_address(value):
    """--cluster: ray://HOST:PORT (Ray client, the server outside the cluster), HOST:PORT or auto (the server
    on a cluster node)."""
    if value is None or value == "auto" or re.fullmatch(r"(ray://)?[\w.\-\[\]:]+:\d+", value):
        return value
    raise UserError(f"--cluster {value!r}: expected ray://HEAD:10001, HEAD:6379 or auto")


def _cmd_serve(args) -> int:
    if args.offline:
        # Before huggingface_hub is imported: it reads the variable once.
        os.environ["HF_HUB_OFFLINE"] = "1"
    from .service.server import ServerConfig, serve

    config = ServerConfig(
        data_dir=args.data,
        host=args.host,
        port=args.port,
        token=args.token or os.environ.get("REALCAM_TOKEN") or None,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_frames=args.max_frames,
        max_pixels=args.max_pixels,
        device=args.device,
        offload=args.offload,
        vae_tiling=args.vae_tiling,
        dtype=args.dtype,
        window_frames=args.window_frames,
        model_folders=_named_folders(args.model_dir, "--model-dir"),
        depth_model_folders=_named_folders(args.depth_model_dir, "--depth-model-dir"),
        allow_hosts=args.allow_host or [],
        body_timeout=args.body_timeout,
        upload_timeout=args.upload_timeout,
        header_timeout=args.header_timeout,
        cluster=_cluster_address(args.cluster),
        max_track_frames=args.max_track_frames,
        max_track_seconds=args.max_track_seconds,
        max_track_pixels=args.max_track_pixels,
    )
    serve(config)
    return 0


def _cmd_eval(args) -> int:
    from .evaluate.accuracy import evaluate, to_json

    print(to_json(evaluate(args.video, args.cameras, args.depth)))
    return 0


def _cmd_track(args) -> int:
    import json

    from .track.batch import is_clip_folder, track_folder
    from .track.pipeline import TrackOptions, track_clip

    options = TrackOptions(
        focal_px=args.focal_px,
        fov=args.fov,
        depth_map=args.depth_map,
        depth_frame=args.depth_frame,
        depth_model=args.depth_model,
        relative=args.relative,
        stride=args.stride,
        max_frames=args.max_frames or None,
        max_side=args.max_side or None,
        fps=args.fps,
        device=args.device,
    )

    def log(msg):
        print(f"realcam track: {msg}", file=sys.stderr, flush=True)

    if is_clip_folder(args.clip):
        summary = track_folder(args.clip, args.out, options, workers=args.workers, log=log)
        print(json.dumps(summary, indent=1))
        return 1 if summary["failed"] else 0
    if os.path.isdir(args.out):
        raise UserError(f"--out {args.out} is a folder: for one clip give the camera file to write, e.g. move.txt")
    print(json.dumps(track_clip(args.clip, args.out, options, log=log), indent=1))
    return 0


def _cmd_tiny_models(args) -> int:
    from .testing.tiny_models import build_all

    for name, path in build_all(args.folder).items():
        print(f"{name}: {path}")
    return 0


def _cmd_download(args) -> int:
    import json

    from .download import Throttle, describe, download, make_plan

    def emit(**event):
        print(json.dumps(event), flush=True)

    try:
        plan = make_plan(args.model)
        if args.json:
            emit(event="plan", **plan.to_dict())
        else:
            print(describe(plan), flush=True)
        if args.info:
            return 0
        throttle = Throttle()

        def progress(done, total, path):
            if not throttle.ready(final=done >= total):
                return
            if args.json:
                emit(event="progress", done=done, total=total, file=path)
            else:
                print(f"\r{done / 1e9:.2f} / {total / 1e9:.2f} GB {path[-40:]:40s}", end="", flush=True)

        folder = download(plan, progress)
    except UserError as e:
        if args.json:
            emit(event="error", message=str(e))
        raise
    if args.json:
        emit(event="done", path=folder)
    else:
        print(f"\n{plan.repo_id} is in the cache: {folder}")
    return 0


def _cmd_models(args) -> int:
    from .catalog import depth_models, describe, video_models

    print(describe(video_models(), depth_models()))
    return 0


def _add_dtype(parser) -> None:
    parser.add_argument(
        "--dtype", choices=["float32", "float16", "bfloat16"], help="default: bfloat16 on CUDA, else float32"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="realcam", description="Photo to camera-controlled video (RealCam-I2V).")
    p.add_argument("--version", action="version", version=f"realcam {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("depth", help="metric depth and intrinsics for a photo")
    d.add_argument("image")
    d.add_argument("--out", required=True, help="folder for image.png, depth.npy, intrinsics.json")
    d.add_argument("--model", help="depth model alias, Hugging Face id or local folder (see `realcam models`)")
    d.add_argument("--depth-map", help="your own depth: .npy (metres), 16-bit .png (mm) or .exr; no model runs")
    d.add_argument("--focal-px", type=float, help="focal length in pixels of the photo as displayed")
    d.add_argument("--size", help="generation size WIDTHxHEIGHT (the photo is scaled to cover it and centre-cropped)")
    d.add_argument("--device", help="torch device (default: cuda, then mps, then cpu)")
    d.add_argument(
        "--convert", action="store_true", help="accept grayscale, 16-bit, CMYK or alpha photos, converted to RGB"
    )
    d.set_defaults(func=_cmd_depth)

    b = sub.add_parser("bundle", help="job bundles")
    bsub = b.add_subparsers(dest="bundle_command", required=True)
    bv = bsub.add_parser("validate", help="check a bundle folder and report every problem")
    bv.add_argument("folder")
    bv.set_defaults(func=_cmd_bundle_validate)
    bp = bsub.add_parser("pack", help="check a bundle folder and write it as one zip for upload")
    bp.add_argument("folder")
    bp.add_argument("archive")
    bp.set_defaults(func=_cmd_bundle_pack)

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
    _add_dtype(g)
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

    from realcam_core.api import DEFAULT_HOST, DEFAULT_PORT

    s = sub.add_parser("serve", help="run the backend as a local HTTP service with a persistent job queue")
    s.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1; others need a token)")
    s.add_argument("--port", type=int, default=DEFAULT_PORT)
    s.add_argument("--data", default=os.path.expanduser("~/.local/share/realcam"), help="jobs and results folder")
    s.add_argument(
        "--token",
        help="bearer token clients must send, at least 16 characters off loopback (better: the REALCAM_TOKEN variable)",
    )
    s.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="also answer requests addressed to NAME (a DNS name of this machine or a proxy; repeatable; "
        "'*' for any, only behind a proxy of your own). Loopback names and the bound address always work",
    )
    s.add_argument(
        "--body-timeout", type=float, default=60.0, help="seconds an upload may send nothing before it is cut off"
    )
    s.add_argument("--upload-timeout", type=float, default=1800.0, help="seconds a whole upload may take")
    s.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds a request's line and headers may take before the connection is closed",
    )
    s.add_argument("--max-upload-mb", type=float, default=2048)
    s.add_argument("--max-frames", type=int, default=241)
    s.add_argument("--max-pixels", type=int, default=1280 * 720)
    s.add_argument("--max-track-frames", type=int, default=3000, help="longest clip a track accepts, in frames")
    s.add_argument("--max-track-seconds", type=float, default=300.0, help="longest video a track accepts, in seconds")
    s.add_argument(
        "--max-track-pixels", type=int, default=3840 * 2160, help="largest frame of a clip a track accepts, in pixels"
    )
    s.add_argument("--device")
    s.add_argument("--offload", choices=["auto", "none", "model", "sequential"], default="auto")
    s.add_argument("--vae-tiling", action="store_true")
    _add_dtype(s)
    s.add_argument(
        "--window-frames",
        type=int,
        help="frames per window of a long shot, at most each model's own count (fewer: less memory)",
    )
    s.add_argument(
        "--model-dir",
        action="append",
        metavar="NAME=FOLDER",
        help="offer a local diffusers folder under NAME (repeatable)",
    )
    s.add_argument(
        "--depth-model-dir",
        action="append",
        metavar="NAME=FOLDER",
        help="offer a local depth model folder under NAME (repeatable)",
    )
    s.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run jobs on a Ray cluster: ray://HEAD:10001, or auto on a cluster node (needs realcam[cluster])",
    )
    s.add_argument(
        "--offline",
        action="store_true",
        help="never download model weights (only the Hugging Face cache and --model-dir folders are used)",
    )
    s.set_defaults(func=_cmd_serve)

    e = sub.add_parser("eval", help="camera accuracy of a video against the requested cameras (COLMAP)")
    e.add_argument("video", help="a video file or a folder of frames")
    e.add_argument("--cameras", required=True, help="a job bundle folder or a RealEstate10K camera file")
    e.add_argument("--depth", help="frame-0 metric depth (.npy, metres) for the metric-scale scores")
    e.set_defaults(func=_cmd_eval)

    tr = sub.add_parser(
        "track",
        help="the camera move of a clip in metres (structure from motion + metric depth), or of every clip in a folder",
    )
    tr.add_argument("clip", help="a video file, a folder of frames, or a folder of clips (data mode)")
    tr.add_argument(
        "--out",
        required=True,
        help="one clip: the RealEstate10K camera file to write (its JSON report goes beside it, same name .json); "
        "a folder of clips: the folder for NAME.txt + NAME.json per clip",
    )
    tr.add_argument("--focal-px", type=float, help="focal length in pixels of the clip's frames (default: estimated)")
    tr.add_argument("--fov", type=float, help="horizontal field of view in degrees (instead of --focal-px)")
    tr.add_argument(
        "--depth-map", help="metric depth of one frame: .npy (metres), 16-bit .png (mm) or .exr; no model runs"
    )
    tr.add_argument("--depth-frame", type=int, default=0, help="the clip frame the depth is for (default 0)")
    tr.add_argument("--depth-model", help="depth model alias, Hugging Face id or local folder (see `realcam models`)")
    tr.add_argument("--relative", action="store_true", help="no metric scale: skip depth entirely")
    tr.add_argument("--stride", type=int, help="use every Nth frame")
    tr.add_argument(
        "--max-frames", type=int, default=48, help="at most this many frames, spread evenly (default 48; 0 = all)"
    )
    tr.add_argument("--max-side", type=int, default=960, help="track at most this long a side (default 960; 0 = as is)")
    tr.add_argument("--fps", type=float, help="frame rate for the timestamps (default: the video's; 24 for frames)")
    tr.add_argument("--workers", type=int, help="clips tracked at once in data mode (default: CPU cores)")
    tr.add_argument("--device", help="torch device of the depth model (default: cuda, then mps, then cpu)")
    tr.set_defaults(func=_cmd_track)

    t = sub.add_parser("tiny-models", help="write small random-weight models for offline smoke tests")
    t.add_argument("folder")
    t.set_defaults(func=_cmd_tiny_models)

    w = sub.add_parser("download", help="fetch a known model's weights into the Hugging Face cache (resumable)")
    w.add_argument("model", help="model alias or Hugging Face id (see `realcam models`)")
    w.add_argument("--info", action="store_true", help="only say the size and licence; download nothing")
    w.add_argument("--json", action="store_true", help="progress as one JSON object per line (for the add-on)")
    w.set_defaults(func=_cmd_download)

    m = sub.add_parser("models", help="list known models and their licences")
    m.set_defaults(func=_cmd_models)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"realcam: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("realcam: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # BundleError and friends carry their own message
        from realcam_core.bundle import BundleError

        if isinstance(e, BundleError):
            for p in e.problems:
                print(f"realcam: {p}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
