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
                                       "device" the GPU it generates on)
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
    DELETE /v1/jobs/{id}              204; a running job is cancelled first

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
result comes back to the server), "done"; "cancelled" when stopped. Within API version 1 new stage
values may be added ("decode" was, after the first release): a client shows a stage it does not know
by its name and goes on polling, it never fails on one. Removing or renaming a stage, or changing
what step/total/eta_s mean, needs a new API version.

Content types. Every POST and DELETE names its body's type, and never one a
web page could send without the browser asking the server first (text/plain,
application/x-www-form-urlencoded, multipart/form-data): POST /v1/jobs sends
BUNDLE_CONTENT_TYPE, POST /v1/depth an image type (image/jpeg, image/png, ...)
or application/octet-stream, cancel and DELETE CONTROL_CONTENT_TYPE (the body
may be empty). Anything else is refused with 415.

Who may ask. The server answers only requests whose Host header names it: a
loopback name or address (localhost, 127.0.0.1, [::1], any port), the address
it is bound to, or a name given with `realcam serve --allow-host NAME`; bound to
a non-loopback address it also accepts IP addresses (DNS rebinding needs a
name). A request with an Origin header is refused unless that origin is the
server itself (its own /docs page); `Origin: null` is refused. Both give 403.

Downloads (video, frames, result, the depth zip) come with Content-Length and
`Repr-Digest: sha-256=:BASE64:` (RFC 9530), the SHA-256 of the body: a client
keeps a file only when both match.

Errors: 4xx/5xx with {"error": "one line", "problems": ["path: message", ...]}, and no
absolute path of the server's machine in either:
    400 not a zip, no body       401 token         403 Host or Origin refused
    404 no such job              408 the upload stalled or took too long
    409 not in a state for that  413 over a size limit (upload, unpacked bundle, pixels)
    415 content type             422 a bundle or a parameter that fails validation
    503 the worker cannot run jobs (see /v1/health)     507 the server's disk is full
"""

API_VERSION = 1
PREFIX = "/v1"

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
FINISHED = (DONE, FAILED, CANCELLED)
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


def job_path(job_id: str, what: str = "") -> str:
    return f"{PREFIX}/jobs/{job_id}" + (f"/{what}" if what else "")


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
