"""Joining the Ray cluster for `realcam serve --cluster`: Ray itself (the optional `cluster` extra), the
namespace a server's actors live in, ray.init, and how a slot actor is placed and kept.

cluster.py and cluster_follow.py take `ray` and its exceptions from here, so that the guard below runs before
Ray is first imported.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid

# Read when ray is imported: without it, a Ray call after a lost connection or after shutdown would
# quietly start a private local cluster on the server's machine.
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")

from ..errors import UserError  # noqa: E402

try:
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError
except ImportError:
    raise UserError(
        "--cluster needs Ray: pip install 'realcam[cluster]' (the same Ray version as the cluster runs)"
    ) from None

from .slot import SLOT_RESOURCE  # noqa: E402

__all__ = ["ActorDiedError", "ActorUnavailableError", "GetTimeoutError", "RayActorError", "ray"]

log = logging.getLogger("realcam.service.cluster")  # the one logger of the cluster dispatcher, as before


def namespace_for(data_dir: str) -> str:
    """One Ray namespace per data folder, kept in it: servers sharing a cluster never touch each other's
    actors, and a restarted server finds its own."""
    path = os.path.join(data_dir, "ray-namespace")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        ns = f"realcam-{uuid.uuid4().hex[:12]}"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(ns)
        return ns


def connect(address: str, namespace: str) -> None:
    """ray.init at ADDRESS in NAMESPACE, keeping this process's signal handlers; a UserError that says what to
    check when the cluster cannot be joined."""
    if os.environ.get("RAY_AUTH_MODE") != "token":
        log.warning("RAY_AUTH_MODE is not 'token': anyone who reaches the cluster's ports can run code on it")
    # ray.init installs its own SIGTERM/SIGINT handlers (sys.exit); keep uvicorn's graceful shutdown.
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for attempt in range(3):
            try:
                ray.init(address=address, namespace=namespace, log_to_driver=False)
                break
            except ConnectionAbortedError:
                # The head reached, but the process it forks for each ray:// client died at birth
                # (seen now and then on a loaded head): ask again.
                if attempt == 2:
                    raise
                ray.shutdown()
                time.sleep(2)
    except Exception as e:
        raise UserError(
            f"cannot join the Ray cluster at {address} ({type(e).__name__}: {str(e).strip()[:300]}). "
            "Start the head first (see docs/cluster.md), check --cluster and that "
            "RAY_AUTH_MODE/RAY_AUTH_TOKEN match the cluster's"
        ) from None
    finally:
        if threading.current_thread() is threading.main_thread():
            for s, handler in saved.items():
                signal.signal(s, handler)
    log.info("joined the Ray cluster at %s, namespace %s", address, namespace)


def actor_options(name: str, namespace: str, resources: dict, device: str | None) -> dict:
    """How Ray places and keeps a slot actor; device: the server's --device (cpu: no GPU asked for)."""
    opts = {
        "name": name,
        "namespace": namespace,
        "get_if_exists": True,
        "lifetime": "detached",  # outlives a crashed server
        "max_restarts": -1,  # Ray brings a dead slot back, on another node if need be
        "max_task_retries": 0,  # the server decides whether a job runs again, not Ray
        "max_concurrency": 8,  # status, cancel and result reads are served while a job runs
        "num_cpus": 0,
    }
    if resources.get("GPU") and (device or "cuda") != "cpu":
        opts["num_gpus"] = 1  # Ray sets CUDA_VISIBLE_DEVICES to the slot's GPU
    if resources.get(SLOT_RESOURCE):
        opts["resources"] = {SLOT_RESOURCE: 1}
    return opts
