"""What three of issue 26's attacks cost the backend: a DELETE storm, stalled sockets, a log flood.

    python bench/service_attacks.py

Each attack runs against a fresh `realcam serve` (tiny random-weight model) on loopback and prints what an
artist's client would notice and what the server's machine pays:

    deletes   45 DELETEs at once of a job held in a step no cancel interrupts (as a model's decode is), while
              health is asked 20 times: health's slowest answer, the slowest DELETE, the answers
    stalled   a server limited to 256 open files; 768 connections each send half a request head, then nothing:
              the server's open files, health's slowest answer (of 5, 10 s each at most), the log's growth
    log       100 health requests with 60 KB query strings, without the token: the log's growth

Run it with PYTHONPATH pointing at another tree's backend/ and addon/ (tests/pace_stages first) to compare.
"""

import os
import resource
import socket
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, HERE)

from _server import tiny_server  # noqa: E402
from helpers import bundle_zip, http_call  # noqa: E402

from realcam.testing.tiny_wan import build_wan22_ti2v  # noqa: E402
from realcam_core import api  # noqa: E402

PACE = os.path.join(HERE, "..", "tests", "pace_stages")
DELETES, HEALTHS, FILES, STALLED = 45, 20, 256, 768


def timed(port, method, path, timeout, **kw):
    """(status or the exception's name, seconds)."""
    t = time.perf_counter()
    try:
        status = http_call(port, method, path, timeout=timeout, **kw)[0]
    except OSError as e:
        status = type(e).__name__
    return status, time.perf_counter() - t


def port_of(client) -> int:
    return int(client.base.rsplit(":", 1)[1])


def deletes(tmp, model):
    hold = os.path.join(tmp, "hold")
    os.makedirs(hold)
    open(os.path.join(hold, "hold-1"), "w").close()
    env = {
        "PYTHONPATH": os.pathsep.join([PACE, os.environ.get("PYTHONPATH", "")]),
        "REALCAM_TEST_HOLD_DIR": hold,
        "REALCAM_TEST_HOLD_UNCANCELLABLE": "1",
    }
    with tiny_server(os.path.join(tmp, "data-deletes"), model, env=env) as client:
        port = port_of(client)
        job = client.submit(bundle_zip(tmp, "held", steps=3, seed=1))
        while (client.job(job["id"])["progress"].get("step") or 0) < 1:
            time.sleep(0.05)
        answers, health = [], []
        go = threading.Barrier(DELETES + 1)

        def delete():
            go.wait()
            answers.append(timed(port, "DELETE", api.job_path(job["id"]), 120, ctype="application/json"))

        threads = [threading.Thread(target=delete) for _ in range(DELETES)]
        for t in threads:
            t.start()
        go.wait()
        for _ in range(HEALTHS):
            health.append(timed(port, "GET", "/v1/health", 120))
        for t in threads:
            t.join(180)
        os.unlink(os.path.join(hold, "hold-1"))
        codes = sorted({str(a[0]) for a in answers})
        print(
            f"deletes   {DELETES} DELETEs, {HEALTHS} health calls: health at most {max(h[1] for h in health):6.2f} s, "
            f"slowest DELETE {max(a[1] for a in answers):6.2f} s, DELETE answers {codes}"
        )


def _low_file_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILES, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def stalled(tmp, model):
    log = os.path.join(tmp, "stalled.log")
    with tiny_server(os.path.join(tmp, "data-stalled"), model, log=log, preexec_fn=_low_file_limit) as client:
        port, pid = port_of(client), client.pid
        logged = os.path.getsize(log)
        socks = []
        for _ in range(STALLED):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                socks.append(sock)
            except OSError:
                pass
        time.sleep(1)
        files = len(os.listdir(f"/proc/{pid}/fd"))
        health = [timed(port, "GET", "/v1/health", 10) for _ in range(5)]
        time.sleep(2)
        grown = os.path.getsize(log) - logged
        for sock in socks:
            sock.close()
        ok = sum(1 for h in health if h[0] == 200)
        print(
            f"stalled   {len(socks)} stalled heads, {FILES}-file limit: {files} files open, health answered "
            f"{ok}/5, slowest {max(h[1] for h in health):5.2f} s, log +{grown} bytes"
        )


def log_flood(tmp, model):
    log = os.path.join(tmp, "flood.log")
    with tiny_server(os.path.join(tmp, "data-flood"), model, log=log) as client:
        port = port_of(client)
        logged = os.path.getsize(log)
        codes = {str(timed(port, "GET", "/v1/health?" + "q" * 60_000, 30)[0]) for _ in range(100)}
        time.sleep(1)
        grown = os.path.getsize(log) - logged
        print(f"log       100 health calls with 60 KB queries: log +{grown} bytes, answers {sorted(codes)}")


def main():
    tmp = tempfile.mkdtemp(prefix="realcam-bench-")
    model = build_wan22_ti2v(os.path.join(tmp, "tiny-wan"))
    deletes(tmp, model)
    stalled(tmp, model)
    log_flood(tmp, model)


if __name__ == "__main__":
    main()
