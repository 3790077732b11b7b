"""The studio dashboard in a real browser: Debian's chromium, headless, driven by Playwright, against real
`realcam serve` processes with the tiny models (dashboard_server, dashboard_token_server: conftest.py).

A job appears, progresses, finishes and plays; cancel and delete work from the page; a server with a token
shows nothing until it is entered once, then holds a cookie no script can read, which a page of another origin
cannot use. With REALCAM_SCREENSHOTS=FOLDER the tests save the screenshots docs/images holds.
"""

import http.server
import os
import threading
import time

import numpy as np
import pytest
from conftest import DASHBOARD_TOKEN
from helpers import SAMPLES, bundle_zip, free_port, wait_for_job
from PIL import Image

pytestmark = pytest.mark.slow  # a browser and jobs run to the end: tens of seconds
WAIT_MS = 60_000  # a loaded CI machine runs a tiny job in seconds; the page polls every second


def _expect():
    from playwright.sync_api import expect

    return expect


def room_previews(folder):
    """The sample photo as the bundle's previews (their alpha kept), so a screenshot shows a room, not noise."""
    names = sorted(os.listdir(os.path.join(folder, "preview")))
    for name in names:
        path = os.path.join(folder, "preview", name)
        with Image.open(path) as im:
            rgba = np.asarray(im.convert("RGBA")).copy()
        with Image.open(os.path.join(SAMPLES, "room.jpg")) as room:
            rgba[..., :3] = np.asarray(room.convert("RGB").resize(im.size))
        Image.fromarray(rgba).save(path)


def shot_bundle(tmp_path, name, seed, steps=3, **source):
    source = {"app": "Blender 4.5.0", "blend": "studio.blend", "photo": "room.jpg", **source}
    return bundle_zip(
        tmp_path, name, steps=steps, seed=seed, edit=lambda m: m.update(source=source), files=room_previews
    )


@pytest.fixture
def page(chromium):
    """A fresh browser profile and page; the page's script errors (a CSP violation included) fail the test."""
    context = chromium.new_context(viewport={"width": 1500, "height": 900})
    p = context.new_page()
    p.errors = []
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    p.on("console", lambda m: m.type == "error" and p.errors.append(m.text))
    p.urls = []
    p.on("request", lambda r: p.urls.append(r.url))
    yield p
    context.close()


