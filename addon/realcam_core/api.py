"""The HTTP API between the add-on (or any client) and the backend: version 1.

All paths are under /v1. Bodies are raw bytes, not multipart, so the server can
count them as they stream in. With a token configured, every request but
/v1/health needs `Authorization: Bearer TOKEN` (the scheme in any case).

    GET    /v1/health                 {"status", "version", "api_version", "bundle_schema_versions",
                                       "device", "loaded_model", "queued", "running",
                                       "worker": {"alive", "current", "error"}}; 503 with "error"
                                       when the worker has stopped or cannot save job states
                                       (`serve --cluster` adds to "worker": "cluster", and "slots":
                                       [{"name", "node", "device", "model", "job", "answers"}];
                                       "device_info" is then the server's machine, each slot's
                                       "device" the GPU it generates on). With a token configured,
                                       a caller without it gets only "status", "version",
                                       "api_version", "bundle_schema_versions", "limits" and
                                       "worker": {"error"}
    GET    /v1/models                 {"video": [...], "depth": [...]}: known and configured models,
                                       each with "cached" (weights present locally)
    POST   /v1/depth?size=WxH&focal_px=F&model=M     body: the photo      -> zip: image.png, depth.npy,
                                                                            intrinsics.json
    POST   /v1/jobs                   body: the bundle zip -> 201 job (200 and the same job when this
                                       exact bundle is already queued, running or done)
    GET    /v1/jobs                   {"jobs": [job, ...]} in submission order
    GET    /v1/jobs/{id}              job
    GET    /v1/jobs/{id}/video        video/mp4
    GET    /v1/jobs/{id}/frames       zip of frames/0000.png ...
    GET    /v1/jobs/{id}/result       result.json
    POST   /v1/jobs/{id}/cancel       job (cancelled, or cancelling while its step finishes)
    DELETE /v1/jobs/{id}              204 at once; a running job is hidden at once, cancelled, and
                                       its folder removed when its step ends

A job:
    {"id", "seq", "state", "created_at", "started_at", "finished_at", "model", "frames",
     "width", "height", "scene_frames": [first, last], "seed",
     "progress": {"stage", "step", "total", "eta_s"} (stage: one of PROGRESS_STAGES below; step,
                 total and eta_s while it counts steps; "window", "windows" while a long shot is made
                 in windows: window k of n, its stages and steps those of window k, eta_s the whole
                 job's), "position" (in the queue, 0 = next),
     "error" (why it failed), "attempts",
     "worker" (with `serve --cluster`: {"slot", "node", "pid"} that runs or ran it)}

Progress stages, in the order a job goes through them: "queued", "starting" (a worker took it),
"load" (the model), "encode" (photo, preview and camera), "denoise" (with step, total, eta_s),
"decode" (the last step is done; the pipeline decodes the video), "write" (video and frames),
"evaluate" (only with settings.evaluate: the camera accuracy), "transfer" (`serve --cluster`: the
result comes back to the server), "done"; "cancelled" when stopped. A job whose folder on the server cannot be
read has state "damaged", no stage, and the reason in "error": it can only be deleted. Within API version 1 new stage
values may be added ("decode" was, after the first release): a client shows a stage it does not know
by its name and goes on polling, it never fails on one. Removing or renaming a stage, or changing
what step/total/eta_s mean, needs a new API version.

Tracks: a clip's camera move (`realcam track` as a job; fields of the move and the report: docs/track.md).
A track is a job of kind "track" in the same store and the same queue as generation jobs: one worker runs
both, in submission order. Paths under /v1/jobs show generation jobs only, paths under /v1/tracks tracks only.

    POST   /v1/tracks?focal_px=F&fov=DEG&depth_frame=N&relative=BOOL&depth_model=M&fps=FPS
                 &max_frames=N&stride=S&max_side=PX
                                       body: the clip, either a video (Content-Type video/*) or a zip
                                       (application/zip) of TRACK_CLIP_VIDEO.<ext> (a video) or
                                       TRACK_FRAMES/<name>.png|jpg|jpeg (frames, in name order), plus
                                       optionally TRACK_DEPTH.npy|png|exr (the metric depth of frame
                                       depth_frame, as Import Photo reads depth maps) -> 201 track (200 and
                                       the same track when this clip with these options is already queued,
                                       running or done)
    GET    /v1/tracks                 {"tracks": [track, ...]} in submission order
    GET    /v1/tracks/{id}            track
    GET    /v1/tracks/{id}/move       text/plain: the RealEstate10K file (relative to the first frame; in
                                       metres, or in the report's "unit" when the scale was not found)
    GET    /v1/tracks/{id}/report     application/json: the report ("clip" is the uploaded clip's name,
                                       "camera_file" "move.txt")
    POST   /v1/tracks/{id}/cancel     track (cancelled: its run is stopped at once)
    DELETE /v1/tracks/{id}            204; a running track is cancelled first

A track:
    {"id", "kind": "track", "seq", "state", "created_at", "started_at", "finished_at",
     "clip" ("a video (N bytes)" or "N frames"), "clip_frames", "width", "height", "fps" (the video's, or
     null), "duration_s" (null for frames), "options": {the query's options as given},
     "progress": {"stage"} (stage: one of TRACK_STAGES), "position", "error", "attempts"}
Options: focal_px (pixels of the clip as stored) or fov (degrees across), else the focal length is
estimated; depth_frame (default 0), relative (no metric scale), depth_model (a depth model this server
offers, by name; default its default model; not with a depth map or relative), fps (frames' rate,
default 24), max_frames (2 to TRACK_MAX_SAMPLED, default 48), stride, max_side (16 to TRACK_MAX_SIDE,
default 960). Refused with 413: a clip of more frames, seconds or pixels per frame than the server's
`--max-track-frames`, `--max-track-seconds`, `--max-track-pixels`; with 422: options or a clip that fail
validation (a depth map of another size than the clip, depth_frame past its end, a depth model it does
not know), each problem named. A track finds no metric scale without a depth map or the depth model's
weights on the server: it is done all the same, at relative scale, and its report says why.
Track stages: "queued", "starting", "frames" (reading and sampling the clip), "reconstruct" (structure
from motion), "scale" (the metric depth of the depth frame), "write", "done"; "cancelled" when stopped.
As for jobs, new stages may be added within version 1.

Content types. Every POST and DELETE names its body's type, and never one a
web page could send without the browser asking the server first (text/plain,
application/x-www-form-urlencoded, multipart/form-data): POST /v1/jobs sends
BUNDLE_CONTENT_TYPE, POST /v1/depth an image type (image/jpeg, image/png, ...)
or application/octet-stream, POST /v1/tracks a video type or TRACK_ARCHIVE_CONTENT_TYPE, cancel and
DELETE CONTROL_CONTENT_TYPE (the body may be empty). Anything else is refused with 415.

Who may ask. The server answers only requests whose Host header names it: a
loopback name or address (localhost, 127.0.0.1, [::1], any port), the address
it is bound to, or a name given with `realcam serve --allow-host NAME`; bound to
a non-loopback address it also accepts IP addresses (DNS rebinding needs a
name). A request with an Origin header is refused unless that origin is the
server itself (its own /docs page); `Origin: null` is refused. Both give 403.

Downloads (video, frames, result, the depth zip, a track's move and report) come with Content-Length and
`Repr-Digest: sha-256=:BASE64:` (RFC 9530), the SHA-256 of the body: a client
keeps a file only when both match.

Errors: 4xx/5xx with {"error": "one line", "problems": ["path: message", ...]}, and no
absolute path of the server's machine in either (unknown paths and methods too):
    400 not a zip, no body, not HTTP      401 token         403 Host or Origin refused
    404 no such job or path               405 a method the path does not take
    408 the upload or the request's head stalled or took too long
    409 not in a state for that           413 over a size limit (upload, unpacked bundle, pixels; a
                                              clip's frames, seconds or pixels)
    414 a URL over MAX_URL_BYTES          415 content type
    422 a bundle, clip or parameter that fails validation
    431 a request head over MAX_HEAD_BYTES
    501 not offered here (tracks under `serve --cluster`)
    503 the worker cannot run jobs (see /v1/health), or every connection is busy
    507 the server's disk is full

Limits a client meets besides the server's configured ones (health's "limits"; all of them in
docs/service.md): a request's line and headers MAX_HEAD_BYTES within 10 s (`serve --header-timeout`),
a URL MAX_URL_BYTES; in a bundle, prompts of MAX_PROMPT_BYTES, 1 to 240 fps, focal lengths 0.001 to
1000 times the long side, translations up to 10 km (realcam_core.bundle, which checks them).
"""

