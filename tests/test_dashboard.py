"""The studio dashboard over HTTP: its page and files, what it shows of jobs, and its login, which must leave the
service's security whole (no token in a URL, an HttpOnly SameSite=Strict session cookie, no change from a foreign
page). The same in a real browser: test_dashboard_browser.py.

Real `realcam serve` processes on loopback (dashboard_server, dashboard_token_server: conftest.py); the session
and guard rules also on their own, with a clock the test moves.
"""

import io
import json
import re
from importlib import resources

import pytest
from conftest import DASHBOARD_TOKEN
from helpers import JSON_TYPE, assert_json_4xx, bundle_zip, http_call, wait_for_job
from PIL import Image

from realcam.service.dashboard.sessions import IDLE_S, MAX_AGE_S, MAX_SESSIONS, LoginLimiter, Sessions
from realcam.service.dashboard.views import TEXT_MAX, text
from realcam.service.guard import Guard, is_open
from realcam.service.routes.dashboard import STATIC

# -- the rules on their own -------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_sessions_end_when_idle_when_old_at_logout_and_when_too_many():
    clock = Clock()
    s = Sessions("realcam-1", clock=clock)
    a = s.create()
    assert s.valid(a) and not s.valid(a + "x") and not s.valid("")
    clock.now += IDLE_S - 1
    assert s.valid(a)  # used: its idle time starts again
    clock.now += IDLE_S + 1
    assert not s.valid(a)  # idle too long
    b = s.create()
    for _ in range(int(MAX_AGE_S / (IDLE_S / 2)) + 1):
        clock.now += IDLE_S / 2
        s.valid(b)
    assert not s.valid(b)  # used all along, but older than the cookie's Max-Age
    c = s.create()
    s.revoke(c)
    assert not s.valid(c)
    first = s.create()
    others = [s.create() for _ in range(MAX_SESSIONS)]
    assert not s.valid(first) and all(s.valid(o) for o in others[-3:])
    assert s.from_cookies(f"other=1; realcam-1={others[-1]}") == others[-1]
    assert s.from_cookies(f"realcam-2={others[-1]}") is None  # another port's server's cookie
    assert s.from_cookies(f'realcam-1="{others[-1]}"') == others[-1]


def test_a_session_cookie_is_httponly_samesite_strict_and_secure_over_https():
    s = Sessions("realcam-8765")
    cookie = s.set_cookie("ID", secure=False)
    assert cookie == f"realcam-8765=ID; Path=/; Max-Age={MAX_AGE_S}; HttpOnly; SameSite=Strict"
    assert s.set_cookie("ID", secure=True).startswith("__Host-realcam-8765=ID; Path=/;")
    assert s.set_cookie("ID", secure=True).endswith("; Secure")
    assert all("Max-Age=0" in c for c in s.clear_cookies(secure=True))


def test_wrong_tokens_are_limited_per_client_and_in_all():
    clock = Clock()
    lim = LoginLimiter(clock=clock)
    for _ in range(LoginLimiter.PER_CLIENT):
        assert lim.wait_s("a") == 0
        lim.failed("a")
    assert lim.wait_s("a") == pytest.approx(LoginLimiter.WINDOW_S)
    assert lim.wait_s("b") == 0  # another client is not held up by a's guesses
    clock.now += LoginLimiter.WINDOW_S
    assert lim.wait_s("a") == 0
    for i in range(LoginLimiter.TOTAL):  # one guess each from many addresses (X-Forwarded-For is anyone's)
        lim.failed(f"c{i}")
    assert lim.wait_s("fresh") > 0


def test_guard_takes_a_session_cookie_only_from_this_servers_own_page():
    g = Guard("127.0.0.1", (), "t" * 20, port=9000)
    session = g.sessions.create()
    host = {"host": "127.0.0.1:9000"}
    mine = {**host, "cookie": f"realcam-9000={session}", "sec-fetch-site": "same-origin"}
    own = {"origin": "http://127.0.0.1:9000", "content-type": JSON_TYPE}
    assert g.refusal("GET", "/v1/jobs", mine) is None
    assert g.refusal("POST", "/v1/jobs/x/cancel", {**mine, **own}) is None
    assert g.refusal("GET", "/v1/jobs", {**mine, "sec-fetch-site": "none"}) is None  # the address typed in
    assert g.refusal("GET", "/v1/jobs", {**host, "cookie": f"realcam-9000={session}"}) is None  # curl with it
    refused = {
        "no cookie": ("GET", {**host}),
        "another server's cookie": ("GET", {**host, "cookie": f"realcam-9001={session}"}),
        "a page on another port": ("GET", {**mine, "sec-fetch-site": "same-site"}),
        "a page elsewhere": ("GET", {**mine, "sec-fetch-site": "cross-site"}),
        "a change without an Origin": ("POST", {**mine, "content-type": JSON_TYPE}),
        "a change from another port": ("POST", {**mine, **own, "origin": "http://127.0.0.1:9001"}),
        "a simple type": ("POST", {**mine, **own, "content-type": "text/plain"}),
        "DNS rebinding": ("GET", {**mine, "host": "evil.example:9000"}),
    }
    for why, (method, headers) in refused.items():
        assert g.refusal(method, "/v1/jobs/x/cancel", headers) is not None, why
    assert g.refusal("GET", "/v1/jobs", {**host, "authorization": "Bearer " + "t" * 20}) is None


