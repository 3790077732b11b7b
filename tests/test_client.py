"""The add-on's HTTP client (addon/realcam_core/client.py) against broken and hostile answers: real sockets on
loopback playing a backend that cuts, trickles, redirects, lies about lengths or sends JSON Python cannot take.

Cut, retried and digest-failing downloads, answers that are not the API, a trickling server, redirects; answers
that cannot prove a download whole; JSON that escaped as RecursionError or passed with NaN; one deadline for a
whole call, its tries again included; and the content types the client sends, as the contract names them.
"""

import base64
import hashlib
import os
import socket
import threading
import time

import pytest
from helpers import BUNDLE_TYPE, JSON_TYPE

from realcam_core.client import BackendError, Client


class FakeBackend:
    """A loopback socket server answering each request with respond(sock, index, request_head)."""

    def __init__(self, respond):
        self.respond = respond
        self.requests = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        with conn:
            conn.settimeout(10)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                index = len(self.requests)
                self.requests.append(head.decode("latin-1"))
                self.respond(conn, index, head.decode("latin-1"), self._stop)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def fake():
    servers = []

    def make(respond):
        servers.append(FakeBackend(respond))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def answer(status, body, ctype="application/json", extra=""):
    reason = {200: "OK", 302: "Found", 404: "Not Found", 500: "Internal Server Error"}[status]
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}"
        "Connection: close\r\n\r\n"
    ).encode() + body


PAYLOAD = os.urandom(200_000)
PAYLOAD_DIGEST = "sha-256=:" + base64.b64encode(hashlib.sha256(PAYLOAD).digest()).decode() + ":"
JOB = "0123456789abcdef0123456789abcdef"


def test_a_cut_download_is_never_saved(fake, tmp_path):
    def cut(conn, i, head, stop):
        conn.sendall(answer(200, PAYLOAD, "video/mp4", f"Repr-Digest: {PAYLOAD_DIGEST}\r\n")[:60_000])

    f = fake(cut)
    dest = tmp_path / "out" / "take.mp4"
    dest.parent.mkdir()
    with pytest.raises(BackendError) as e:
        Client(f.url, timeout=5).download(JOB, "video", str(dest))
    assert "cut" in str(e.value) or "incomplete" in str(e.value)
    assert os.listdir(dest.parent) == []  # no take.mp4, no .part
    assert len(f.requests) >= 2  # it was tried again first


def test_a_download_cut_once_is_retried_whole(fake, tmp_path):
    def cut_first(conn, i, head, stop):
        full = answer(200, PAYLOAD, "video/mp4", f"Repr-Digest: {PAYLOAD_DIGEST}\r\n")
        conn.sendall(full[:60_000] if i == 0 else full)

    f = fake(cut_first)
    dest = tmp_path / "take.mp4"
    Client(f.url, timeout=5).download(JOB, "video", str(dest))
    assert dest.read_bytes() == PAYLOAD and len(f.requests) == 2
    assert sorted(os.listdir(tmp_path)) == ["take.mp4"]


def test_a_download_that_fails_its_digest_is_refused(fake, tmp_path):
    def wrong(conn, i, head, stop):
        conn.sendall(answer(200, PAYLOAD[::-1], "video/mp4", f"Repr-Digest: {PAYLOAD_DIGEST}\r\n"))

    f = fake(wrong)
    with pytest.raises(BackendError) as e:
        Client(f.url, timeout=5).download(JOB, "video", str(tmp_path / "take.mp4"))
    assert "digest" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_answers_that_are_not_the_api_raise_backend_error(fake):
    bodies = {
        "/v1/health": (200, b"[1, 2]", "application/json"),
        "/v1/jobs": (200, b'{"jobs": 5}', "application/json"),
        f"/v1/jobs/{JOB}": (200, b"<html>a captive portal</html>", "text/html"),
        f"/v1/jobs/{JOB}/cancel": (500, b"<html>oops</html>", "text/html"),
        "/v1/models": (200, b'{"video": [1], "depth": "x"}', "application/json"),
    }

    def respond(conn, i, head, stop):
        path = head.split(" ")[1]
        status, body, ctype = bodies[path]
        conn.sendall(answer(status, body, ctype))

    c = Client(fake(respond).url, timeout=5)
    for call_ in (c.health, c.jobs, lambda: c.job(JOB), lambda: c.cancel(JOB), c.models):
        with pytest.raises(BackendError):
            call_()