API_VERSION = 1
PREFIX = "/v1"

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
DAMAGED = "damaged"  # its folder on the server is damaged: "error" says how; it can only be deleted
STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED, DAMAGED)
FINISHED = (DONE, FAILED, CANCELLED, DAMAGED)
# A job's progress["stage"] values (see above); more may come within version 1.
PROGRESS_STAGES = (
    "queued",
    "starting",
    "load",
    "encode",
    "denoise",
    "decode",
    "write",
    "evaluate",
    "transfer",
    "done",
    "cancelled",
)

# Tracks (see above): the job kind, its stages, what its upload holds, and the server's caps on its options.
TRACK = "track"
TRACK_STAGES = ("queued", "starting", "frames", "reconstruct", "scale", "write", "done", "cancelled")
TRACK_ARCHIVE_CONTENT_TYPE = "application/zip"
TRACK_CLIP_VIDEO = "clip"  # clip.mp4, clip.mov, ... in an archive
TRACK_FRAMES = "frames"  # frames/0000.png ... in an archive
TRACK_DEPTH = "depth"  # depth.npy, depth.png or depth.exr in an archive
TRACK_VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
TRACK_FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg")
TRACK_DEPTH_EXTENSIONS = (".npy", ".png", ".exr")
TRACK_OPTIONS = ("focal_px", "fov", "depth_frame", "relative", "depth_model", "fps", "max_frames", "stride", "max_side")
TRACK_MAX_SAMPLED = 120  # frames a track reconstructs at most (SfM time grows with them)
TRACK_MAX_SIDE = 1920  # the longest side it tracks at

