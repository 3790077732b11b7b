"""The HTTP connections themselves: how long a request's head may take, how many connections stay open, and a
log that no client can flood. The app (routes, guard) sees none of this; `serve` hands it to uvicorn.

uvicorn closes a connection that idles between requests (timeout_keep_alive) but has no limit on the time a
client takes to send its request line and headers, nor on how many connections it holds open, so clients
that open sockets and never finish a head kept them forever: at the open-file limit health and submit
timed out and the accept loop logged a traceback per try. Here, on uvicorn's own h11 protocol:

    head time     a connection whose head is not complete HEAD_TIMEOUT seconds after it began (the
                  connection, or its first byte after a keep-alive pause) gets 408 and is closed
    head size     at most MAX_HEAD_BYTES of request line and headers (h11's own limit), else 431
    connections   at most max_connections(): when one more arrives, the connection that has waited longest
                  without a request in progress is closed (a stalled head goes before any working request);
                  when every one is working, the newcomer gets 503. The cap and the accept backlog leave
                  room, below the process's open-file limit, for the files the server itself opens
    log           uvicorn's and asyncio's lines are cut at MAX_LOG_CHARS (a request's path at
                  MAX_LOGGED_PATH), and their repeated lines (refused requests, malformed heads, accept
                  errors) are let through BURST times a WINDOW, then counted and summed up in the next
                  line of their kind
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time

import h11
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from realcam_core import api

HEAD_TIMEOUT = 10.0  # seconds a request's line and headers may take (realcam serve --header-timeout)
MAX_HEAD_BYTES = api.MAX_HEAD_BYTES  # request line and headers; h11's default, stated
RESERVED_FDS = 64  # open files the server keeps for itself: logs, job states, a take being written, ffmpeg
MAX_CONNECTIONS = 1024
MAX_BACKLOG = 128
MAX_LOG_CHARS = 400  # a log line's message; a request's path and query in it at most MAX_LOGGED_PATH
MAX_LOGGED_PATH = 200
BURST, WINDOW = 10, 60.0  # lines of one kind (a refusal status, a warning) per window

log = logging.getLogger(__name__)


def connection_limits(open_files: int) -> tuple[int, int]:
    """(connections, accept backlog) for a process that may open open_files files. An upload holds its
    connection and a temporary file, so connections take at most half of what is left after RESERVED_FDS;
    the backlog (sockets accepted at once, before the cap acts) at most a quarter."""
    room = max(open_files - RESERVED_FDS, 32)
    return max(8, min(MAX_CONNECTIONS, room // 2)), max(8, min(MAX_BACKLOG, room // 4))


def open_file_limit() -> int:
    try:
        import resource
    except ImportError:  # Windows: no such limit per process
        return 8192
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def _raw_answer(transport, status: int, reason: str, message: str) -> None:
    """An error in the API's shape, written as is (no request may have been read), then the connection closed."""
    body = json.dumps({"error": message, "problems": []}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    transport.write(head.encode("ascii") + body)
    transport.close()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a time limit on request heads and a cap on open connections."""

    max_connections = MAX_CONNECTIONS
    head_timeout = HEAD_TIMEOUT

    def connection_made(self, transport) -> None:
        self._head_timer = None
        self._waiting_since = time.monotonic()
        super().connection_made(transport)
        self._arm()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # a head begun (or still coming): its time runs
            if self._head_timer is None and not self.transport.is_closing():
                self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        self._waiting_since = time.monotonic()  # idle again: the keep-alive timer runs, then the head timer
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        if len(self.conn.trailing_data[0]) > MAX_HEAD_BYTES:
            _raw_answer(
                self.transport,
                431,
                "Request Header Fields Too Large",
                f"the request's line and headers are longer than {MAX_HEAD_BYTES} bytes: no request of this API is",
            )
        else:
            _raw_answer(self.transport, 400, "Bad Request", "the request's line or headers are not valid HTTP/1.1")

    # -- the head timer ---------------------------------------------------------------------------
    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:  # part of a head came: say why it ends
            _raw_answer(
                self.transport,
                408,
                "Request Timeout",
                f"the request's line and headers did not arrive within {self.head_timeout:g} s",
            )
        else:
            self.transport.close()

    # -- the cap ------------------------------------------------------------------------------------
    def _idle(self) -> bool:
        """Not working on a request: waiting for (or receiving) a head, or between requests."""
        return (
            self.conn.their_state is h11.IDLE
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        )

    def _make_room(self) -> None:
        idle = [c for c in self.connections if c is not self and isinstance(c, GuardedH11Protocol) and c._idle()]
        if idle:
            oldest = min(idle, key=lambda c: c._waiting_since)
            oldest._disarm()
            oldest.transport.close()
            return
        _raw_answer(
            self.transport,
            503,
            "Service Unavailable",
            f"the server has {self.max_connections} connections open, each working on a request: try again soon",
        )


def protocol_class(max_connections: int, head_timeout: float) -> type:
    """GuardedH11Protocol with these limits (uvicorn takes a class)."""
    return type(
        "RealcamH11Protocol",
        (GuardedH11Protocol,),
        {"max_connections": max_connections, "head_timeout": head_timeout},
    )


class LogGuard(logging.Filter):
    """Cuts long lines, and lets repeated lines of uvicorn and asyncio through BURST times a WINDOW."""

    def __init__(self, name: str = ""):
        super().__init__(name)
        self._lock = threading.Lock()
        self._seen: dict = {}  # kind -> [window start, lines let through, lines held back]

    def filter(self, record: logging.LogRecord) -> bool:
        kind = self._kind(record)
        if kind is not None:
            now = time.monotonic()
            with self._lock:
                seen = self._seen.setdefault(kind, [now, 0, 0])
                held = 0
                if now - seen[0] > WINDOW:
                    held = seen[2]
                    seen[:] = [now, 0, 0]
                if seen[1] >= BURST:
                    seen[2] += 1
                    return False
                seen[1] += 1
        _cut(record)
        if kind is not None and held:
            note = f" (and {held} more like this in the last minute, not logged)"
            if record.name == "uvicorn.access":
                record.args = (*record.args[:2], record.args[2] + note, *record.args[3:])
            else:
                record.msg, record.args = record.getMessage() + note, ()
        return True

    @staticmethod
    def _kind(record: logging.LogRecord):
        if record.name == "uvicorn.access":
            status = record.args[4] if isinstance(record.args, tuple) and len(record.args) == 5 else None
            return ("refused", status) if isinstance(status, int) and status >= 400 else None
        if record.levelno >= logging.WARNING and (record.name.startswith("uvicorn") or record.name == "asyncio"):
            return (record.name, str(record.msg)[:100])
        return None


def _cut(record: logging.LogRecord) -> None:
    if record.name.startswith("realcam"):
        return  # the server's own lines (a failed job's traceback) are kept whole; they quote no request
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, version, status = record.args
        if len(path) > MAX_LOGGED_PATH:
            path = f"{path[:MAX_LOGGED_PATH]}... ({len(path)} characters)"
        record.args = (str(client)[:80], str(method)[:16], path, str(version)[:8], status)
        return
    message = record.getMessage()
    if len(message) > MAX_LOG_CHARS:
        record.msg, record.args = f"{message[:MAX_LOG_CHARS]}... ({len(message)} characters)", ()


def log_config() -> dict:
    """uvicorn's logging, with LogGuard on its handlers, and the realcam and asyncio loggers on them too
    (their warnings are the server's log as much as uvicorn's)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"guard": {"()": LogGuard}}
    for handler in config["handlers"].values():
        handler["filters"] = ["guard"]
    config["loggers"]["realcam"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["asyncio"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return config
