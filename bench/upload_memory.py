"""Peak memory of the backend under small uploads that cost much to read (issue 26, item 5).

    python bench/upload_memory.py

Each attack runs against a fresh `realcam serve` (tiny random-weight model) and prints the server
process's peak resident memory (VmHWM) before and after it, with what the server answered:

    prompt        one bundle whose manifest holds a 7.5 MiB prompt (a ~100 KB upload), run to its end
    lists x5      five such uploads at once of an 8 MB manifest of 2.7 M empty lists (~94 KB each)
    lists-fit x5  five at once of the largest manifest of empty lists the server's limits let through

Run it with PYTHONPATH pointing at another tree's backend/ and addon/ to compare.
"""

import json
import os
import sys
import tempfile
import threading
import time
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _server import tiny_server  # noqa: E402
from helpers import make_bundle  # noqa: E402

from realcam.testing.tiny_wan import build_wan22_ti2v  # noqa: E402
from realcam_core.client import BackendError  # noqa: E402


def peak_mib(pid):
    with open(f"/proc/{pid}/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM")).split()[1]) / 1024


def archive(tmp, name, manifest_text):
    folder = os.path.join(tmp, name)
    make_bundle(folder, n=5, w=64, h=64, model="tiny")
    if manifest_text is not None:
        with open(os.path.join(folder, "manifest.json"), "w") as fh:
            fh.write(manifest_text)
    path = folder + ".zip"
    with zipfile.ZipFile(path, "w") as zf:
        for d, _, files in os.walk(folder):
            for f in files:
                full = os.path.join(d, f)
                kind = zipfile.ZIP_DEFLATED if f.endswith(".json") else zipfile.ZIP_STORED
                zf.write(full, os.path.relpath(full, folder), compress_type=kind)
    return path


def submit_all(client, paths):
    answers = []

    def one(p):
        try:
            answers.append(client.submit(p)["state"])
        except BackendError as e:
            answers.append(f"{e.status}: {e.message[:90]}")

    threads = [threading.Thread(target=one, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def main():
    tmp = tempfile.mkdtemp(prefix="realcam-bench-")
    model = build_wan22_ti2v(os.path.join(tmp, "tiny-wan"))
    make_bundle(os.path.join(tmp, "base"), n=5, w=64, h=64, model="tiny")
    with open(os.path.join(tmp, "base", "manifest.json")) as fh:
        base = json.load(fh)
    prompt = json.dumps({**base, "settings": {**base["settings"], "steps": 1, "prompt": "a quiet room " * 605_000}})
    lists = "[" + ",".join(["[]"] * 2_700_000) + "]"
    fit = "[" + ",".join(["[]"] * ((2**20 + 2048 * 241) // 3 - 1)) + "]"  # the default limits' manifest size
    attacks = [
        ("prompt", [archive(tmp, "prompt", prompt)]),
        ("lists x5", [archive(tmp, f"lists{i}", lists) for i in range(5)]),
        ("lists-fit x5", [archive(tmp, f"fit{i}", fit) for i in range(5)]),
    ]
    for name, paths in attacks:
        with tiny_server(os.path.join(tmp, f"data-{name}"), model) as client:
            client.timeout = 600
            before = peak_mib(client.pid)
            t = time.perf_counter()
            answers = submit_all(client, paths)
            for job in client.jobs():  # a job that was accepted runs to its end: its memory counts
                while client.job(job["id"])["state"] not in ("done", "failed", "cancelled"):
                    time.sleep(0.2)
            took = time.perf_counter() - t
            after = peak_mib(client.pid)
            size = sum(os.path.getsize(p) for p in paths) / len(paths) / 1000
            print(
                f"{name:13s} upload {size:6.0f} KB  peak RSS {before:6.0f} -> {after:6.0f} MiB (+{after - before:5.0f})"
                f"  in {took:5.1f} s  answers: {sorted(set(answers))}"
            )


if __name__ == "__main__":
    main()
