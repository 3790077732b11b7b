"""`realcam depth` and `realcam bundle`: the photo's depth and the job bundle the add-on writes."""

from __future__ import annotations

import os
import sys

from ..errors import UserError


def _cmd_depth(args) -> int:
    from ..depth import estimate as depth

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


def add_parsers(sub) -> None:
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
