"""`realcam serve`: the backend as a local HTTP service (or over a Ray cluster)."""

from __future__ import annotations

import os
import re

from ..errors import UserError
from .options import add_dtype


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
    from ..service.server import ServerConfig, serve

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


def add_parsers(sub) -> None:
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
    add_dtype(s)
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
