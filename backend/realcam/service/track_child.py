"""The child process of a track job (track_job.py starts it): `realcam track` on one clip, its stages sent back.

A module of its own that imports only the tracking code, so the child starts in a second (the server's generation
engine, which its parent has loaded, takes many). It never downloads weights: HF_HUB_OFFLINE is set before anything
that reads it is imported.
"""

from __future__ import annotations

import os
import traceback


def run(clip: str, camera_file: str, options: dict, conn) -> None:
    """In the child: track, sending ("stage", name) as it goes, then ("done", report), ("user", message) for a
    problem with the clip, or ("error", message)."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub loads: never a download at track time
    from ..errors import UserError
    from ..track.pipeline import TrackOptions, track_clip

    try:
        report = track_clip(clip, camera_file, TrackOptions(**options), on_stage=lambda s: conn.send(("stage", s)))
        conn.send(("done", report))
    except UserError as e:
        conn.send(("user", str(e)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which fails the job with it
        traceback.print_exc()
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()
