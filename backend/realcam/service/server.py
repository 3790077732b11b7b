"""`realcam serve`: the backend over HTTP (FastAPI on uvicorn). The API is defined in realcam_core.api.

Security: binds to 127.0.0.1 by default; any other address needs a token of at
least 16 characters (config.py), checked in constant time. Before any route runs,
the Host must name this server, an Origin must be its own, and a change must carry
its content type (guard.py), so a web page the user visits cannot drive it. Uploads
are raw bodies counted as they stream, with an idle and an overall time limit,
so the size limit holds before anything is stored and a stalled client frees
its socket and temporary file. An archive is judged from its central directory
before one byte is unpacked, and the server unpacks a bounded amount at once
(uploads.py). Job ids are server-made and checked before they touch the disk;
model names from clients are resolved against known models, Hugging Face ids and
the folders configured here, never as paths. No absolute path of this machine
reaches a client (redact.py, responses.py).

create_app assembles the app: the shared objects (context.py) on app.state, the
guard as middleware ahead of routing, the error handlers, and the routers
(routes/: health, depth, jobs, tracks, and the dashboard's page; a new one is one more entry in
ROUTERS). serve runs it on uvicorn with a time limit on request heads, a cap on open connections and a
log no client can flood (connections.py).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from .config import ServerConfig, check_bind
from .connections import MAX_HEAD_BYTES, connection_limits, log_config, open_file_limit, protocol_class
from .context import build_service
from .guard import GuardMiddleware
from .responses import install_handlers
from .routes import dashboard, depth, health, jobs, tracks

__all__ = ["ROUTERS", "ServerConfig", "check_bind", "create_app", "serve"]

ROUTERS = (health.router, depth.router, jobs.router, tracks.router, dashboard.router)


@asynccontextmanager
async def _lifespan(app: FastAPI):
    worker = app.state.service.worker
    worker.start()
    yield
    worker.stop()


def create_app(config: ServerConfig) -> FastAPI:
    service = build_service(config)
    app = FastAPI(
        title="RealCam backend",
        version=__version__,
        lifespan=_lifespan,
        description="Photo to camera-controlled video. Contract: realcam_core/api.py and bundle.py.",
    )
    app.state.service = service
    app.state.store = service.store
    app.state.worker = service.worker
    app.add_middleware(GuardMiddleware, guard=service.guard, redact=service.redact)
    install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app


def serve(config: ServerConfig) -> None:
    import uvicorn

    check_bind(config)
    app = create_app(config)
    connections, backlog = connection_limits(open_file_limit())
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        http=protocol_class(connections, config.header_timeout),
        ws="none",
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        backlog=backlog,
        timeout_keep_alive=5,
        log_config=log_config(),
        log_level="info",
        timeout_graceful_shutdown=5,
    )