def screenshot(page, name):
    folder = os.environ.get("REALCAM_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, name), full_page=True)


def row(page, job_id):
    return page.locator(f'#jobs tr[data-job="{job_id}"]')


def test_a_job_appears_progresses_finishes_and_plays(dashboard_server, page, tmp_path):
    expect, c = _expect(), dashboard_server.client
    page.goto(dashboard_server.url + "/")
    assert page.url == dashboard_server.url + "/ui"
    expect(page.locator("#live")).to_have_text("live", timeout=WAIT_MS)
    hold = dashboard_server.hold_dir / "hold-401"
    hold.write_text("")
    job = c.submit(shot_bundle(tmp_path, "a", 401, scene="SH010", camera="Shot cam"))
    r = row(page, job["id"])
    expect(r.locator("span.state")).to_have_text("running", timeout=WAIT_MS)
    expect(r.locator("td.progress .sub")).to_have_text("denoise 1/3", timeout=WAIT_MS)
    expect(r.locator("td.shot")).to_have_text("SH010 / Shot cam")
    expect(r.locator("td.photo")).to_have_text("room.jpg")
    expect(r.locator("td.model")).to_have_text("tiny")
    expect(r.locator("td.where")).to_have_text("this server")
    assert r.locator("td.eta").inner_text().endswith(" s")
    preview = r.locator("td.preview img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=preview.element_handle())

    hold.unlink()
    done = wait_for_job(c, job["id"])
    expect(r.locator("span.state")).to_have_text("done", timeout=WAIT_MS)
    latency = time.time() - done["finished_at"]  # the same machine's clock: the page's delay after the server's
    print(f"dashboard: a finished job shown {latency:.2f} s after it finished")
    assert r.locator("td.finished").inner_text() != "" and r.locator("button.cancel").is_hidden()
    take = r.locator("td.take img")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=take.element_handle())

    r.click()
    video = page.locator("#detail video")
    expect(video).to_have_count(1)
    handle = video.element_handle()
    page.wait_for_function("v => v.readyState >= 2", arg=handle, timeout=WAIT_MS)
    assert abs(handle.evaluate("v => v.duration") - 5 / 24) < 0.05  # the take's 5 frames at 24 fps
    handle.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => v.played.length > 0 && v.played.end(0) > 0", arg=handle, timeout=WAIT_MS)
    expect(page.locator("#detail")).to_contain_text("a room")  # the prompt
    screenshot(page, "dashboard-take.png")
    assert page.errors == []


def test_a_bundles_names_are_shown_as_text_never_run(dashboard_server, page, tmp_path):
    expect = _expect()
    page.goto(dashboard_server.url + "/ui")
    bad = '<img src=x id=pwn onerror="window.pwned=1">'
    job = dashboard_server.client.submit(shot_bundle(tmp_path, "x", 402, scene=bad, camera=None, photo=bad))
    expect(row(page, job["id"]).locator("td.shot")).to_have_text(bad, timeout=WAIT_MS)
    expect(row(page, job["id"]).locator("td.photo")).to_have_text(bad)
    assert page.locator("#pwn").count() == 0 and page.evaluate("window.pwned") is None
    wait_for_job(dashboard_server.client, job["id"])
    dashboard_server.client.delete(job["id"])


def test_cancel_and_delete_from_the_page(dashboard_server, page, tmp_path):
    expect, c = _expect(), dashboard_server.client
    for seed in (403, 404):
        (dashboard_server.hold_dir / f"hold-{seed}").write_text("")
    first = c.submit(shot_bundle(tmp_path, "b", 403, scene="SH020", camera="Crane"))
    second = c.submit(shot_bundle(tmp_path, "c", 404, scene="SH030", camera="Dolly in"))
    page.goto(dashboard_server.url + "/ui")
    expect(row(page, first["id"]).locator("span.state")).to_have_text("running", timeout=WAIT_MS)
    expect(row(page, second["id"]).locator("span.state")).to_have_text("queued")
    expect(row(page, second["id"]).locator("td.state .sub")).to_have_text("#1 in line")
    screenshot(page, "dashboard.png")
    row(page, first["id"]).locator("button.cancel").click()
    expect(row(page, first["id"]).locator("span.state")).to_have_text("cancelled", timeout=WAIT_MS)
    assert c.job(first["id"])["state"] == "cancelled"
    expect(row(page, second["id"]).locator("span.state")).to_have_text("running", timeout=WAIT_MS)
    page.once("dialog", lambda d: d.accept())  # "Delete job ...?"
    row(page, second["id"]).locator("button.delete").click()  # running: cancelled on the way
    expect(row(page, second["id"])).to_have_count(0, timeout=WAIT_MS)
    assert second["id"] not in [j["id"] for j in c.jobs()]
    page.once("dialog", lambda d: d.dismiss())  # changed their mind: nothing happens
    row(page, first["id"]).locator("button.delete").click()
    time.sleep(1.5)
    assert row(page, first["id"]).count() == 1 and c.job(first["id"])["state"] == "cancelled"
    assert page.errors == []


class _Foreign(http.server.ThreadingHTTPServer):
    """Another web server on this machine (the same site as the backend, another origin) with a hostile page."""

    def __init__(self, page_html: str):
        html = page_html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *a):
                pass

        self.port = free_port()
        super().__init__(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


ATTACK = """<!doctype html><html><body>
<form id=f method=post action="{api}/v1/jobs/{job}/cancel" enctype="text/plain" target=sink>
<input name='{{"a":"' value='"}}'></form><iframe name=sink></iframe>
<script>
const api = "{api}", job = "{job}"; window.results = {{}};
const note = (k) => [(r) => (results[k] = r.type === "opaque" ? "opaque" : r.status), () => (results[k] = "error")];
fetch(api + "/v1/jobs/" + job + "/cancel", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}}).then(...note("simple post"));
fetch(api + "/v1/jobs/" + job + "/cancel", {{method: "POST", credentials: "include",
  headers: {{"Content-Type": "application/json"}}, body: "{{}}"}}).then(...note("json post"));
fetch(api + "/v1/jobs/" + job, {{method: "DELETE", credentials: "include",
  headers: {{"Content-Type": "application/json"}}}}).then(...note("delete"));
fetch(api + "/ui/api/state", {{credentials: "include"}}).then(...note("read"));
const img = new Image();
img.onload = () => (results.poster = "loaded"); img.onerror = () => (results.poster = "error");
img.src = api + "/ui/api/jobs/" + job + "/poster/preview";
document.getElementById("f").submit(); results.form = "sent";
</script></body></html>"""


def test_a_token_server_asks_once_and_only_its_own_page_can_use_the_login(dashboard_token_server, page, tmp_path):
    expect, s = _expect(), dashboard_token_server
    page.goto(s.url + "/ui")
    expect(page.locator("#login")).to_be_visible(timeout=WAIT_MS)
    assert page.locator("#jobs-section").is_hidden()
    assert page.evaluate("fetch('/ui/api/state').then(r => r.status)") == 401
    screenshot(page, "dashboard-login.png")
    page.fill("#token", "not-the-token-but-long-enough")
    page.click("#login-button")
    expect(page.locator("#login-error")).to_contain_text("wrong token", timeout=WAIT_MS)
    page.fill("#token", DASHBOARD_TOKEN)
    page.click("#login-button")
    expect(page.locator("#jobs-section")).to_be_visible(timeout=WAIT_MS)
    assert page.locator("#login").is_hidden() and page.locator("#logout").is_visible()
    # The login: a cookie no script reads, sent to this origin only; the token in no URL the page asked for.
    assert page.evaluate("document.cookie") == ""
    (cookie,) = page.context.cookies()
    assert cookie["name"] == f"realcam-{s.port}" and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert DASHBOARD_TOKEN not in cookie["value"] and not any(DASHBOARD_TOKEN in u for u in page.urls)
    page.reload()  # asked once: a new page of this server needs no login
    expect(page.locator("#jobs-section")).to_be_visible(timeout=WAIT_MS)
    assert page.locator("#login").is_hidden()

    (s.hold_dir / "hold-501").write_text("")
    job = s.client.submit(shot_bundle(tmp_path, "t", 501, scene="SH040", camera="Orbit"))
    expect(row(page, job["id"]).locator("span.state")).to_have_text("running", timeout=WAIT_MS)
    # A page on another port of this machine: the same site, so the browser has the cookie at hand.
    foreign = _Foreign(ATTACK.format(api=s.url, job=job["id"]))
    try:
        attacker = page.context.new_page()
        attacker.goto(f"http://127.0.0.1:{foreign.port}/")
        attacker.wait_for_function("Object.keys(window.results).length >= 6", timeout=WAIT_MS)
        attacker.wait_for_timeout(1000)  # the form's POST lands in its frame
        results = attacker.evaluate("window.results")
    finally:
        foreign.shutdown()
    assert results["json post"] == results["delete"] == results["read"] == "error", results  # no CORS answer
    assert results["poster"] == "error", results
    assert s.client.job(job["id"])["state"] == "running"  # the simple POST and the form were refused too
    # The dashboard's own page can.
    row(page, job["id"]).locator("button.cancel").click()
    expect(row(page, job["id"]).locator("span.state")).to_have_text("cancelled", timeout=WAIT_MS)
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("fetch('/ui/api/state').then(r => r.status)") == 401
    assert page.errors == [e for e in page.errors if "401" in e], page.errors  # only the refusals logged
