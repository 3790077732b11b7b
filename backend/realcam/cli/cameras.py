"""`realcam track` and `realcam eval`: camera moves measured from video."""

from __future__ import annotations

import os
import sys

from ..errors import UserError


def _cmd_eval(args) -> int:
    from ..evaluate.accuracy import evaluate, to_json

    print(to_json(evaluate(args.video, args.cameras, args.depth)))
    return 0


def _cmd_track(args) -> int:
    import json

    from ..track.batch import is_clip_folder, track_folder
    from ..track.pipeline import TrackOptions, track_clip

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


def add_parsers(sub) -> None:
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