def test_only_the_page_its_files_health_and_login_are_open():
    for path in ("/", "/ui", "/ui/login", "/ui/logout", "/v1/health", *(f"/ui/static/{n}" for n in STATIC)):
        assert is_open(path), path
    for path in (
        "/ui/api/state",
        "/ui/api/jobs/x/poster/take",
        "/ui/static/../../v1/jobs",
        "/ui/static/..%2f..%2fv1%2fjobs",
        "/ui/static/a/b.js",
        "/ui/static/",
        "/v1/jobs",
        "/ui/",
        "/UI",
        "/v1/health/",
    ):
        assert not is_open(path), path


def test_a_bundles_text_reaches_the_page_as_plain_bounded_text():
    assert text("Shot 010\n\x1b[31m\u202e") == "Shot 010  [31m "  # control and direction characters: spaces
    long = text("x" * 10_000)
    assert len(long) == TEXT_MAX and long.endswith("\u2026")
    assert text(None) is None and text(12) == "12"


def test_the_page_makes_no_request_elsewhere_and_ships_in_the_package():
    folder = resources.files("realcam.service.dashboard").joinpath("static")
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(STATIC), names
    html = folder.joinpath("index.html").read_text()
    for name in STATIC:
        if name != "index.html":
            assert f"/ui/static/{name}" in html
    for name in STATIC:
        body = folder.joinpath(name).read_text()
        # No address of another host: no CDN, font or script from elsewhere (an SVG's namespace is a name).
        assert not re.search(
            r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", body.replace('xmlns="http://www.w3.org/2000/svg"', "")
        ), name
        assert "innerHTML" not in body and "eval(" not in body and "document.write" not in body, name
        assert "<script>" not in body and " style=" not in body and " on" + "click=" not in body, name  # CSP


# -- a real server ----------------------------------------------------------------------------------------------


def get(server, path, **headers):
    return http_call(server.port, "GET", path, headers=headers)


def test_the_page_is_served_with_a_policy_that_allows_only_its_own_files(dashboard_server):
    status, _, resp = get(dashboard_server, "/")
    assert status == 307 and resp.getheader("Location") == "/ui"
    status, _, resp = get(dashboard_server, "/ui")
    assert status == 200 and resp.getheader("Content-Type").startswith("text/html")
    csp = resp.getheader("Content-Security-Policy")
    for rule in ("default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"):
        assert rule in csp, csp
    assert resp.getheader("X-Frame-Options") == "DENY" and resp.getheader("X-Content-Type-Options") == "nosniff"
    for name, ctype in STATIC.items():
        status, _, resp = get(dashboard_server, f"/ui/static/{name}")
        assert status == 200 and resp.getheader("Content-Type") == ctype, name
    for path in ("/ui/static/nope.js", "/ui/static/..%2fguard.py", "/ui/static/../../v1/jobs"):
        status, data, _ = get(dashboard_server, path)
        assert status == 404, (path, status, data)


def _source(tmp_path, name, seed, **source):
    return bundle_zip(tmp_path, name, steps=3, seed=seed, edit=lambda m: m.update(source=source))


