"""The client's calls for tracks (/v1/tracks, api.py): a clip's camera move, tracked as a job on the backend.

A mixin of client.Client (same guarantees: every call ends within its deadline, downloads are whole and verified
or not kept, failures are BackendError). Standard library only; blocking, so a worker thread's business in Blender.
"""

from __future__ import annotations

import os
import zipfile

from . import api

VIDEO_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
}


def pack_clip(clip: str, dest_zip: str, depth_map: str | None = None) -> str:
    """A clip archive (api.py): a video file, or a folder's PNG/JPEG frames in name order, with the depth map of one
    frame. Files are stored as they are (videos and images are compressed already). ValueError for no clip."""
    tmp = dest_zip + ".part"
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            if os.path.isdir(clip):
                frames = sorted(n for n in os.listdir(clip) if n.lower().endswith(api.TRACK_FRAME_EXTENSIONS))
                if not frames:
                    raise ValueError(f"{clip}: no PNG or JPEG frames in this folder")
                for n in frames:
                    zf.write(os.path.join(clip, n), f"{api.TRACK_FRAMES}/{n}")
            else:
                ext = os.path.splitext(clip)[1].lower()
                if ext not in api.TRACK_VIDEO_EXTENSIONS:
                    raise ValueError(f"{clip}: not a video file ({', '.join(api.TRACK_VIDEO_EXTENSIONS)})")
                zf.write(clip, api.TRACK_CLIP_VIDEO + ext)
            if depth_map:
                ext = os.path.splitext(depth_map)[1].lower()
                if ext not in api.TRACK_DEPTH_EXTENSIONS:
                    raise ValueError(f"{depth_map}: a depth map is .npy (metres), a 16-bit .png (mm) or .exr")
                zf.write(depth_map, api.TRACK_DEPTH + ext)
        os.replace(tmp, dest_zip)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest_zip


def _is_track(d) -> bool:
    return (
        isinstance(d, dict)
        and isinstance(d.get("id"), str)
        and d.get("kind") == api.TRACK
        and d.get("state") in api.STATES
        and isinstance(d.get("progress", {}), dict)
    )


class TrackCalls:
    """Client methods for /v1/tracks (they use Client's plumbing)."""

    def submit_track(self, upload: str, **options) -> dict:
        """Upload a clip (a video file, or an archive from pack_clip) with its options (api.TRACK_OPTIONS; None
        left out): the track, new or the one already made of this clip and options."""
        unknown = set(options) - set(api.TRACK_OPTIONS)
        if unknown:
            raise TypeError(f"unknown track options: {', '.join(sorted(unknown))}")
        query = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in options.items() if v is not None}
        ext = os.path.splitext(upload)[1].lower()
        ctype = api.TRACK_ARCHIVE_CONTENT_TYPE if ext == ".zip" else VIDEO_TYPES.get(ext, "video/mp4")
        end = self._end()  # one deadline for the health check and the upload
        health = self._json("GET", f"{api.PREFIX}/health", lambda d: isinstance(d, dict), "health report", end=end)
        limits = health.get("limits")
        limit = limits.get("max_upload_bytes") if isinstance(limits, dict) else None
        size = os.path.getsize(upload)
        if isinstance(limit, int) and size > limit:
            from .client import BackendError

            raise BackendError(
                413,
                f"the clip is {size / 2**20:.0f} MiB, over this backend's upload limit of {limit / 2**20:.0f} MiB "
                "(realcam serve --max-upload-mb)",
            )
        with open(upload, "rb") as fh:
            headers = self._upload_headers(upload, ctype)
            return self._json(
                "POST", api.track_path(), _is_track, "track", body=fh, headers=headers, query=query, end=end
            )

    def track(self, track_id: str) -> dict:
        return self._json("GET", api.track_path(track_id), _is_track, "track")

    def tracks(self) -> list:
        data = self._json(
            "GET", api.track_path(), lambda d: isinstance(d, dict) and isinstance(d.get("tracks"), list), "track list"
        )
        if not all(_is_track(t) for t in data["tracks"]):
            from .client import BackendError

            raise BackendError(0, f"the backend at {self.base} sent a malformed track list")
        return data["tracks"]

    def cancel_track(self, track_id: str) -> dict:
        headers = {"Content-Type": api.CONTROL_CONTENT_TYPE}
        return self._json("POST", api.track_path(track_id, "cancel"), _is_track, "track", headers=headers)

    def delete_track(self, track_id: str) -> None:
        self._json("DELETE", api.track_path(track_id), headers={"Content-Type": api.CONTROL_CONTENT_TYPE})

    def download_track(self, track_id: str, what: str, dest: str) -> str:
        """Save the track's "move" (RealEstate10K) or "report" (JSON) to dest, whole and verified, or not at all."""
        if what not in ("move", "report"):
            raise ValueError(f"a track has a move and a report, not {what!r}")
        return self._save("GET", api.track_path(track_id, what), dest, f"the track's {what}")