def test_a_trickling_server_cannot_hang_a_call(fake):
    def trickle(conn, i, head, stop):
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"a" * 10_000:
            if stop.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(0.1)

    c = Client(fake(trickle).url, timeout=0.3)
    outcome = []

    def run():
        t = time.monotonic()
        try:
            c.health()
            outcome.append(("returned", time.monotonic() - t))
        except Exception as e:  # noqa: BLE001 - the type is what is checked
            outcome.append((e, time.monotonic() - t))

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(15)
    assert outcome, "the call still hangs after 15 s"
    error, took = outcome[0]
    assert isinstance(error, BackendError), error
    assert took < 10, took


def test_a_redirect_is_not_followed_and_the_token_stays_home(fake, tmp_path):
    def elsewhere(conn, i, head, stop):
        conn.sendall(answer(200, b'{"status": "ok"}'))

    other = fake(elsewhere)

    def redirect(conn, i, head, stop):
        conn.sendall(answer(302, b"", extra=f"Location: {other.url}{head.split(' ')[1]}\r\n"))

    f = fake(redirect)
    c = Client(f.url, token="a-token-long-enough-1234", timeout=5)
    for call_ in (c.health, c.jobs, lambda: c.download(JOB, "video", str(tmp_path / "v.mp4"))):
        with pytest.raises(BackendError) as e:
            call_()
        assert "redirect" in str(e.value)
    assert other.requests == []
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ only a provably whole file


def raw(head: str, body: bytes = b"") -> bytes:
    return head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


CUT = PAYLOAD[:60_000]
UNPROVABLE = {
    "no length and no digest, cut": (
        raw("HTTP/1.1 200 OK\nContent-Type: video/mp4\nConnection: close", CUT),
        "neither its length nor its SHA-256",
    ),
    "206 partial content": (
        raw(
            "HTTP/1.1 206 Partial Content\nContent-Type: video/mp4\nContent-Length: 60000\n"
            f"Content-Range: bytes 0-59999/{len(PAYLOAD)}\nConnection: close",
            CUT,
        ),
        "HTTP 206",
    ),
    "204 no content": (raw("HTTP/1.1 204 No Content\nConnection: close"), "HTTP 204"),
    "a non-numeric length": (
        raw("HTTP/1.1 200 OK\nContent-Type: video/mp4\nContent-Length: lots\nConnection: close", CUT),
        "malformed Content-Length (lots)",
    ),
    "a doubled length": (
        raw(
            f"HTTP/1.1 200 OK\nContent-Type: video/mp4\nContent-Length: 60000\nContent-Length: {len(PAYLOAD)}\n"
            "Connection: close",
            CUT,
        ),
        "malformed Content-Length (60000, 200000)",
    ),
}


@pytest.mark.parametrize("case", UNPROVABLE)
def test_a_download_that_cannot_prove_itself_whole_is_never_saved(case, fake, tmp_path):
    data, says = UNPROVABLE[case]
    f = fake(lambda conn, i, head, stop: conn.sendall(data))
    dest = tmp_path / "out" / "take.mp4"
    dest.parent.mkdir()
    with pytest.raises(BackendError) as e:
        Client(f.url, timeout=5).download(JOB, "video", str(dest))
    assert says in str(e.value) and "nothing was saved" in str(e.value), str(e.value)
    assert os.listdir(dest.parent) == []  # no take.mp4, no .part


@pytest.mark.parametrize(
    "head",
    [
        f"HTTP/1.1 200 OK\nContent-Type: video/mp4\nContent-Length: {len(PAYLOAD)}\nConnection: close",
        f"HTTP/1.1 200 OK\nContent-Type: video/mp4\nRepr-Digest: {PAYLOAD_DIGEST}\nConnection: close",
    ],
    ids=["length only", "digest only"],
)
def test_a_length_or_a_digest_is_proof_enough(head, fake, tmp_path):
    f = fake(lambda conn, i, h, stop: conn.sendall(raw(head, PAYLOAD)))
    Client(f.url, timeout=5).download(JOB, "video", str(tmp_path / "take.mp4"))
    assert (tmp_path / "take.mp4").read_bytes() == PAYLOAD and os.listdir(tmp_path) == ["take.mp4"]


