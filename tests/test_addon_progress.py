"""What the artist reads while RealCam works and when it fails, in real Blender against a real backend."""

import os
import re

from helpers import REPORT, ROOT, SAMPLES, Server, blender_report, free_port


def _first(texts, pattern, after=-1):
    """Index of the first text (past `after`) that matches pattern; -1 when none."""
    for i, t in enumerate(texts):
        if i > after and re.search(pattern, t):
            return i
    return -1


def test_the_artist_reads_each_stage_in_order_and_errors_say_what_to_do(addon_zip, tiny_models, tmp_path):
    # Each engine stage lasts 2 s (tests/pace_stages), well over the add-on's 0.5 s poll even on a loaded machine:
    # real models take seconds to minutes per stage, the tiny ones half a second for a whole job.
    pace = {"PYTHONPATH": os.path.join(ROOT, "tests", "pace_stages"), "REALCAM_TEST_STAGE_SECONDS": "2"}
    depth = ("--depth-model-dir", f"tiny-depth={tiny_models['depth-anything']}")
    with Server(tmp_path / "data", tiny_models, *depth, env=pace) as srv:
        rep = blender_report(tmp_path, "addon_progress.py", addon_zip, srv.url, SAMPLES, REPORT, tmp_path, free_port())
    assert rep["deprecations"] == []

    # Import: depth from the backend (the photo's upload size named), then the shot.
    imp = rep["import"]
    assert imp["error"] is None and rep["shot_is_active"], imp
    texts = [x["text"] for x in imp["lines"]]
    depth = _first(texts, r"^Stage 1 of 2: Estimating depth: uploading the photo \(\d+\.\d MB\)")
    assert depth >= 0 and _first(texts, r"^Stage 2 of 2: Building the shot$", depth) > depth, texts

    # Generate: every stage the artist should see, in order, by its name.
    gen = rep["generate"]
    assert gen["error"] is None and gen["stage"] == "done", gen
    texts = [x["text"] for x in gen["lines"]]
    order = [
        r"^Stage 1 of 7: Rendering the preview: \d+ frames$",
        r"^Stage 2 of 7: Uploading the job \(\d+\.\d MB\)$",
        r"^Stage 4 of 7: Loading the model",
        r"^Stage 5 of 7: Generating: step [12] of 3, about \d+ s left$",  # the steps counted, with time left
        r"^Stage 6 of 7: Decoding the video$",
        r"^Stage 7 of 7: Downloading the take",
    ]
    at = -1
    for pattern in order:
        found = _first(texts, pattern, at)
        assert found > at, (pattern, texts)
        at = found
    # No raw backend word reaches the artist.
    assert not any(re.search(r"\b(denoise|encode|write)\b", t) for t in texts), texts
    # The panel drew the bar with those lines while the take ran, and so did the status bar.
    assert any(
        re.match(r"progress: Stage 5 of 7: Generating: step \d of 3, about \d+ s left$", t) for t in gen["panel"]
    )
    assert any(t == "progress: Stage 6 of 7: Decoding the video" for t in gen["panel"]), gen["panel"]
    assert any(t.startswith("progress: RealCam generate: Stage 5 of 7: Generating") for t in gen["status_bar"])
    assert "label: Generate: done" in gen["panel_after"]

    # Behind another job: queued with its position, then the same stages.
    q = rep["queued"]
    assert q["error"] is None and q["stage"] == "done" and q["blocker"] == "done", q
    texts = [x["text"] for x in q["lines"]]
    queued = _first(texts, r"^Stage 3 of 7: Waiting in the backend's queue: position 1$")
    assert queued >= 0 and _first(texts, r"^Stage 4 of 7: Loading the model", queued) > queued, texts
    assert any(t.startswith("progress: Stage 3 of 7: Waiting in the backend's queue") for t in q["panel"])

    # The backend is gone: the panel's error names it and the next step, in words, not an errno.
    down = rep["down"]
    assert down["result"] == ["FINISHED"] and down["error"], down  # the button returned; the task failed
    errors = [t for t in down["panel_after"] if t.startswith("label: ")]
    text = " ".join(t[len("label: ") :] for t in errors)
    assert "Generate stopped: no backend answers at http://127.0.0.1:" in text, down["panel_after"]
    assert "nothing is listening on port" in text and "Errno" not in text, text
    assert "start the backend (RealCam panel > Backend > Start) or check Preferences > Backend URL" in text, text
