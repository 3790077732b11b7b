"""The `realcam` command line, one module per command group. Heavy libraries load only in the commands that
need them."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import UserError
from . import bundle, cameras, generate, models, serve


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="realcam", description="Photo to camera-controlled video (RealCam-I2V).")
    p.add_argument("--version", action="version", version=f"realcam {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (bundle, generate, serve, cameras, models):
        group.add_parsers(sub)
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
