"""The backend as a local HTTP service: `realcam serve`.

server     FastAPI app: uploads, validation, job endpoints, the depth endpoint
jobstore   jobs on disk, one folder each, recovered after a crash
worker     the thread that runs queued jobs in order through the engine
cluster    `serve --cluster`: the same queue's jobs run on a Ray cluster instead (imports Ray)
slot       the Ray actor of one GPU slot: a loaded pipeline, one job at a time
"""
