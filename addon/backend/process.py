"""The embedded backend: started on demand when nothing answers locally, stopped when Blender quits.

Everything here may block, so it only ever runs in a task's Background step.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import threading
import time
import urllib.parse

from ..realcam_core.client import BackendError, BackendUnreachable, Client
from .command_line import split_command

_lock = threading.Lock()
_process: subprocess.Popen | None = None
_log_path: str | None = None
START_TIMEOUT = 180.0


def is_local(url: str) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def ensure(url: str, token: str | None, auto_start: bool, command: str, log_dir: str) -> dict:
    """Health of a compatible backend at url, starting the configured one if allowed and needed."""
    client = Client(url, token)
    try:
        return client.check_compatible()
    except BackendUnreachable:
        if not (auto_start and is_local(url)):
            raise
    _start(url, command, log_dir)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _process is not None and _process.poll() is not None:
            raise BackendError(
                0, f"the backend started with `{command}` exited with code {_process.returncode}; see {_log_path}"
            )
        try:
            return client.check_compatible()
        except BackendUnreachable:
            time.sleep(0.25)
    raise BackendError(
        0, f"the backend started with `{command}` did not answer within {START_TIMEOUT:.0f} s; see {_log_path}"
    )


def _start(url: str, command: str, log_dir: str) -> None:
    global _process, _log_path
    with _lock:
        if _process is not None and _process.poll() is None:
            return  # ours is already starting
        parts = urllib.parse.urlparse(url)
        argv = split_command(command) + ["--host", parts.hostname or "127.0.0.1", "--port", str(parts.port or 80)]
        os.makedirs(log_dir, exist_ok=True)
        _log_path = os.path.join(log_dir, "backend.log")
        log = open(_log_path, "ab")
        try:
            _process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as e:
            raise BackendError(
                0,
                f"cannot start the backend with `{command}` ({e}): click Set up backend in the add-on preferences "
                "(or set the start command there)",
            ) from None
        finally:
            log.close()


def stop() -> None:
    global _process
    with _lock:
        if _process is not None and _process.poll() is None:
            _process.terminate()
            try:
                _process.wait(10)
            except subprocess.TimeoutExpired:
                _process.kill()
        _process = None


def started_here() -> bool:
    return _process is not None and _process.poll() is None


atexit.register(stop)
