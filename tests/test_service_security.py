"""Who may drive the server: no web page (DNS rebinding, cross-origin requests, the types a browser sends
without asking), only the host names and the token it was given, no bind beyond loopback without a long
token, and nothing in an answer that names a folder of the server's.

Real `realcam serve` processes on loopback (limited_server, strict_server: conftest.py), curl where it is
installed.
"""

import http.client
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from helpers import (
    BUNDLE_TYPE,
    JSON_TYPE,
    assert_json_4xx,
    bundle_zip,
    free_port,
    http_call,
    http_post,
    read_bytes,
    save_rgb,
    wait_for_job,
)

from realcam_core.client import BackendError


def test_a_web_page_cannot_drive_the_server(limited_server, tmp_path):
    port, c = limited_server.port, limited_server.client
    body = read_bytes(bundle_zip(tmp_path, "web", seed=11))
    # Types a browser sends without a CORS preflight (and none at all) are refused.
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        status, data = http_post(port, "/v1/jobs", body, ctype)
        assert_json_4xx(status, data, 415)
        assert BUNDLE_TYPE in data["error"]
    job = c.submit(bundle_zip(tmp_path, "web", seed=11))
    assert job["state"] in ("queued", "running", "done")
    # DNS rebinding: the request reaches us, but names the attacker's host.
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", f"localhost.evil.example:{port}"):
        for method, path, ctype in (
            ("GET", "/v1/jobs", None),
            ("GET", "/v1/health", None),
            ("DELETE", f"/v1/jobs/{job['id']}", JSON_TYPE),
            ("POST", "/v1/jobs", BUNDLE_TYPE),
        ):
            status, data, _ = http_call(port, method, path, body if method == "POST" else b"", ctype, {"Host": host})
            assert_json_4xx(status, data, 403)
            assert "--allow-host" in data["error"]
    # Cross-origin requests, on every endpoint, including the opaque origin `null`.
    for origin in ("http://evil.example", "null", "http://localhost:3000", f"http://127.0.0.1:{port}.evil.example"):
        for method, path, b, ctype in (
            ("GET", "/v1/jobs", b"", None),
            ("GET", "/v1/health", b"", None),
            ("POST", "/v1/jobs", body, BUNDLE_TYPE),
            ("POST", f"/v1/jobs/{job['id']}/cancel", b"", JSON_TYPE),
            ("DELETE", f"/v1/jobs/{job['id']}", b"", JSON_TYPE),
            ("OPTIONS", "/v1/jobs", b"", None),
        ):
            status, data, resp = http_call(port, method, path, b, ctype, {"Origin": origin})
            assert_json_4xx(status, data, 403)
            assert resp.getheader("Access-Control-Allow-Origin") is None
    # Bodiless state changes need a non-simple type too.
    status, data = http_post(port, f"/v1/jobs/{job['id']}/cancel", b"", "text/plain")
    assert_json_4xx(status, data, 415)
    status, data, _ = http_call(port, "DELETE", f"/v1/jobs/{job['id']}", ctype="text/plain")
    assert_json_4xx(status, data, 415)
    assert c.job(job["id"])["id"] == job["id"]  # untouched by all of the above
    # Legitimate: loopback names with or without a port, and the server's own pages (same origin).
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost", "LOCALHOST"):
        status, data, _ = http_call(port, "GET", "/v1/jobs", headers={"Host": host})
        assert status == 200 and "jobs" in data, (host, status, data)
    status, data, _ = http_call(port, "GET", "/v1/jobs", headers={"Origin": f"http://127.0.0.1:{port}"})
    assert status == 200
    # curl as docs/service.md shows it.
    if shutil.which("curl"):
        zip2 = bundle_zip(tmp_path, "curl", seed=12)
        out = subprocess.run(
            [
                "curl",
                "-sS",
                "-H",
                f"Content-Type: {BUNDLE_TYPE}",
                "--data-binary",
                f"@{zip2}",
                f"{limited_server.url}/v1/jobs",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        made = json.loads(out.stdout)
        assert made["state"] in ("queued", "running", "done"), out.stdout
        out = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", "-H", f"Content-Type: {JSON_TYPE}"]
            + [f"{limited_server.url}/v1/jobs/{made['id']}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.stdout == "204", out


def test_allowed_hosts_and_a_case_insensitive_bearer(strict_server):
    s = strict_server
    token = "a-token-long-enough-1234"
    for host in ("realcam.test", f"realcam.test:{s.port}", "GPU-BOX.studio.lan:80", f"127.0.0.1:{s.port}"):
        status, data, _ = http_call(
            s.port, "GET", "/v1/jobs", headers={"Host": host, "Authorization": f"Bearer {token}"}
        )
        assert status == 200, (host, status, data)
    status, data, _ = http_call(s.port, "GET", "/v1/jobs", headers={"Host": "other.test"})
    assert_json_4xx(status, data, 403)
    for scheme in ("bearer", "BEARER", "Bearer"):
        status, data, _ = http_call(s.port, "GET", "/v1/jobs", headers={"Authorization": f"{scheme} {token}"})
        assert status == 200, (scheme, data)
    status, data, _ = http_call(s.port, "GET", "/v1/jobs", headers={"Authorization": f"Basic {token}"})
    assert_json_4xx(status, data, 401)


def test_errors_and_headers_name_no_server_paths(limited_server, tiny_models, tmp_path):
    roots = [
        os.path.dirname(tiny_models["depth-anything"]),
        limited_server.log.name[: -len(".log")],
        os.path.expanduser("~"),
    ]

    def assert_no_paths(text):
        assert not [r for r in roots if r in text], text

    photo = save_rgb(tmp_path / "p.jpg", w=96, h=64)
    conn = http.client.HTTPConnection("127.0.0.1", limited_server.port, timeout=60)
    conn.request("POST", "/v1/depth?model=tiny-depth&size=64x48", read_bytes(photo), {"Content-Type": "image/jpeg"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200
    meta = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("intrinsics.json"))
    assert_no_paths(json.dumps(dict(resp.getheaders())))
    assert_no_paths(json.dumps(meta))
    assert meta["depth_source"] == "tiny-depth"
    # A job on a configured folder: its result, the health listing and a failure name the model, not its folder.
    c = limited_server.client
    job = c.submit(bundle_zip(tmp_path, "named", seed=51, steps=1))
    assert wait_for_job(c, job["id"])["state"] == "done"
    c.download(job["id"], "result", str(tmp_path / "result.json"))
    assert_no_paths((tmp_path / "result.json").read_text())
    assert_no_paths(json.dumps(c.health()))
    try:
        failed = wait_for_job(c, c.submit(bundle_zip(tmp_path, "broken", seed=52, steps=1, model="broken"))["id"])
        message = failed["error"]
    except BackendError as e:
        message = str(e) + " ".join(e.problems)
    assert "broken" in message
    assert_no_paths(message)


@pytest.mark.slow
def test_a_non_loopback_bind_needs_a_long_token(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "realcam", "serve", "--host", "0.0.0.0", "--port", str(port), "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REALCAM_TOKEN": "short-token"},
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("the server started with an 11-character token on 0.0.0.0") from None
    assert proc.returncode == 2 and "16" in err and "token" in err, err
