"""The HTTP API's routes by concern, each an APIRouter that server.create_app includes (paths: realcam_core.api).

health   GET /v1/health, GET /v1/models
depth    POST /v1/depth
jobs     POST/GET /v1/jobs, GET/DELETE /v1/jobs/{id}, its video, result and frames, POST its cancel
tracks   POST/GET /v1/tracks, GET/DELETE /v1/tracks/{id}, its move and report, POST its cancel
lifecycle  cancel and delete, shared by jobs and tracks
"""
