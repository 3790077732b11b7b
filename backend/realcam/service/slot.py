"""One GPU slot of a Ray cluster: a Ray actor that keeps a pipeline loaded and runs one job at a time.

Used by `realcam serve --cluster` (see cluster.py, which wraps this class with `ray.remote`; this module
itself never imports Ray at import time, so the actor class stays a plain class). It runs in a Ray worker
process on whichever node Ray placed it, so realcam must be installed there.

The actor is driven by polling on purpose: `start` returns at once, the server long-polls `status`, and
fetches a finished take file by file in chunks. Nothing depends on the server staying alive: a restarted
server finds the (named, detached) actor again and picks up what it reports.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid

from realcam_core.api import PROGRESS_FIELDS

from . import transfer

log = logging.getLogger(__name__)

SLOT_RESOURCE = "realcam_slot"  # a custom Ray resource that marks slots; without it every GPU is one


class Slot:
    def __init__(self, name: str, namespace: str, config: dict):
        self.name = name
        self.config = config  # device, offload, vae_tiling, dtype: the server's RunOptions; hf_hub_offline
        if config.get("hf_hub_offline"):
            _hub_offline(config["hf_hub_offline"])  # `serve --offline` (or the server's HF_HUB_OFFLINE) holds here too
        # A new id per process: the server tells a restarted actor (whose jobs died with the old process)
        # from the one it gave the job to.
        self.incarnation = uuid.uuid4().hex
        # One folder per slot and server: a restarted actor clears what its dead process left.
        self.root = os.path.join(tempfile.gettempdir(), f"realcam-{namespace}-{name}")
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        self._changed = threading.Condition()
        self._version = 0  # bumped at every change; status() waits on it
        self._jobs: dict[str, dict] = {}
        self._current: str | None = None
        self._model: str | None = None  # the model the engine holds, as the server named it
        self._engine = None
        self._threads = _set_torch_threads()
        self._node_id, self._node_ip = _node()
        self._device = _device(config.get("device"))

    # -- queries (served while a job runs: the actor is threaded) ----------------------------
    def status(self, known_version: int = -1, wait: float = 0.0) -> dict:
        """This slot's state; waits up to `wait` seconds for a change when nothing changed since
        `known_version`, so the server hears of progress and finished jobs at once without busy polling."""
        with self._changed:
            if wait > 0 and known_version == self._version:
                self._changed.wait(wait)
            return {
                "version": self._version,
                "incarnation": self.incarnation,
                "node_id": self._node_id,
                "node_ip": self._node_ip,
                "pid": os.getpid(),
                "threads": self._threads,
                "device": self._device,
                "model": self._model,
                "current": self._current,
                "jobs": {
                    job_id: {k: rec[k] for k in ("state", "progress", "error", "attempt")}
                    for job_id, rec in self._jobs.items()
                },
            }

    def take_files(self, job_id: str) -> list[dict]:
        """The finished take's files: name (relative, '/'-separated), size, sha256."""
        rec = self._jobs[job_id]
        if rec["state"] != "done":
            raise RuntimeError(f"job {job_id} is {rec['state']}, not done")
        return rec["files"]

    def read(self, job_id: str, name: str, offset: int, size: int = transfer.CHUNK) -> bytes:
        rec = self._jobs[job_id]
        return transfer.read_chunk(os.path.join(self.root, job_id, "take"), rec.get("files", ()), name, offset, size)

    # -- commands --------------------------------------------------------------------------
    def start(self, job_id: str, bundle_zip: bytes, options: dict, attempt: int) -> bool:
        """Start a job in a thread; False when another job runs here."""
        with self._changed:
            old = self._jobs.get(job_id)
            if old is not None and old["state"] == "running":  # the same start again (a retried call)
                return old["attempt"] == attempt
            if self._current is not None:
                return False
            if old is not None:  # an earlier attempt's leftovers: this one starts clean
                shutil.rmtree(os.path.join(self.root, job_id), ignore_errors=True)
            cancel = threading.Event()
            self._jobs[job_id] = {
                "state": "running",
                "progress": {"stage": "starting"},
                "error": None,
                "attempt": attempt,
                "cancel": cancel,
            }
            self._current = job_id
            self._bump()
        holder = [bundle_zip]  # the job thread drops it once unpacked (a bundle may be large)
        del bundle_zip
        threading.Thread(
            target=self._run, args=(job_id, holder, options, cancel), name=f"job-{job_id[:8]}", daemon=True
        ).start()
        return True

    def cancel(self, job_id: str) -> bool:
        rec = self._jobs.get(job_id)
        if rec is None or rec["state"] != "running":
            return False
        rec["cancel"].set()  # the engine checks it at every denoising step
        return True

    def forget(self, job_id: str) -> None:
        """Drop a job's files (the server has its result, or no longer wants it); a running job is cancelled
        and forgotten once it stops."""
        with self._changed:
            rec = self._jobs.get(job_id)
            if rec is None:
                return
            if rec["state"] == "running":
                rec["cancel"].set()
                rec["forget"] = True
                return
            del self._jobs[job_id]
            self._bump()
        shutil.rmtree(os.path.join(self.root, job_id), ignore_errors=True)

    def close(self) -> None:
        """Before the server kills this actor: stop the running job and remove every file."""
        for rec in list(self._jobs.values()):
            rec["cancel"].set()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- the job thread --------------------------------------------------------------------
    def _bump(self) -> None:
        self._version += 1
        self._changed.notify_all()

    def _set(self, job_id: str, **fields) -> None:
        with self._changed:
            self._jobs[job_id].update(fields)
            self._bump()

    def _run(self, job_id: str, holder: list, options: dict, cancel: threading.Event) -> None:
        from ..generate.engine import Engine
        from ..generate.job import RunOptions
        from .outcome import run_job

        folder = os.path.join(self.root, job_id)

        def on_event(e):
            self._set(job_id, progress={k: e.get(k) for k in PROGRESS_FIELDS if k in e})

        def run() -> dict:
            transfer.unpack(holder.pop(), os.path.join(folder, "bundle"))
            if self._engine is None:
                self._engine = Engine()
            run_options = RunOptions(
                model=options["model"],
                allow_local_models=options["allow_local_models"],
                device=self.config.get("device"),
                offload=self.config.get("offload", "auto"),
                vae_tiling=self.config.get("vae_tiling", False),
                dtype=self.config.get("dtype"),
                window_frames=self.config.get("window_frames"),
                work_dir=os.path.join(folder, "windows"),
            )
            self._engine.run(
                os.path.join(folder, "bundle"), os.path.join(folder, "take"), run_options, on_event, cancel
            )
            # Done here, not yet for the server: it fetches the take next.
            return {"files": transfer.describe(os.path.join(folder, "take")), "progress": {"stage": "transfer"}}

        outcome = {}
        try:
            # This node's job folder means nothing to the artist: messages say "the job".
            outcome = run_job(job_id, run, lambda text: text.replace(folder, "the job"))
        finally:
            shutil.rmtree(os.path.join(folder, "bundle"), ignore_errors=True)
            loaded = self._engine.loaded_model() if self._engine is not None else None
            with self._changed:
                self._model = options["name"] if loaded else None
                self._current = None
                rec = self._jobs[job_id]
                rec.update(outcome, finished_at=time.time())
                forget = rec.get("forget")
                self._bump()
            if forget:
                self.forget(job_id)