def test_the_state_shows_each_job_with_its_shot_progress_and_posters(dashboard_server, tmp_path):
    c, port = dashboard_server.client, dashboard_server.port
    hold = dashboard_server.hold_dir / "hold-201"
    hold.write_text("")
    hostile = "<img src=x onerror=alert(1)>" + "\x07" + "y" * 2000
    job = c.submit(
        _source(
            tmp_path,
            "s",
            201,
            app="Blender 4.5",
            scene="SH010",
            camera="Cam",
            blend="a.blend",
            photo="room.jpg",
            photo_size=[832, 480],
            note=hostile,
        )
    )
    wait_for_job(c, job["id"], ("running",), cond=lambda j: (j["progress"].get("step") or 0) >= 1)
    status, body, resp = get(dashboard_server, "/ui/api/state")
    assert status == 200 and body["login"] == {"token_required": False, "session": False}
    mine = next(j for j in body["jobs"] if j["id"] == job["id"])
    assert mine["state"] == "running" and mine["stage"] == "denoise" and mine["step"] >= 1 and mine["total"] == 3
    assert mine["eta_s"] is not None and mine["model"] == "tiny" and mine["frames"] == 5
    assert mine["source"] == {
        "app": "Blender 4.5",
        "scene": "SH010",
        "camera": "Cam",
        "blend": "a.blend",
        "photo": "room.jpg",
    }  # no note: only the fields the page shows are read
    assert mine["has_preview"] and not mine["has_take"] and mine["created_at"] and mine["finished_at"] is None
    srv = body["server"]
    assert srv["running"] >= 1 and srv["device"]["device"] == "cpu" and srv["slots"] is None and not srv["cluster"]
    # The ETag: an unchanged state is a 304 with no body.
    etag = resp.getheader("ETag")
    status, _, _ = get(dashboard_server, "/ui/api/state", **{"If-None-Match": etag})
    assert status in (200, 304)  # 200 only if the job moved on meanwhile
    # Posters: the preview's middle frame now, the take once there is one.
    status, _, resp = http_call(port, "GET", f"/ui/api/jobs/{job['id']}/poster/preview")
    assert status == 200 and resp.getheader("Content-Type") == "image/jpeg"
    assert resp.getheader("Cross-Origin-Resource-Policy") == "same-origin"  # kept, still this origin's only
    status, data, _ = get(dashboard_server, f"/ui/api/jobs/{job['id']}/poster/take")
    assert_json_4xx(status, data, 409)
    hold.unlink()
    assert wait_for_job(c, job["id"])["state"] == "done"
    status, body, _ = get(dashboard_server, "/ui/api/state")
    assert next(j for j in body["jobs"] if j["id"] == job["id"])["has_take"]
    raw = _raw(port, f"/ui/api/jobs/{job['id']}/poster/take")
    with Image.open(io.BytesIO(raw)) as im:
        assert im.format == "JPEG" and im.size == (64, 64)
    for what in ("video", "result", "frames"):  # the take the page plays, and its files: this origin's only
        status, _, resp = http_call(port, "GET", f"/v1/jobs/{job['id']}/{what}")
        assert status == 200 and resp.getheader("Cross-Origin-Resource-Policy") == "same-origin", (what, status)
    for path in (
        f"/ui/api/jobs/{job['id']}/poster/video",
        "/ui/api/jobs/nope/poster/take",
        "/ui/api/jobs/../poster/take",
    ):
        status, data, _ = get(dashboard_server, path)
        assert status == 404, (path, status, data)
    # A shot name made to be HTML stays a bounded string with no control characters.
    bad = c.submit(_source(tmp_path, "bad", 202, scene=hostile, camera=None))
    status, body, _ = get(dashboard_server, "/ui/api/state")
    scene = next(j for j in body["jobs"] if j["id"] == bad["id"])["source"]["scene"]
    assert scene.startswith("<img src=x onerror=alert(1)> y") and len(scene) == 500 and "\x07" not in scene
    wait_for_job(c, bad["id"])
    c.delete(bad["id"])


def _raw(port, path, headers=None):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200, (resp.status, body[:300])
    return body


# -- with a token -----------------------------------------------------------------------------------------------


def login(server, token, **headers):
    body = json.dumps({"token": token}).encode()
    return http_call(server.port, "POST", "/ui/login", body, JSON_TYPE, headers=headers)


def test_with_a_token_the_page_opens_but_nothing_of_the_servers_without_it(dashboard_token_server):
    s = dashboard_token_server
    assert get(s, "/ui")[0] == 200 and get(s, "/ui/static/dashboard.js")[0] == 200
    for path in (
        "/ui/api/state",
        "/v1/jobs",
        "/ui/api/jobs/0123/poster/take",
        f"/ui/api/state?token={DASHBOARD_TOKEN}",
        f"/v1/jobs?access_token={DASHBOARD_TOKEN}",
    ):
        status, data, _ = get(s, path)
        assert_json_4xx(status, data, 401)  # a token in a URL is never taken
    status, body, _ = get(s, "/ui/api/state", Authorization=f"Bearer {DASHBOARD_TOKEN}")
    assert status == 200 and body["login"] == {"token_required": True, "session": False}


