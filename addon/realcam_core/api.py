"""The HTTP API between the add-on (or any client) and the backend: version 1.

All paths are under /v1. Bodies are raw bytes, not multipart, so the server can
count them as they stream in. With a token configured, every request but
/v1/health needs `Authorization: Bearer TOKEN`.

    GET    /v1/health                 {"status", "version", "api_version", "bundle_schema_versions",
                                       "device", "loaded_model", "queued", "running"}
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
     "progress": {"stage", "step", "total", "eta_s"}, "position" (in the queue, 0 = next),
     "error" (why it failed), "attempts"}

Errors: 4xx/5xx with {"error": "one line", "problems": ["path: message", ...]}.
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

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def job_path(job_id: str, what: str = "") -> str:
    return f"{PREFIX}/jobs/{job_id}" + (f"/{what}" if what else "")