def _set_torch_threads() -> int:
    """Ray starts workers with OMP_NUM_THREADS=1. Give each slot its share of the node's CPUs (as the node
    declared them to Ray) for the work that stays on the CPU: VAE on CPU, PNG and MP4 writing, CPU runs."""
    import torch

    threads = 1
    try:
        import ray

        if not ray.is_initialized():  # outside Ray (a test): asking would start a private local cluster
            raise LookupError
        me = ray.get_runtime_context().get_node_id()
        node = next(n for n in ray.nodes() if n["NodeID"] == me)
        res = node["Resources"]
        slots = res.get(SLOT_RESOURCE) or res.get("GPU") or 1
        threads = max(1, int(res.get("CPU", 1) // slots))
    except Exception:  # outside Ray: one thread
        pass
    torch.set_num_threads(threads)
    return threads


def _node() -> tuple[str | None, str | None]:
    try:
        import ray

        if ray.is_initialized():  # outside Ray, get_runtime_context() would start a private local cluster
            return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address()
    except Exception:
        pass
    return None, None


def _hub_offline(value: str) -> None:
    """Never download weights in this process. huggingface_hub reads HF_HUB_OFFLINE once, when imported: set
    the variable for an import still to come and the constant for one already made."""
    import sys

    os.environ["HF_HUB_OFFLINE"] = value
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = value.strip().lower() in ("1", "on", "yes", "true")


def _device(requested: str | None) -> dict | None:
    """What this slot generates on (its GPU's name and memory), for the server's /v1/health."""
    try:
        from ..runtime import device_info

        return device_info(requested)
    except Exception:  # informative only: never keep the slot from starting
        return None
