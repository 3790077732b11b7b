"""The backend as a local HTTP service: `realcam serve`.

server      create_app: the FastAPI app assembled from the pieces below; serve
config      ServerConfig, and where the server may listen (a token beyond loopback)
context     the objects every route shares (store, worker, limits, ...), given to routes by dependency injection
guard       Host, Origin, token and content-type rules, as ASGI middleware ahead of routing
responses   the error body every refusal uses, the exception handlers, files sent with their digest
uploads     request bodies under size and time limits; bundle archives checked, unpacked, validated
routes/     the API's routers: health (/v1/health, /v1/models), depth (/v1/depth), jobs (/v1/jobs...),
            tracks (/v1/tracks...)
clips       a clip uploaded for tracking: options and clip checked under the limits, made a track job
track_job   a track job run: `realcam track` in a child process, stoppable
jobstore    jobs on disk, one folder each, recovered after a crash
worker      the thread that runs queued jobs in order through the engine
outcome     how a job run ends (done, cancelled, failed), for the worker and a cluster slot alike
transfer    moving a job's files: the bundle out to a slot, the take back, the take out to a client
cluster     `serve --cluster`: the same queue's jobs run on a Ray cluster instead (imports Ray)
slot        the Ray actor of one GPU slot: a loaded pipeline, one job at a time
redact      keeping this machine's paths out of what clients read
"""
