"""`realcam models`, `realcam download` and `realcam tiny-models`: which models, their weights, small stand-ins."""

from __future__ import annotations

from ..errors import UserError


def _cmd_tiny_models(args) -> int:
    from ..testing.tiny_models import build_all

    for name, path in build_all(args.folder).items():
        print(f"{name}: {path}")
    return 0


def _cmd_download(args) -> int:
    import json

    from ..download.fetch import Throttle, download
    from ..download.plan import describe, make_plan

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
    from ..catalog import depth_models, describe, video_models

    print(describe(video_models(), depth_models()))
    return 0


def add_parsers(sub) -> None:
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
