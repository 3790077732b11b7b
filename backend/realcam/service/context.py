"""The objects every route shares, built once per app: routes receive them as `svc: ServiceDep`.

They live on app.state.service (create_app puts them there), so two apps in one process share nothing
and a test can reach the store or the worker of the app it runs.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from realcam_core.bundle import Limits

from ..generate.job import RunOptions
from ..runtime import hub_cache
from .config import ServerConfig
from .guard import Guard
from .jobstore import JobStore
from .redact import Redactor
from .transfer import Digests
from .uploads import MAX_CHECKS, UnpackBudget
from .worker import Worker


@dataclass
class Service:
    config: ServerConfig
    store: JobStore
    worker: Worker  # or cluster.ClusterWorker under --cluster, which has the same interface
    redact: Redactor
    guard: Guard
    limits: Limits
    unpack_budget: UnpackBudget
    digests: Digests = field(default_factory=Digests)  # Repr-Digest of the takes' files
    depth_lock: threading.Lock = field(default_factory=threading.Lock)  # one depth estimate at a time
    # Waited on in the event loop, so requests waiting their turn hold no thread of the pool other routes use.
    checks: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CHECKS))
    depth_turn: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    depth_cache: dict = field(default_factory=dict)  # the depth model last used: {"id", "model"}


def build_service(config: ServerConfig) -> Service:
    store = JobStore(config.data_dir)
    redact = Redactor(
        {**config.model_folders, **config.depth_model_folders}, os.path.abspath(config.data_dir), hub_cache()
    )
    run_options = RunOptions(
        device=config.device,
        offload=config.offload,
        vae_tiling=config.vae_tiling,
        dtype=config.dtype,
        window_frames=config.window_frames,
    )
    if config.cluster:
        from .cluster import ClusterWorker  # imports Ray: only for --cluster

        worker = ClusterWorker(store, run_options, config.model_folders, config.cluster, redact)
    else:
        worker = Worker(store, run_options, config.model_folders, redact)
    limits = Limits(
        max_frames=config.max_frames, max_pixels=config.max_pixels, max_side=max(4096, int(config.max_pixels**0.5) * 4)
    )
    return Service(
        config=config,
        store=store,
        worker=worker,
        redact=redact,
        guard=Guard(config.host, config.allow_hosts, config.token, config.port),
        limits=limits,
        # Two bundles of the largest allowed size may unpack at once; more wait their turn.
        unpack_budget=UnpackBudget(2 * limits.max_unpacked_bytes),
    )


async def service(request: Request) -> Service:
    """The app's shared objects (async: no thread is taken to hand them over)."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(service)]