def test_a_login_holds_a_cookie_that_stands_in_for_the_token_only_on_this_servers_page(
    dashboard_token_server, tmp_path
):
    s, port = dashboard_token_server, dashboard_token_server.port
    own = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
    # Refused: a wrong token; a login from another page, or in a type a form can send.
    status, data, resp = login(s, "wrong-token-of-some-length")
    assert_json_4xx(status, data, 401)
    assert resp.getheader("Set-Cookie") is None
    status, data, _ = login(s, DASHBOARD_TOKEN, Origin="http://localhost:3000")
    assert_json_4xx(status, data, 403)
    status, data, _ = http_call(
        port, "POST", "/ui/login", f"token={DASHBOARD_TOKEN}".encode(), "application/x-www-form-urlencoded"
    )
    assert_json_4xx(status, data, 415)
    status, _, resp = login(s, DASHBOARD_TOKEN, **own)
    assert status == 204
    set_cookie = resp.getheader("Set-Cookie")
    name, value = set_cookie.split(";")[0].split("=", 1)
    assert name == f"realcam-{port}" and DASHBOARD_TOKEN not in set_cookie and len(value) >= 40
    flags = {f.strip() for f in set_cookie.split(";")[1:]}
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= flags and any(f.startswith("Max-Age=") for f in flags)
    cookie = {"Cookie": f"{name}={value}"}

    status, body, _ = get(s, "/ui/api/state", **cookie, **{"Sec-Fetch-Site": "same-origin"})
    assert status == 200 and body["login"] == {"token_required": True, "session": True}
    s.hold_dir.joinpath("hold-301").write_text("")
    job = s.client.submit(bundle_zip(tmp_path, "c", steps=3, seed=301))
    wait_for_job(s.client, job["id"], ("running",))
    cancel = f"/v1/jobs/{job['id']}/cancel"
    # What a foreign page could try with the cookie in hand: all refused, the job untouched.
    for why, headers, ctype in (
        ("no Origin", {**cookie}, JSON_TYPE),
        ("a page on another port", {**cookie, "Origin": "http://127.0.0.1:1"}, JSON_TYPE),
        ("a same-site label", {**cookie, **own, "Sec-Fetch-Site": "same-site"}, JSON_TYPE),
        ("a form's type", {**cookie, **own}, "text/plain"),
        ("DNS rebinding", {**cookie, **own, "Host": f"evil.example:{port}"}, JSON_TYPE),
    ):
        status, data, _ = http_call(port, "POST", cancel, b"{}", ctype, headers)
        assert status in (403, 415), (why, status, data)
    status, data, _ = get(s, f"/ui/api/jobs/{job['id']}/poster/preview", **cookie, **{"Sec-Fetch-Site": "same-site"})
    assert_json_4xx(status, data, 403)  # an <img> on another port's page: no poster
    assert s.client.job(job["id"])["state"] == "running"
    # From the page itself: the cancel goes through.
    status, data, _ = http_call(port, "POST", cancel, b"{}", JSON_TYPE, {**cookie, **own})
    assert status == 200 and data["id"] == job["id"]
    assert wait_for_job(s.client, job["id"])["state"] == "cancelled"
    status, _, _ = http_call(port, "DELETE", f"/v1/jobs/{job['id']}", b"", JSON_TYPE, {**cookie, **own})
    assert status == 204
    # Logging out ends the session on the server, not only in the browser.
    status, _, resp = http_call(port, "POST", "/ui/logout", b"{}", JSON_TYPE, {**cookie, **own})
    assert status == 204 and "Max-Age=0" in resp.getheader("Set-Cookie")
    status, data, _ = get(s, "/ui/api/state", **cookie)
    assert_json_4xx(status, data, 401)


def test_guessing_the_token_is_slowed_down(dashboard_token_server):
    s = dashboard_token_server
    # One client behind a local proxy (uvicorn takes X-Forwarded-For from loopback), so the logins of 127.0.0.1
    # itself stay free for the other tests.
    guesser = {"X-Forwarded-For": "203.0.113.7"}
    statuses = [login(s, f"guess-number-{i:04d}-xxxxxxxx", **guesser)[0] for i in range(LoginLimiter.PER_CLIENT + 1)]
    assert statuses == [401] * (LoginLimiter.PER_CLIENT - 1) + [429, 429], statuses
    status, data, _ = login(s, DASHBOARD_TOKEN, **guesser)  # the right token too, or the limit would not stop guessing
    assert_json_4xx(status, data, 429)
    assert 0 < data["retry_after_s"] <= LoginLimiter.WINDOW_S and "try again in" in data["error"]
    assert login(s, DASHBOARD_TOKEN)[0] == 204  # another client logs in
    assert get(s, "/ui/api/state", Authorization=f"Bearer {DASHBOARD_TOKEN}")[0] == 200  # programs are not held up
