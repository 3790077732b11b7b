"""The backend as a local HTTP service: `realcam serve`.

server     FastAPI app: uploads, validation, job endpoints, the depth endpoint
jobstore   jobs on disk, one folder each, recovered after a crash
worker     the thread that runs queued jobs in order through the engine
"""
