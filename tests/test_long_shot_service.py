"""A long shot on a real backend server: window k of n in the job's progress, and a server killed mid-shot that
goes on from the window it was in when started again."""

import json
import os
import time

import numpy as np
import pytest
from helpers import Server, bundle_zip, wait_for_job
from PIL import Image

from realcam.generate.engine import Engine
from realcam.generate.job import RunOptions

WINDOW = 17


@pytest.mark.slow
def test_a_killed_backend_goes_on_from_the_window_it_was_in(tmp_path, tiny_models):
    archive = bundle_zip(tmp_path, "long", steps=2, n=50)  # 50 frames: 4 windows of at most 17
    srv = Server(tmp_path / "data", tiny_models, "--window-frames", str(WINDOW))
    seen = []
    try:
        job = srv.client.submit(archive)
        deadline = time.time() + 600
        while time.time() < deadline:  # until window 3 of 4 runs: windows 1 and 2 are finished and kept
            progress = srv.client.job(job["id"])["progress"]
            if progress.get("window"):
                seen.append((progress["window"], progress["windows"]))
            if progress.get("window", 0) >= 3 and progress.get("stage") == "denoise":
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the job never reached window 3: {seen}")
        srv.kill9()  # mid-window, between two steps or inside one: no clean shutdown
    finally:
        srv.stop()
    assert (1, 4) in seen and all(n == 4 for _, n in seen)
    kept = sorted(n for n in os.listdir(tmp_path / "data" / "jobs" / job["id"] / "windows") if n != "store.json")
    assert kept[:2] == ["0000", "0001"]

    srv = Server(tmp_path / "data", tiny_models, "--window-frames", str(WINDOW))
    try:
        done = wait_for_job(srv.client, job["id"], timeout=900)
        assert done["state"] == "done" and done["attempts"] == 2, done
        srv.client.download(job["id"], "result", str(tmp_path / "result.json"))
        srv.client.download(job["id"], "frames", str(tmp_path / "frames.zip"))
    finally:
        srv.stop()
    result = json.loads((tmp_path / "result.json").read_text())
    w = result["windows"]
    assert w["count"] == 4 and w["reused"] == [int(k) for k in kept] and len(w["reused"]) >= 2
    assert [x["reused"] for x in w["list"]] == [x["index"] in w["reused"] for x in w["list"]]
    assert not os.path.exists(tmp_path / "data" / "jobs" / job["id"] / "windows")  # cleared once the take is written

    # The same frames as a run that was never stopped.
    import zipfile

    with zipfile.ZipFile(tmp_path / "frames.zip") as z:
        names = sorted(n for n in z.namelist() if n.endswith(".png"))
        resumed = np.stack([np.asarray(Image.open(z.open(n)).convert("RGB")) for n in names])
    from realcam_core.bundle import unpack_bundle

    unpack_bundle(archive, str(tmp_path / "bundle"))
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    manifest["settings"]["model"] = tiny_models["wan22-ti2v"]  # the server's name "tiny", for the engine here
    (tmp_path / "bundle" / "manifest.json").write_text(json.dumps(manifest))
    Engine().run(tmp_path / "bundle", tmp_path / "fresh", RunOptions(window_frames=WINDOW))
    fresh = np.stack(
        [
            np.asarray(Image.open(tmp_path / "fresh" / "frames" / n))
            for n in sorted(os.listdir(tmp_path / "fresh/frames"))
        ]
    )
    assert resumed.shape == fresh.shape == (50, 64, 64, 3)
    assert np.array_equal(resumed, fresh)