# ------------------------------------------------------------------ JSON and the deadline

DEEP = b"[" * 200_000 + b"]" * 200_000


@pytest.mark.parametrize(
    "status, body",
    [
        (200, DEEP),
        (500, b'{"error": ' + DEEP + b"}"),
        (200, b'{"id": "' + JOB.encode() + b'", "state": "running", "progress": {"eta_s": NaN}}'),
        (200, b'{"id": "' + JOB.encode() + b'", "state": "running", "progress": {"step": Infinity}}'),
        (200, b'{"id": "' + JOB.encode() + b'", "state": "done", "progress": {}, "finished_at": -Infinity}'),
    ],
    ids=["200k deep", "200k deep error", "NaN", "Infinity", "-Infinity"],
)
def test_json_python_cannot_take_is_a_backend_error(status, body, fake):
    c = Client(fake(lambda conn, i, head, stop: conn.sendall(answer(status, body))).url, timeout=5)
    with pytest.raises(BackendError) as e:
        c.job(JOB)
    assert e.value.status == status
    if status == 200:
        assert "not JSON" in e.value.message, e.value.message


def _slowly(conn, data, seconds, stop):
    """Send data over about `seconds`, then stop (the caller closes: a cut)."""
    step = max(1, len(data) // 20)
    for i in range(0, len(data), step):
        if stop.is_set():
            return
        conn.sendall(data[i : i + step])
        time.sleep(seconds / 20)


def _timed(call):
    t = time.monotonic()
    try:
        call()
    except BackendError as e:
        return e, time.monotonic() - t
    return None, time.monotonic() - t


def test_one_deadline_covers_a_download_and_its_tries_again(fake, tmp_path):
    # Each try sends part of the file over 1.5 s, then the connection is cut: three tries took 4.5 s on a
    # 2 s deadline when each try had a deadline of its own.
    full = answer(200, PAYLOAD, "video/mp4", f"Repr-Digest: {PAYLOAD_DIGEST}\r\n")
    f = fake(lambda conn, i, head, stop: _slowly(conn, full[: len(full) // 2], 1.5, stop))
    error, took = _timed(
        lambda: Client(f.url, timeout=5, deadline=2, retries=2).download(JOB, "video", str(tmp_path / "v.mp4"))
    )
    assert error is not None and "did not answer within 2 s" in str(error), error
    assert took < 3.5, took  # the deadline and a thread switch; each try its own deadline took 4.5 s
    assert len(f.requests) == 2 and os.listdir(tmp_path) == []  # tried again within the deadline, then stopped


def test_one_deadline_covers_a_submit_its_health_check_and_upload(fake, tmp_path):
    def slow(conn, i, head, stop):
        time.sleep(1.2)
        if head.startswith("GET /v1/health"):
            conn.sendall(answer(200, b'{"status": "ok", "limits": {"max_upload_bytes": 1000000}}'))
        else:
            conn.sendall(answer(200, b'{"id": "' + JOB.encode() + b'", "state": "queued", "progress": {}}'))

    archive = tmp_path / "job.zip"
    archive.write_bytes(b"PK" + os.urandom(100))
    c = Client(fake(slow).url, timeout=5, deadline=2)
    error, took = _timed(lambda: c.submit(str(archive)))
    assert error is not None and "did not answer within 2 s" in str(error), error
    assert took < 3.5, took  # with a deadline per request both went through, in 2.4 s
    job = Client(c.base, timeout=5, deadline=4).submit(str(archive))  # with time for both, it goes through
    assert job["id"] == JOB


def test_the_add_on_client_sends_the_contract_types():
    from realcam_core import api

    assert api.BUNDLE_CONTENT_TYPE == BUNDLE_TYPE
    assert api.CONTROL_CONTENT_TYPE == JSON_TYPE
    for simple in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        assert simple not in api.DEPTH_CONTENT_TYPES
