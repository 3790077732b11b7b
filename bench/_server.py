"""Shared by the benchmarks: a real `realcam serve` process with a small model, on a free loopback port."""

import contextlib
import os
import socket
import subprocess
import sys
import time

from realcam_core.client import BackendError, Client


@contextlib.contextmanager
def tiny_server(data_dir: str, model_folder: str, *extra: str, env: dict | None = None, log=None, preexec_fn=None):
    """Yields a Client of a running backend that offers model_folder as "tiny"; stops it afterwards.
    extra: more `realcam serve` arguments; env: more environment variables; log: a file for the server's output
    (else it is dropped); preexec_fn: run in the server's process before it starts (a lower open-file limit)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realcam",
            "serve",
            "--port",
            str(port),
            "--data",
            data_dir,
            "--model-dir",
            f"tiny={model_folder}",
            *extra,
        ],
        stdout=open(log, "ab") if log else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )
    client = Client(f"http://127.0.0.1:{port}")
    client.pid = proc.pid  # the server process, for benchmarks that read its memory
    try:
        deadline = time.time() + 120
        while True:
            try:
                client.health()
                break
            except BackendError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield client
    finally:
        proc.terminate()
        proc.wait(20)


__all__ = ["tiny_server"]
