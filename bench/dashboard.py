"""The studio dashboard: its page weight, the size and cost of its state answer, and how soon the page shows a
change, on a real server process with a small model and Debian's chromium (headless, Playwright).

    python bench/dashboard.py [--jobs 20]

Page weight: the bytes of the page's files as served (no compression). State: /ui/api/state with --jobs
finished jobs, its size and the time to answer it (and an unchanged one, a 304). Update latency: the page
records, with the machine's clock, when each job's row first shows "queued" and "done"; against when the
client's submit returned and the server's finished_at (the same clock), for --jobs jobs. The page polls once a
second, so about half a second is expected, a second at most, plus the drawing.
"""

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _server import tiny_server  # noqa: E402
from helpers import make_bundle  # noqa: E402

from realcam.testing.tiny_wan import build_wan22_ti2v  # noqa: E402
from realcam_core.bundle import pack_bundle  # noqa: E402

# Run in the page: when each job's state cell first shows each state, in the machine's clock (ms since 1970).
WATCH = """() => {
  window.seen = {};
  const note = () => {
    const t = performance.timeOrigin + performance.now();
    for (const tr of document.querySelectorAll('#jobs tr[data-job]')) {
      const state = tr.querySelector('span.state');
      if (!state) continue;
      const key = tr.dataset.job + ' ' + state.textContent;
      if (!(key in window.seen)) window.seen[key] = t;
    }
  };
  const all = {subtree: true, childList: true, characterData: true};
  new MutationObserver(note).observe(document.getElementById('jobs'), all);
}"""


def ms(values):
    return f"median {statistics.median(values) * 1000:6.0f} ms, max {max(values) * 1000:6.0f} ms"


def get(base: str, path: str, headers=None):
    host, port = base.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def page_weight(base: str) -> str:
    from realcam.service.routes.dashboard import STATIC

    sizes = {name: len(get(base, "/ui" if name == "index.html" else f"/ui/static/{name}")[1]) for name in STATIC}
    parts = ", ".join(f"{n} {s / 1024:.1f}" for n, s in sizes.items())
    return (
        f"page weight: {sum(sizes.values()) / 1024:.1f} KiB in {len(sizes)} files ({parts} KiB), nothing from elsewhere"
    )


def state_cost(base: str, jobs: int) -> str:
    times, etag, size = [], None, 0
    for _ in range(50):
        t = time.perf_counter()
        resp, body = get(base, "/ui/api/state")
        times.append(time.perf_counter() - t)
        etag, size = resp.getheader("ETag"), len(body)
    unchanged = []
    for _ in range(50):
        t = time.perf_counter()
        resp, _ = get(base, "/ui/api/state", {"If-None-Match": etag})
        unchanged.append(time.perf_counter() - t)
        assert resp.status == 304
    med = statistics.median
    return (
        f"state answer with {jobs} jobs: {size / 1024:.1f} KiB, {med(times) * 1000:.1f} ms; "
        f"unchanged (304): {med(unchanged) * 1000:.1f} ms"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20)
    args = ap.parse_args()
    chromium = shutil.which("chromium")
    tmp = tempfile.mkdtemp(prefix="realcam-bench-")
    model = build_wan22_ti2v(os.path.join(tmp, "tiny-wan"))
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(tiny_server(os.path.join(tmp, "data"), model))
        base = client.base
        print(page_weight(base))
        page = None
        if chromium:
            from playwright.sync_api import sync_playwright

            pw = stack.enter_context(sync_playwright())
            browser = pw.chromium.launch(executable_path=chromium, headless=True)
            stack.callback(browser.close)
            page = browser.new_page()
            page.goto(base + "/ui")
            page.wait_for_selector("#jobs-section:not([hidden])")
            page.evaluate(WATCH)
        submitted = {}
        for i in range(args.jobs):
            folder = os.path.join(tmp, f"b{i}")
            make_bundle(folder, n=5, w=64, h=64, model="tiny", seed=i)
            path = os.path.join(folder, "manifest.json")
            data = json.load(open(path))
            data["settings"]["steps"] = 2
            json.dump(data, open(path, "w"))
            archive = pack_bundle(folder, folder + ".zip")
            job = client.submit(archive)
            submitted[job["id"]] = time.time()
            while client.job(job["id"])["state"] not in ("done", "failed", "cancelled"):
                time.sleep(0.05)
            time.sleep(1.2)  # the page's next poll has come: each job's rows are seen apart
        if page is None:
            print("update latency: not measured (no chromium: apt-get install chromium)")
        else:
            seen = page.evaluate("window.seen")
            appear, done = [], []
            for job_id, t in submitted.items():
                job = client.job(job_id)
                first = min(v for k, v in seen.items() if k.startswith(job_id + " ")) / 1000
                appear.append(first - t)
                done.append(seen[f"{job_id} done"] / 1000 - job["finished_at"])
            print(f"update latency over {args.jobs} jobs (the page polls every 1 s):")
            print(f"  submitted -> row in the page:       {ms(appear)}")
            print(f"  finished on the server -> 'done':   {ms(done)}")
        print(state_cost(base, args.jobs))


if __name__ == "__main__":
    main()