# The fields of a job's progress (see above); "window" and "windows" only on a long shot.
PROGRESS_FIELDS = ("stage", "step", "total", "eta_s", "window", "windows")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

BUNDLE_CONTENT_TYPE = "application/vnd.realcam.bundle+zip"
CONTROL_CONTENT_TYPE = "application/json"
DEPTH_CONTENT_TYPES = ("image/*", "application/octet-stream")
# What a browser may send cross-origin without a CORS preflight: never accepted for a change.
SIMPLE_CONTENT_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")
DIGEST_HEADER = "Repr-Digest"
MIN_REMOTE_TOKEN_CHARS = 16  # a server reachable from other machines needs a token at least this long
MAX_URL_BYTES = 4096  # a request's path and query (the API's longest is under 200)
MAX_HEAD_BYTES = 16 * 1024  # a request's line and headers
MAX_PROMPT_BYTES = 8192  # prompt, negative prompt, UTF-8 (the bundle's own check: realcam_core.bundle)


def job_path(job_id: str, what: str = "") -> str:
    return f"{PREFIX}/jobs/{job_id}" + (f"/{what}" if what else "")


def track_path(track_id: str = "", what: str = "") -> str:
    return f"{PREFIX}/tracks" + (f"/{track_id}" if track_id else "") + (f"/{what}" if what else "")


def is_track_content_type(media: str) -> bool:
    """A clip upload: an archive, or a video of any type (none of them one a browser sends unasked)."""
    return media == TRACK_ARCHIVE_CONTENT_TYPE or (media.startswith("video/") and len(media) > 6)


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower case, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_depth_content_type(media: str) -> bool:
    return media == "application/octet-stream" or (media.startswith("image/") and len(media) > 6)


def repr_digest(sha256: bytes) -> str:
    """The Repr-Digest header value for a body with this SHA-256."""
    import base64

    return "sha-256=:" + base64.b64encode(sha256).decode("ascii") + ":"


def parse_repr_digest(value: str | None) -> bytes | None:
    """The SHA-256 in a Repr-Digest header, or None when it carries none."""
    import base64
    import binascii

    for item in (value or "").split(","):
        name, _, encoded = item.strip().partition("=")
        if name.strip().lower() == "sha-256" and encoded.startswith(":") and encoded.endswith(":"):
            try:
                digest = base64.b64decode(encoded[1:-1], validate=True)
            except (binascii.Error, ValueError):
                return None
            return digest if len(digest) == 32 else None
    return None
